// Experiments (trials sortable by the metric, the best, all learning curves
// on one chart, a parameter against the metric, stop) and deployments
// (replicas, load and latency over time, scaling events).
import { api, h, fmt, table, renderInto, stateBadge, errorBox, confirmButton } from './ui.js';
import { timeChart, curveChart, scatterChart, palette } from './charts.js';

export async function experimentsPage(view) {
  const body = h('div');
  view.append(h('h1', {}, 'Experiments'), body);
  return {
    async refresh() {
      const { experiments } = await api('/api/v1/experiments');
      renderInto(body, experiments, () => table([
        { label: 'ID', num: true, get: (e) => h('a', { href: `#/experiments/${e.id}` }, `${e.id}`) },
        { label: 'Name', get: (e) => e.name },
        { label: 'Consumer', get: (e) => e.consumer },
        { label: 'User', get: (e) => e.user },
        { label: 'State', get: (e) => stateBadge(e.state) },
        { label: 'Search', get: (e) => `${e.algorithm}${e.early_stopping && e.early_stopping !== 'none' ? ` + ${e.early_stopping}` : ''}` },
        { label: 'Trials', num: true, get: (e) => `${e.trials_started} / ${e.max_trials} (${e.trials_running} running)` },
        { label: 'Best', num: true, get: (e) => (e.best ? `${fmt.num(e.best.value, 4)} (trial ${e.best.trial})` : '—') },
        { label: 'Created', get: (e) => fmt.time(e.created) },
      ], [...experiments].reverse(), { empty: 'No experiment yet: `drover exp submit -f exp.yaml` starts one.' }));
    },
  };
}

export async function experimentPage(view, [id]) {
  const head = h('div');
  const err = errorBox();
  const actions = h('div', { class: 'row' });
  const trials = h('div');
  const curves = curveChart('Learning curves of all trials', { height: 280, xLabel: 'resource (epoch)' });
  const paramSel = h('select', { id: 'param' });
  const scatter = scatterChart('Parameter against the metric', { height: 280 });
  view.append(head, err, actions, h('h2', {}, 'Trials'), trials, h('h2', {}, 'Curves and parameters'),
    h('div', { class: 'grid2' }, curves.el, h('div', {}, h('div', { class: 'row' }, h('label', { for: 'param' }, 'Parameter', paramSel)), scatter.el)));
  let sort = { key: 'best', dir: 0 };  // dir 0: the goal's order
  let last = null;
  const draw = () => {
    const e = last;
    const better = e.goal === 'maximize' ? -1 : 1;
    const val = (t) => t[sort.key] ?? null;
    const rows = [...e.trials].sort((a, b) => {
      const x = val(a);
      const y = val(b);
      if (x === null || y === null) return (x === null) - (y === null);
      const d = typeof x === 'string' ? x.localeCompare(y) : x - y;
      return sort.dir ? d * sort.dir : d * better;
    });
    const header = (label, key) => h('button', {
      type: 'button', class: 'sort', 'aria-label': `Sort by ${label}`,
      onclick: () => { sort = { key, dir: sort.key === key ? (sort.dir === 1 ? -1 : 1) : 0 }; trials.dataset.key = ''; draw(); },
    }, label, sort.key === key ? (sort.dir === -1 ? ' ▼' : sort.dir === 1 ? ' ▲' : ' ●') : '');
    const names = e.parameters.map((p) => p.name);
    renderInto(trials, [e.trials, sort], () => table([
      { label: 'Trial', num: true, get: (t) => t.index },
      { label: 'Job', num: true, get: (t) => h('a', { href: `#/jobs/${t.job}` }, `${t.job}`) },
      { label: 'State', get: (t) => [stateBadge(t.state), t.pending_reason ? h('div', { class: 'reason' }, t.pending_reason) : null, t.reason ? h('div', { class: 'reason' }, t.reason) : null] },
      ...names.map((n) => ({ label: n, get: (t) => t.params[n] })),
      { label: 'best', header: header(`best ${e.metric}`, 'best'), num: true, get: (t) => fmt.num(t.best, 4) },
      { label: 'latest', header: header(`latest ${e.metric}`, 'latest'), num: true, get: (t) => fmt.num(t.latest, 4) },
      { label: 'reports', header: header('reports', 'reports'), num: true, get: (t) => t.reports },
    ], rows, { rowClass: (t) => (e.best && t.index === e.best.trial ? 'best' : null), empty: 'No trial started yet.' }));
  };
  const drawScatter = () => {
    const e = last;
    const p = e.parameters.find((x) => x.name === paramSel.value) || e.parameters[0];
    if (!p) return;
    const cats = [...new Set(e.trials.map((t) => t.params[p.name]))];
    const numeric = cats.every((c) => c !== '' && !Number.isNaN(Number(c)));
    scatter.update(e.trials.map((t) => [numeric ? Number(t.params[p.name]) : cats.indexOf(t.params[p.name]), t.best ?? null]),
      { xLabel: numeric ? p.name : `${p.name} (${cats.join(', ')})`, log: p.type === 'log' });
  };
  paramSel.addEventListener('change', drawScatter);
  return {
    async refresh() {
      const e = await api(`/api/v1/experiments/${id}/trials`);
      last = e;
      renderInto(head, [e.name, e.state, e.reason, e.best, e.trials_started, e.trials_running], () => [
        h('h1', {}, `Experiment ${e.id}: ${e.name} `, stateBadge(e.state)),
        h('p', {}, `${e.consumer} · ${e.user} · ${e.algorithm}${e.early_stopping && e.early_stopping !== 'none' ? ` with ${e.early_stopping}` : ''} · `
          + `${e.goal} ${e.metric} · ${e.trials_started} of ${e.max_trials} trials started, ${e.trials_running} running`),
        e.best ? h('p', { id: 'best' }, h('strong', {}, 'Best: '), `trial ${e.best.trial}, ${e.metric} ${fmt.num(e.best.value, 4)} (`,
          Object.entries(e.trials[e.best.trial].params).map(([k, v]) => `${k}=${v}`).join(', '), ')') : h('p', { class: 'muted' }, 'No trial has reported yet.'),
        e.reason ? h('p', { class: 'reason' }, e.reason) : null,
      ]);
      if (e.state === 'RUNNING' && !actions.childElementCount) {
        actions.append(confirmButton('Stop experiment', `Stop experiment ${e.id}? Its running trials are cancelled.`, 'Yes, stop it', async () => {
          try { await api(`/api/v1/experiments/${id}/stop`, { method: 'POST' }); actions.replaceChildren(); } catch (x) { err.textContent = x.message; }
        }));
      } else if (e.state !== 'RUNNING') actions.replaceChildren();
      if (paramSel.options.length !== e.parameters.length) {
        paramSel.replaceChildren(...e.parameters.map((p) => h('option', { value: p.name }, p.name)));
      }
      draw();
      curves.update(e.trials.filter((t) => t.curve && t.curve.length).map((t) => ({
        label: `trial ${t.index}`, points: t.curve, width: e.best && t.index === e.best.trial ? 3 : 1.5,
      })));
      drawScatter();
    },
  };
}

// -- deployments ---------------------------------------------------------------------
export async function deploymentsPage(view) {
  const body = h('div');
  view.append(h('h1', {}, 'Deployments'), body);
  return {
    async refresh() {
      const { deployments } = await api('/api/v1/deployments');
      renderInto(body, deployments, () => table([
        { label: 'Name', get: (d) => h('a', { href: `#/deployments/${d.name}` }, d.name) },
        { label: 'Consumer', get: (d) => d.consumer },
        { label: 'State', get: (d) => stateBadge(d.state) },
        { label: 'Replicas', num: true, get: (d) => `${d.replicas.ready} ready / ${d.replicas.desired} wanted (${d.replicas.min}..${d.replicas.max})` },
        { label: 'Req/s', num: true, get: (d) => fmt.num(d.requests_per_s, 1) },
        { label: 'p50', num: true, get: (d) => (d.p50_ms === null ? '—' : `${fmt.num(d.p50_ms, 1)} ms`) },
        { label: 'p99', num: true, get: (d) => (d.p99_ms === null ? '—' : `${fmt.num(d.p99_ms, 1)} ms`) },
        { label: 'In flight', num: true, get: (d) => d.in_flight },
        { label: 'URL', get: (d) => h('code', {}, d.url) },
      ], deployments, { empty: 'No deployment yet: `drover deploy -f model.yaml` creates one.' }));
    },
  };
}

export async function deploymentPage(view, [name]) {
  const head = h('div');
  const replicas = h('div');
  const events = h('div');
  const reps = timeChart('Replicas', {
    series: [{ key: 'replicas', label: 'ready', step: true, fill: '#1f5fbf22' }], lines: [{ key: 'desired', label: 'wanted', color: '#868e96', dash: [6, 4] }], yLabel: 'replicas', height: 180,
  });
  const rate = timeChart('Requests per second (over the last minute)', { series: [{ key: 'requests_per_s', label: 'req/s', color: palette[2] }], yLabel: 'req/s', height: 180 });
  const lat = timeChart('Latency', { series: [{ key: 'p50_ms', label: 'p50', color: palette[0] }, { key: 'p99_ms', label: 'p99', color: palette[1] }], yLabel: 'ms', height: 180 });
  const queue = timeChart('Queue', { series: [{ key: 'in_flight', label: 'in flight', color: palette[3] }, { key: 'queued', label: 'held for a replica', color: palette[4] }], yLabel: 'requests', height: 180 });
  view.append(head, h('div', { class: 'grid2' }, reps.el, rate.el, lat.el, queue.el),
    h('h2', {}, 'Scaling events'), events, h('h2', {}, 'Replicas now'), replicas);
  const from = Math.floor(Date.now() / 1000 - 3600);
  return {
    async refresh() {
      const [d, hist] = await Promise.all([api(`/api/v1/deployments/${name}`), api(`/api/v1/deployments/${name}/history?since=${from}`)]);
      renderInto(head, [d.state, d.reason, d.replicas, d.pending_reason, d.url], () => [
        h('h1', {}, `Deployment ${d.name} `, stateBadge(d.state)),
        h('p', {}, `${d.consumer} · ${d.owner} · model ${d.model} · replicas ${d.replicas.min}..${d.replicas.max}, ${d.replicas.ready} ready · `, h('code', {}, d.url)),
        d.pending_reason ? h('p', { class: 'reason' }, `Waiting: ${d.pending_reason}`) : null,
        d.reason ? h('p', { class: 'reason' }, d.reason) : null,
      ]);
      for (const c of [reps, rate, lat, queue]) c.update(hist.points);
      renderInto(events, d.events, () => table([
        { label: 'When', get: (e) => fmt.time(e.time) },
        { label: 'Replicas', get: (e) => `${e.from} → ${e.to}` },
        { label: 'Why', get: (e) => e.reason },
      ], [...d.events].reverse(), { empty: 'No scaling yet.' }));
      renderInto(replicas, d.replica_list, () => table([
        { label: 'Rank', num: true, get: (r) => r.rank },
        { label: 'Host', get: (r) => r.host },
        { label: 'State', get: (r) => r.state },
        { label: 'Ready', get: (r) => (r.ready ? 'yes' : 'no') },
        { label: 'Address', get: (r) => (r.port ? `${r.address}:${r.port}` : '—') },
      ], d.replica_list, { empty: 'No replica runs (scaled to zero until a request comes).' }));
    },
  };
}
