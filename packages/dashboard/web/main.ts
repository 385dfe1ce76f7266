// The dashboard page: one EventSource on `events` (relative: the page is served at / by
// `synkti dashboard` and at /dashboard/ by every agent), each `snapshot` event re-renders the
// page. Everything is built with textContent (never innerHTML), so fleet data cannot
// inject markup.
import type { DashboardAutoscalePool, DashboardNode, DashboardSnapshot, PipelineStats, TimelineEvent } from '../src/snapshot.ts';

const $ = <T extends HTMLElement | SVGElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
};

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { text?: string; className?: string; attrs?: Record<string, string> } = {},
  ...children: Node[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.text !== undefined) node.textContent = props.text;
  if (props.className) node.className = props.className;
  for (const [k, v] of Object.entries(props.attrs ?? {})) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

function duration(ms: number | undefined): string {
  if (ms === undefined) return '–';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
}

function clock(at: number): string {
  return new Date(at).toLocaleTimeString([], { hour12: false });
}

function fixed(value: number | undefined, digits: number, suffix = ''): string {
  return value === undefined ? '–' : `${value.toFixed(digits)}${suffix}`;
}

function renderNodes(nodes: DashboardNode[], now: number): void {
  const rows = nodes.map((n) => {
    const notes = el('td');
    if (n.noticeDeadline !== undefined)
      notes.append(el('span', { className: 'note', text: `notice: reclaimed in ${duration(Math.max(0, n.noticeDeadline - now))}` }));
    if (n.replaces) notes.append(el('span', { className: 'note replaces', text: ` replaces ${n.replaces}` }));
    return el(
      'tr',
      { attrs: { 'data-testid': 'node', 'data-node-id': n.id, 'data-state': n.state } },
      el('td', { className: 'id', text: n.id }),
      el('td', { text: n.role }),
      el('td', { text: n.zone }),
      el('td', {}, el('span', { className: `badge s-${n.state}`, text: n.state })),
      el('td', { text: n.load === undefined ? '–' : String(n.load) }),
      el('td', { text: duration(n.uptimeMs) }),
      el('td', { text: `${n.lifecycle === 'spot' ? 'spot' : 'on-demand'} ${n.instanceType}` }),
      notes,
    );
  });
  if (rows.length === 0)
    rows.push(
      el('tr', {}, el('td', { className: 'muted', text: 'no nodes running (start some with `synkti up`)', attrs: { colspan: '8' } })),
    );
  $('nodes').replaceChildren(...rows);
}

function renderTimeline(events: TimelineEvent[]): void {
  const items = [...events]
    .reverse()
    .map((e) =>
      el(
        'li',
        { attrs: { 'data-testid': 'timeline-event', 'data-kind': e.kind, 'data-node': e.node } },
        el('time', { text: clock(e.at) }),
        el('span', {}, el('span', { className: `badge k-${e.kind}`, text: e.kind })),
        el('span', { text: e.text }),
      ),
    );
  $('timeline').replaceChildren(...items);
}

function renderSpark(series: { rps: number }[]): void {
  const svg = $<SVGSVGElement>('spark');
  const max = Math.max(1, ...series.map((p) => p.rps));
  const points = series.map((p, i) => `${(i / Math.max(1, series.length - 1)) * 120},${28 - (p.rps / max) * 26 - 1}`).join(' ');
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  line.setAttribute('points', points);
  svg.replaceChildren(line);
}

function renderPipelines(p: PipelineStats | undefined): void {
  $('pipeline-tile').hidden = p === undefined;
  if (!p) return;
  $('pipeline-running').textContent = `${p.jobs.running} running`;
  const hours = Math.round(p.windowMs / 3_600_000);
  const states = (['done', 'failed', 'cancelled'] as const).map((state) =>
    el('span', {
      className: `pl pl-${state}`,
      text: `${p.jobs[state]} ${state}`,
      attrs: { 'data-testid': 'pipeline-state', 'data-state': state, 'data-count': String(p.jobs[state]) },
    }),
  );
  const sub = $('pipeline-states');
  sub.replaceChildren(
    ...states.flatMap((span, i) => (i === 0 ? [span] : [document.createTextNode(' · '), span])),
    document.createTextNode(` (last ${hours} h)`),
  );
  $('pipeline-running').dataset.count = String(p.jobs.running);
  $('pipeline-tasks').textContent = `tasks: ${p.tasks.ready} ready · ${p.tasks.running} running · ${p.tasks.pending} waiting`;
}

/** Autoscaled pools: live/desired replicas, the bounds, and the last scale action with its reason. */
function renderAutoscale(pools: DashboardAutoscalePool[] | undefined, now: number): void {
  const tile = $('autoscale-tile');
  tile.hidden = !pools || pools.length === 0;
  if (!pools || pools.length === 0) return;
  $('autoscale').textContent = pools.map((p) => `${p.current}/${p.desired}`).join(' · ');
  $('autoscale-sub').textContent = pools
    .map((p) => {
      const last = p.last
        ? `; last ${p.last.action} ${p.last.from}→${p.last.desired} ${duration(now - p.last.at)} ago (${p.last.reason})`
        : '; no action yet';
      return `${p.pool} ${p.min}..${p.max}${last}`;
    })
    .join(' · ');
}

function render(s: DashboardSnapshot): void {
  $('cluster').textContent = s.cluster;
  $('provider').textContent = `provider: ${s.provider}`;
  $('updated').textContent = `updated ${clock(s.at)}`;
  document.title = `Synkti · ${s.cluster}`;
  const warnings = $('warnings');
  warnings.hidden = s.warnings.length === 0;
  warnings.textContent = s.warnings.join(' · ');

  const ready = s.nodes.filter((n) => n.state === 'ready').length;
  $('node-count').textContent = `${ready}/${s.nodes.length}`;
  $('node-count').dataset.ready = String(ready);
  $('node-count').dataset.total = String(s.nodes.length);
  const draining = s.nodes.filter((n) => n.state === 'draining').length;
  $('node-sub').textContent = [`${s.nodes.filter((n) => n.lifecycle === 'spot').length} spot`, draining ? `${draining} draining` : '']
    .filter(Boolean)
    .join(' · ');

  const t = s.traffic;
  $('rps').textContent = fixed(t.requestsPerSecond, 1);
  $('errors').textContent = t.errorRate === undefined ? '–' : `${(t.errorRate * 100).toFixed(2)}%`;
  $('errors').style.color = t.errorRate !== undefined && t.errorRate > 0.01 ? 'var(--bad)' : '';
  $('p99').textContent =
    t.p99Seconds === undefined ? '–' : t.p99Seconds < 1 ? `${Math.round(t.p99Seconds * 1000)} ms` : `${t.p99Seconds.toFixed(2)} s`;
  $('routers').textContent = `${t.routers} router(s)`;
  $('window').textContent = `last ${Math.round(t.windowMs / 1000)} s`;
  renderSpark(t.series);

  $('cost').textContent = `$${s.cost.usdPerHour.toFixed(3)}/h`;
  $('cost-sub').textContent =
    s.cost.onDemandUsdPerHour > 0
      ? `on-demand $${s.cost.onDemandUsdPerHour.toFixed(3)}/h · saving ${(s.cost.savings * 100).toFixed(0)}%`
      : 'nothing priced';
  $('price-note').textContent =
    `Prices: ${s.cost.priceNote}${s.cost.unpriced.length ? `; not priced: ${s.cost.unpriced.join(', ')}` : ''}. Spot prices move; read the cost rate as an indication.`;

  const b = s.batch;
  $('batch-tile').hidden = b === undefined;
  if (b) {
    $('batch-run').textContent = b.run;
    $('batch').textContent = `${b.queueDepth ?? '–'} queued`;
    $('batch-sub').textContent =
      `${b.queueInFlight ?? '–'} in flight · ${b.queueDeadLettered ?? '–'} dead-lettered · gen ${b.generation ?? '–'}`;
  }
  renderPipelines(s.pipelines);
  renderAutoscale(s.autoscale, s.at);
  renderNodes(s.nodes, s.at);
  renderTimeline(s.timeline);
}

function connect(): void {
  const conn = $('connection');
  const source = new EventSource('events');
  source.addEventListener('open', () => {
    conn.textContent = 'live';
    conn.className = 'conn conn-live';
  });
  source.addEventListener('error', () => {
    // EventSource reconnects by itself (the server sets `retry`); a 401 closes it for good.
    conn.textContent = source.readyState === EventSource.CLOSED ? 'disconnected: reload to sign in again' : 'reconnecting…';
    conn.className = 'conn conn-wait';
  });
  source.addEventListener('snapshot', (event) => {
    render(JSON.parse((event as MessageEvent<string>).data) as DashboardSnapshot);
  });
}

connect();
