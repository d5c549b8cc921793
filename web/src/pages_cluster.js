// The cluster's pages: the overview (hosts, GPU slots, jobs, utilisation over
// time) and the consumers (the plan's tree with what each holds, GPUs per
// consumer over time against the plan, and for admins the plan editor).
import { api, h, fmt, table, renderInto, stateBadge, session } from './ui.js';
import { timeChart, palette } from './charts.js';

const HOUR = 3600;
const since = (s = HOUR) => Math.floor(Date.now() / 1000 - s);

function card(label, value, detail) {
  return h('div', { class: 'card' }, h('div', { class: 'v' }, value), h('div', { class: 'k' }, label), detail ? h('div', { class: 'reason' }, detail) : null);
}

function bar(used, total) {
  const pct = total ? Math.round((100 * used) / total) : 0;
  return h('span', { class: 'bar', role: 'img', 'aria-label': `${used} of ${total} used` }, h('span', { style: `width:${pct}%` }));
}

export async function overviewPage(view) {
  const cards = h('div', { class: 'cards', 'aria-live': 'polite' });
  const hosts = h('div');
  const util = timeChart('GPU slots in use', {
    series: [{ key: 'gpus_used', label: 'used', fill: '#1f5fbf22' }], lines: [{ key: 'gpus', label: 'slots on hosts up', color: '#868e96', dash: [6, 4] }], yLabel: 'GPUs',
  });
  const jobs = timeChart('Jobs', {
    series: [{ key: 'jobs_running', label: 'running', color: palette[2], step: true }, { key: 'jobs_pending', label: 'pending', color: palette[1], step: true }], yLabel: 'jobs',
  });
  view.append(h('h1', {}, 'Cluster overview'), cards, h('h2', {}, 'Over the last hour'), h('div', { class: 'grid2' }, util.el, jobs.el),
    h('h2', {}, 'Hosts'), hosts);
  return {
    async refresh() {
      const [hs, running, pending, hist] = await Promise.all([
        api('/api/v1/hosts'), api('/api/v1/jobs?state=running&limit=1'), api('/api/v1/jobs?state=pending&limit=1'),
        api(`/api/v1/history/cluster?since=${since()}`)]);
      const up = hs.hosts.filter((x) => x.state === 'up');
      const total = up.reduce((a, x) => a + x.capacity.gpus, 0);
      const used = up.reduce((a, x) => a + x.gpus_used, 0);
      renderInto(cards, [hs, running.total, pending.total], () => [
        card('hosts up', `${up.length}`, hs.hosts.length - up.length ? `${hs.hosts.length - up.length} down` : 'none down'),
        card('GPU slots used', `${used} / ${total}`, `${total - used} free`),
        card('jobs running', `${running.total}`),
        card('jobs pending', `${pending.total}`, pending.total ? h('a', { href: '#/jobs?state=pending' }, 'why?') : null),
      ]);
      renderInto(hosts, hs, () => table([
        { label: 'Host', get: (x) => x.name },
        { label: 'State', get: (x) => [stateBadge(x.state), x.drained ? ' drained' : '', x.in_doubt ? ` (${x.in_doubt})` : ''] },
        { label: 'GPU slots', get: (x) => [bar(x.gpus_used, x.capacity.gpus), ` ${x.gpus_used} used, ${x.capacity.gpus - x.gpus_used} free`] },
        { label: 'CPUs', num: true, get: (x) => x.capacity.cpus },
        { label: 'Memory', num: true, get: (x) => `${Math.round(x.capacity.memory_mib / 1024)} GiB` },
        { label: 'Last seen', get: (x) => fmt.time(x.last_seen) },
      ], hs.hosts, { empty: 'No host has joined yet: start `drover agent` on one.' }));
      util.update(hist.points);
      jobs.update(hist.points);
    },
  };
}

// -- consumers ---------------------------------------------------------------------
function depth(path) { return path === '/' ? 0 : path.split('/').length - 1; }

export async function consumersPage(view) {
  const tree = h('div');
  const chart = h('div');
  let stacked = null;
  let shown = '';
  const admin = session.who.role === 'admin';
  view.append(h('h1', {}, 'Consumers'),
    h('p', { class: 'muted' }, 'Owned GPUs are guaranteed; entitlement is what the plan gives a consumer now (owned plus its share of what is idle); borrowed and lent are GPUs beyond or below it.'),
    tree, h('h2', {}, 'GPUs per consumer over the last hour, against the plan'), chart);
  if (admin) view.append(planEditor());
  return {
    async refresh() {
      const [cs, hist] = await Promise.all([api('/api/v1/consumers'), api(`/api/v1/history/consumers?since=${since()}`)]);
      renderInto(tree, cs, () => table([
        { label: 'Consumer', get: (c) => h('span', { style: `padding-left:${depth(c.path) * 1.2}em` }, c.path) },
        { label: 'Owned', num: true, get: (c) => c.owned },
        { label: 'Share', num: true, get: (c) => fmt.num(c.share) },
        { label: 'Entitled', num: true, get: (c) => fmt.num(c.entitlement) },
        { label: 'Allocated', num: true, get: (c) => c.allocated },
        { label: 'Borrowed', num: true, get: (c) => c.borrowed },
        { label: 'Lent', num: true, get: (c) => c.lent },
        { label: 'Pending', num: true, get: (c) => c.pending },
        { label: 'Demand', num: true, get: (c) => c.demand },
        { label: 'Runs as', get: (c) => c.run_as || '—' },
      ], cs.consumers));
      // The leaves of the tree (where jobs run), stacked; each one's entitlement dashed.
      const paths = cs.consumers.map((c) => c.path);
      const top = paths.filter((p) => p !== '/' && !paths.some((q) => q.startsWith(`${p}/`)));
      if (top.join() !== shown) {
        shown = top.join();
        stacked = timeChart('Allocated GPUs (stacked) and entitlement (dashed)', {
          stacked: true, height: 260, yLabel: 'GPUs',
          series: top.map((p, i) => ({ key: `allocated:${p}`, label: `${p} allocated`, color: palette[i % palette.length] })),
          lines: top.map((p, i) => ({ key: `entitlement:${p}`, label: `${p} entitled`, color: palette[i % palette.length], dash: [6, 4] })),
        });
        chart.replaceChildren(stacked.el);
      }
      stacked.update(hist.points);
    },
  };
}

// The plan as YAML, checked by the server (PUT /plan?dry_run=1) before it is
// applied; an error is shown at its line (the server names it: plan.yaml:LINE: ...).
function planEditor() {
  const area = h('textarea', { id: 'plan-yaml', 'aria-describedby': 'plan-status', spellcheck: 'false', rows: 18 });
  const gutter = h('div', { class: 'gutter', 'aria-hidden': 'true' });
  const status = h('div', { id: 'plan-status', role: 'status', 'aria-live': 'polite' });
  const lines = (bad) => {
    const n = area.value.split('\n').length;
    gutter.replaceChildren(...Array.from({ length: n }, (_, i) => [i + 1 === bad ? h('span', { class: 'bad' }, String(i + 1)) : String(i + 1), '\n']).flat());
  };
  const clear = () => { area.removeAttribute('aria-invalid'); lines(0); };
  const showError = (e) => {
    const m = /^[^:]*:(\d+): (.*)$/s.exec(e.message);
    area.setAttribute('aria-invalid', 'true');
    if (m) {
      const line = Number(m[1]);
      lines(line);
      const starts = area.value.split('\n').slice(0, line - 1).reduce((a, l) => a + l.length + 1, 0);
      area.focus();
      area.setSelectionRange(starts, starts + (area.value.split('\n')[line - 1] || '').length);
      status.replaceChildren(h('p', { class: 'error', role: 'alert' }, h('strong', {}, `Line ${line}: `), m[2]));
    } else {
      lines(0);
      status.replaceChildren(h('p', { class: 'error', role: 'alert' }, e.message));
    }
  };
  const send = async (apply) => {
    clear();
    try {
      const checked = await api('/api/v1/plan?dry_run=1', { method: 'PUT', body: area.value });
      if (!apply) {
        status.replaceChildren(h('p', { class: 'ok' }, `Valid: ${checked.consumers} consumers.`), ...checked.warnings.map((w) => h('p', { class: 'reason' }, `Warning: ${w}`)));
        return;
      }
      const done = await api('/api/v1/plan', { method: 'PUT', body: area.value });
      status.replaceChildren(h('p', { class: 'ok' }, `Applied: ${done.consumers} consumers.`), ...done.warnings.map((w) => h('p', { class: 'reason' }, `Warning: ${w}`)));
    } catch (e) {
      showError(e);
    }
  };
  area.addEventListener('input', () => lines(0));
  api('/api/v1/plan').then((p) => { area.value = p.yaml; lines(0); });
  return h('section', { 'aria-labelledby': 'plan-title' },
    h('h2', { id: 'plan-title' }, 'Resource plan'),
    h('p', { class: 'muted' }, 'Edit the plan; Validate asks the server to check it without changing anything, Apply checks it again and applies it.'),
    h('label', { for: 'plan-yaml', class: 'muted' }, 'Plan (YAML)'),
    h('div', { class: 'editor' }, gutter, area),
    h('div', { class: 'row' }, h('button', { type: 'button', onclick: () => send(false) }, 'Validate'),
      h('button', { type: 'button', class: 'primary', onclick: () => send(true) }, 'Apply plan')),
    status);
}
