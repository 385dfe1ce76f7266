import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applySqlitePragmas, isSqliteBusy, runImmediate } from './sqlite-open.ts';

test('pragmas: busy timeout, WAL retried while another opener holds the lock, then synchronous=NORMAL', () => {
  const sql: string[] = [];
  let busy = 2;
  applySqlitePragmas(
    {
      exec(s: string) {
        sql.push(s);
        if (s.includes('WAL') && busy-- > 0) throw Object.assign(new Error('locked'), { code: 'SQLITE_BUSY' });
      },
    },
    5000,
    () => 0,
  );
  assert.deepEqual(sql, [
    'PRAGMA busy_timeout = 5000',
    'PRAGMA journal_mode = WAL',
    'PRAGMA journal_mode = WAL',
    'PRAGMA journal_mode = WAL',
    'PRAGMA synchronous = NORMAL',
  ]);
});

test('pragmas: an error that is not busy is thrown at once', () => {
  assert.throws(
    () =>
      applySqlitePragmas(
        {
          exec(s: string) {
            if (s.includes('WAL')) throw Object.assign(new Error('disk I/O'), { code: 'SQLITE_IOERR' });
          },
        },
        1,
      ),
    /disk I\/O/,
  );
  assert.equal(isSqliteBusy({ code: 'SQLITE_LOCKED_SHAREDCACHE' }), true);
  assert.equal(isSqliteBusy(null), false);
});

test('runImmediate commits, rolls back on a throw, and joins a transaction already open', () => {
  const sql: string[] = [];
  const db = {
    inTransaction: false,
    exec(s: string) {
      sql.push(s);
      this.inTransaction = s === 'BEGIN IMMEDIATE';
    },
  };
  assert.equal(
    runImmediate(db, () => 1),
    1,
  );
  assert.throws(
    () =>
      runImmediate(db, () => {
        throw new Error('x');
      }),
    /x/,
  );
  db.inTransaction = true;
  assert.equal(
    runImmediate(db, () => 2),
    2,
  );
  assert.deepEqual(sql, ['BEGIN IMMEDIATE', 'COMMIT', 'BEGIN IMMEDIATE', 'ROLLBACK']);
});
