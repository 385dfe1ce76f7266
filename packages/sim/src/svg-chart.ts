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

const COLORS = { ready: '#1a7f37', onDemand: '#d4680f', spot: '#6e9bd1', target: '#888' };

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * One panel per policy, stacked, sharing the time axis (days): ready replicas (green), spot
 * instances held (blue) and on-demand instances (orange) as step lines, the target dashed.
 * Plain SVG that any browser opens.
 */
export function renderReplicaChart(series: readonly ChartSeries[], options: SvgChartOptions = {}): string {
  const width = options.width ?? 960;
  const panelHeight = options.panelHeight ?? 120;
  const left = 150;
  const right = 20;
  const top = 50;
  const gap = 28;
  const plotWidth = width - left - right;
  const height = top + series.length * (panelHeight + gap) + 30;
  const duration = Math.max(1, ...series.map((s) => s.durationMs));
  const days = duration / 86_400_000;
  const x = (t: number): number => left + (t / duration) * plotWidth;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${left}" y="20" font-size="15" font-weight="bold">${escapeXml(options.title ?? 'Replicas over time')}</text>`);
  const legend: [string, string][] = [['ready replicas', COLORS.ready], ['spot instances', COLORS.spot], ['on-demand instances', COLORS.onDemand], ['target', COLORS.target]];
  legend.forEach(([label, color], i) => {
    const lx = left + i * 170;
    out.push(`<line x1="${lx}" y1="36" x2="${lx + 20}" y2="36" stroke="${color}" stroke-width="2"${label === 'target' ? ' stroke-dasharray="4 3"' : ''}/><text x="${lx + 25}" y="40">${label}</text>`);
  });
  series.forEach((s, index) => {
    const y0 = top + index * (panelHeight + gap);
    const maxY = Math.max(s.target + 1, ...s.timeline.map((p) => Math.max(p.ready, p.spot, p.onDemand)));
    const y = (v: number): number => y0 + panelHeight - (v / maxY) * panelHeight;
    out.push(`<text x="${left - 10}" y="${y0 + panelHeight / 2}" text-anchor="end" font-weight="bold">${escapeXml(s.policy)}</text>`);
    out.push(`<rect x="${left}" y="${y0}" width="${plotWidth}" height="${panelHeight}" fill="none" stroke="#ddd"/>`);
    for (let v = 0; v <= maxY; v += Math.max(1, Math.ceil(maxY / 4))) {
      out.push(`<text x="${left - 4}" y="${y(v) + 4}" text-anchor="end" font-size="10" fill="#666">${v}</text>`);
    }
    out.push(`<line x1="${left}" y1="${y(s.target)}" x2="${left + plotWidth}" y2="${y(s.target)}" stroke="${COLORS.target}" stroke-dasharray="4 3"/>`);
    const step = (pick: (p: TimelinePoint) => number, color: string, widthPx: number): void => {
      if (s.timeline.length === 0) return;
      let d = '';
      let previous: number | undefined;
      for (const p of s.timeline) {
        const px = x(p.t).toFixed(1);
        const py = y(pick(p)).toFixed(1);
        d += previous === undefined ? `M${px},${py}` : `H${px}V${py}`;
        previous = pick(p);
      }
      d += `H${x(s.durationMs).toFixed(1)}`;
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="${widthPx}"/>`);
    };
    step((p) => p.spot, COLORS.spot, 1);
    step((p) => p.onDemand, COLORS.onDemand, 1.2);
    step((p) => p.ready, COLORS.ready, 1.5);
  });
  const axisY = top + series.length * (panelHeight + gap) - gap + 16;
  const tickEvery = days > 20 ? 5 : days > 5 ? 1 : days > 1 ? 0.25 : 1 / 24;
  for (let d = 0; d <= days + 1e-9; d += tickEvery) {
    out.push(`<text x="${x(d * 86_400_000).toFixed(1)}" y="${axisY}" text-anchor="middle" font-size="10" fill="#666">${Number(d.toFixed(2))}</text>`);
  }
  out.push(`<text x="${left + plotWidth / 2}" y="${axisY + 16}" text-anchor="middle">days since the start of the trace</text>`);
  out.push('</svg>');
  return out.join('\n');
}
