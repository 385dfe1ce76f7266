/**
 * An objective that does real work: it tunes the 6 weights of a one-move-lookahead
 * Connect Four player by playing games against a fixed hand-tuned player (half the games
 * each side starts). The score to minimise is 1 − the candidate's average points
 * (quicker wins earn more). About 15–40 ms per evaluation on one core.
 *
 * Deterministic (games are seeded from their index, not from the clock): the same
 * candidate always gets the same score, which is what lets a resumed run end exactly
 * like an uninterrupted one.
 *
 *   synkti batch cmaes --objective examples/connect-four-objective.ts --dim 6 --generations 30 --workers 4
 */

const ROWS = 6;
const COLS = 7;
const GAMES = 24;
/** Weights of the opponent: a sensible hand-made player. */
const BASELINE = [1, 4, 16, -4, -20, 0.5];

type Board = Int8Array; // ROWS*COLS, 0 empty, 1 / -1 players; row 0 is the bottom

/** Every line of four cells (horizontal, vertical, both diagonals), precomputed. */
const WINDOWS: number[][] = (() => {
  const out: number[][] = [];
  const dirs = [
    [0, 1],
    [1, 0],
    [1, 1],
    [1, -1],
  ];
  for (let r = 0; r < ROWS; r += 1) {
    for (let c = 0; c < COLS; c += 1) {
      for (const [dr, dc] of dirs) {
        const cells: number[] = [];
        for (let k = 0; k < 4; k += 1) {
          const rr = r + dr! * k;
          const cc = c + dc! * k;
          if (rr < 0 || rr >= ROWS || cc < 0 || cc >= COLS) break;
          cells.push(rr * COLS + cc);
        }
        if (cells.length === 4) out.push(cells);
      }
    }
  }
  return out;
})();

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function dropRow(board: Board, col: number): number {
  for (let r = 0; r < ROWS; r += 1) if (board[r * COLS + col] === 0) return r;
  return -1;
}

function winner(board: Board): number {
  for (const w of WINDOWS) {
    const s = board[w[0]!]! + board[w[1]!]! + board[w[2]!]! + board[w[3]!]!;
    if (s === 4) return 1;
    if (s === -4) return -1;
  }
  return 0;
}

/**
 * Features from `me`'s side: [centre pieces, my open twos, my open threes, their open
 * twos, their open threes, my pieces on odd rows (a classic zugzwang hint)].
 */
function score(board: Board, me: number, w: readonly number[]): number {
  let centre = 0;
  let oddRows = 0;
  for (let r = 0; r < ROWS; r += 1) {
    if (board[r * COLS + 3] === me) centre += 1;
    for (let c = 0; c < COLS; c += 1) if (board[r * COLS + c] === me && r % 2 === 0) oddRows += 1;
  }
  let my2 = 0;
  let my3 = 0;
  let their2 = 0;
  let their3 = 0;
  for (const win of WINDOWS) {
    let mine = 0;
    let theirs = 0;
    for (const cell of win) {
      const v = board[cell]!;
      if (v === me) mine += 1;
      else if (v === -me) theirs += 1;
    }
    if (theirs === 0) {
      if (mine === 2) my2 += 1;
      else if (mine === 3) my3 += 1;
    }
    if (mine === 0) {
      if (theirs === 2) their2 += 1;
      else if (theirs === 3) their3 += 1;
    }
  }
  return w[0]! * centre + w[1]! * my2 + w[2]! * my3 + w[3]! * their2 + w[4]! * their3 + w[5]! * oddRows;
}

/** One-move lookahead: win now if possible, else the move with the best weighted score (ties at random). */
function choose(board: Board, me: number, w: readonly number[], random: () => number): number {
  let best = -Infinity;
  let moves: number[] = [];
  for (let c = 0; c < COLS; c += 1) {
    const r = dropRow(board, c);
    if (r < 0) continue;
    board[r * COLS + c] = me;
    const value = winner(board) === me ? Infinity : score(board, me, w);
    board[r * COLS + c] = 0;
    if (value > best) {
      best = value;
      moves = [c];
    } else if (value === best) moves.push(c);
  }
  return moves[Math.floor(random() * moves.length)]!;
}

/** Who won (+1: `a`, -1: `b`, 0: draw) and after how many moves. */
function play(a: readonly number[], b: readonly number[], aStarts: boolean, random: () => number): { winner: number; moves: number } {
  const board: Board = new Int8Array(ROWS * COLS);
  let turn = aStarts ? 1 : -1;
  for (let move = 0; move < ROWS * COLS; move += 1) {
    const col = choose(board, turn, turn === 1 ? a : b, random);
    board[dropRow(board, col) * COLS + col] = turn;
    const won = winner(board);
    if (won !== 0) return { winner: won, moves: move + 1 };
    turn = -turn;
  }
  return { winner: 0, moves: ROWS * COLS };
}

/**
 * 1 − the candidate's average points against the baseline player (lower is better). A
 * win is worth 0.5 plus up to 0.5 more the quicker it comes, a draw 0.25, a loss 0; so
 * once the candidate wins every game, winning faster still improves the score.
 */
export default function connectFourScore(x: readonly number[]): number {
  if (x.length !== BASELINE.length) throw new Error(`expected ${BASELINE.length} weights (--dim ${BASELINE.length}), got ${x.length}`);
  let points = 0;
  for (let game = 0; game < GAMES; game += 1) {
    const { winner: won, moves } = play(x, BASELINE, game % 2 === 0, mulberry32(1000 + game));
    points += won === 1 ? 0.5 + 0.5 * (1 - moves / (ROWS * COLS)) : won === 0 ? 0.25 : 0;
  }
  return 1 - points / GAMES;
}
