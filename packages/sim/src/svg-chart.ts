import type { TimelinePoint } from './simulate.ts';

export interface ChartSeries {
  policy: string;
  target: number;
  durationMs: number;
  timeline: readonly TimelinePoint[];
}

export interface SvgChartOptions {
  /** Chart title. @default 'Replicas over time' */
  title?: string;
  /** Width in pixels. @default 960 */
  width?: number;
  /** Height of one policy's panel. @default 120 */
  panelHeight?: number;
}

const COLORS = { ready: '#0b4f1f', onDemand: '#e8892b', spot: '#6e9bd1', target: '#555' };

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * One panel per policy, sharing the time axis (days): instances held as stacked areas
 * (spot blue, on-demand orange), ready replicas as a dark green step line, the target dashed.
 * Plain SVG that any browser opens.
 */
export function renderReplicaChart(series: readonly ChartSeries[], options: SvgChartOptions = {}): string {
  const width = options.width ?? 960;
  const panelHeight = options.panelHeight ?? 120;
  const left = 170;
  const right = 20;
  const top = 50;
  const gap = 28;
  const plotWidth = width - left - right;
  const height = top + series.length * (panelHeight + gap) + 30;
  const duration = Math.max(1, ...series.map((s) => s.durationMs));
  const days = duration / 86_400_000;
  const x = (t: number): number => left + (t / duration) * plotWidth;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${left}" y="20" font-size="15" font-weight="bold">${escapeXml(options.title ?? 'Replicas over time')}</text>`);
  const legend: [string, string, boolean][] = [
    ['ready replicas', COLORS.ready, false],
    ['spot instances held', COLORS.spot, true],
    ['on-demand instances held', COLORS.onDemand, true],
    ['target', COLORS.target, false],
  ];
  legend.forEach(([label, color, filled], i) => {
    const lx = left + i * 200;
    out.push(
      filled
        ? `<rect x="${lx}" y="30" width="20" height="10" fill="${color}" fill-opacity="0.45"/><text x="${lx + 25}" y="40">${label}</text>`
        : `<line x1="${lx}" y1="36" x2="${lx + 20}" y2="36" stroke="${color}" stroke-width="2"${label === 'target' ? ' stroke-dasharray="4 3"' : ''}/><text x="${lx + 25}" y="40">${label}</text>`,
    );
  });
  series.forEach((s, index) => {
    const y0 = top + index * (panelHeight + gap);
    const maxY = Math.max(s.target + 1, ...s.timeline.map((p) => Math.max(p.ready, p.spot + p.onDemand)));
    const y = (v: number): number => y0 + panelHeight - (v / maxY) * panelHeight;
    out.push(`<text x="${left - 28}" y="${y0 + panelHeight / 2}" text-anchor="end" font-weight="bold">${escapeXml(s.policy)}</text>`);
    out.push(`<rect x="${left}" y="${y0}" width="${plotWidth}" height="${panelHeight}" fill="none" stroke="#ddd"/>`);
    for (let v = 0; v <= maxY; v += Math.max(1, Math.ceil(maxY / 4))) {
      out.push(`<text x="${left - 4}" y="${y(v) + 4}" text-anchor="end" font-size="10" fill="#666">${v}</text>`);
    }
    out.push(
      `<line x1="${left}" y1="${y(s.target)}" x2="${left + plotWidth}" y2="${y(s.target)}" stroke="${COLORS.target}" stroke-dasharray="4 3"/>`,
    );
    // Instances held, stacked (spot below, on-demand on top), with the ready line over them.
    const area = (lower: (p: TimelinePoint) => number, upper: (p: TimelinePoint) => number, color: string): void => {
      if (s.timeline.length === 0) return;
      const end = x(s.durationMs).toFixed(1);
      let top = '';
      let bottom = `V${y(lower(s.timeline[s.timeline.length - 1]!)).toFixed(1)}`;
      s.timeline.forEach((p, i) => {
        const px = x(p.t).toFixed(1);
        top += i === 0 ? `M${px},${y(upper(p)).toFixed(1)}` : `H${px}V${y(upper(p)).toFixed(1)}`;
      });
      top += `H${end}`;
      // Back along the lower edge, right to left: each point's level spans from its time to the next.
      for (let i = s.timeline.length - 1; i >= 0; i--) {
        const p = s.timeline[i]!;
        bottom += `V${y(lower(p)).toFixed(1)}H${x(p.t).toFixed(1)}`;
      }
      out.push(`<path d="${top}${bottom}Z" fill="${color}" fill-opacity="0.45" stroke="none"/>`);
    };
    area(
      () => 0,
      (p) => p.spot,
      COLORS.spot,
    );
    area(
      (p) => p.spot,
      (p) => p.spot + p.onDemand,
      COLORS.onDemand,
    );
    if (s.timeline.length > 0) {
      let d = '';
      s.timeline.forEach((p, i) => {
        const px = x(p.t).toFixed(1);
        d += i === 0 ? `M${px},${y(p.ready).toFixed(1)}` : `H${px}V${y(p.ready).toFixed(1)}`;
      });
      d += `H${x(s.durationMs).toFixed(1)}`;
      out.push(`<path d="${d}" fill="none" stroke="${COLORS.ready}" stroke-width="1.5"/>`);
    }
  });
  const axisY = top + series.length * (panelHeight + gap) - gap + 16;
  const tickEvery = days > 20 ? 5 : days > 5 ? 1 : days > 1 ? 0.25 : 1 / 24;
  for (let d = 0; d <= days + 1e-9; d += tickEvery) {
    out.push(
      `<text x="${x(d * 86_400_000).toFixed(1)}" y="${axisY}" text-anchor="middle" font-size="10" fill="#666">${Number(d.toFixed(2))}</text>`,
    );
  }
  out.push(`<text x="${left + plotWidth / 2}" y="${axisY + 16}" text-anchor="middle">days since the start of the trace</text>`);
  out.push('</svg>');
  return out.join('\n');
}
