// Jobs: a filtered table paged by the server (newest first), and a job's page
// with its workers, the timeline of its resizes, live curves, events, logs
// that follow, and cancel / change-bounds actions.
import { api, h, fmt, table, renderInto, stateBadge, errorBox, confirmButton, authHeaders } from './ui.js';
import { timeChart, palette } from './charts.js';

const PAGE = 50;
const STATES = ['', 'pending', 'starting', 'running', 'preempted', 'succeeded', 'failed', 'cancelled'];

function jobLink(j) { return h('a', { href: `#/jobs/${j.id}` }, `${j.id}`); }

export async function jobsPage(view, _match, params) {
  const f = {
    state: params.get('state') || '', consumer: params.get('consumer') || '', user: params.get('user') || '', before: params.get('before') || '',
  };
  const stateSel = h('select', { id: 'f-state' }, STATES.map((s) => h('option', { value: s, selected: s === f.state }, s ? s.toUpperCase() : 'any')));
  const consumer = h('input', { id: 'f-consumer', value: f.consumer, placeholder: '/research', size: 16 });
  const user = h('input', { id: 'f-user', value: f.user, placeholder: 'alice', size: 10 });
  const filters = h('form', { class: 'row', role: 'search', 'aria-label': 'Filter jobs' },
    h('label', { for: 'f-state' }, 'State', stateSel),
    h('label', { for: 'f-consumer' }, 'Consumer', consumer),
    h('label', { for: 'f-user' }, 'User', user),
    h('button', { type: 'submit' }, 'Filter'));
  const go = (extra = {}) => {
    const q = new URLSearchParams();
    const v = { state: stateSel.value, consumer: consumer.value.trim(), user: user.value.trim(), ...extra };
    for (const [k, x] of Object.entries(v)) if (x) q.set(k, x);
    location.hash = `#/jobs${q.toString() ? `?${q}` : ''}`;
  };
  filters.addEventListener('submit', (e) => { e.preventDefault(); go(); });
  const err = errorBox();
  const body = h('div');
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  view.append(h('h1', {}, 'Jobs'), filters, err, pager, body);
  const filterQuery = () => {
    const q = new URLSearchParams();
    for (const k of ['state', 'consumer', 'user']) if (f[k]) q.set(k, f[k]);
    return q;
  };
  // The page before this one (newer jobs): the PAGE matching jobs just above
  // this page's first, asked of the server oldest-first; their cursor is the
  // newest of them + 1 (none left above: the first page).
  const newer = async (first) => {
    const q = filterQuery();
    q.set('order', 'oldest');
    q.set('after', first);
    q.set('limit', PAGE);
    const up = await api(`/api/v1/jobs?${q}`);
    go({ before: up.next ? up.jobs[up.jobs.length - 1].id + 1 : '' });
  };
  return {
    async refresh() {
      const q = filterQuery();
      q.set('order', 'newest');
      q.set('limit', PAGE);
      if (f.before) q.set('before', f.before);
      let page;
      try {
        page = await api(`/api/v1/jobs?${q}`);
        err.textContent = '';
      } catch (e) {
        err.textContent = e.message;
        return;
      }
      renderInto(body, page.jobs, () => table([
        { label: 'ID', num: true, get: jobLink },
        { label: 'Name', get: (j) => j.name },
        { label: 'Consumer', get: (j) => j.consumer },
        { label: 'User', get: (j) => j.user },
        { label: 'State', get: (j) => stateBadge(j.state) },
        { label: 'Workers', num: true, get: (j) => `${j.world_size} (${j.workers.min}..${j.workers.max})` },
        { label: 'GPUs', num: true, get: (j) => j.gpus },
        { label: 'Step', num: true, get: (j) => fmt.num(j.step) },
        { label: 'Loss', num: true, get: (j) => fmt.num(j.loss, 4) },
        { label: 'Submitted', get: (j) => fmt.time(j.submit_time) },
        { label: 'Why', get: (j) => h('span', { class: 'reason' }, j.reason || '') },
      ], page.jobs, { empty: 'No job matches.' }));
      renderInto(pager, [page.total, page.next, f.before], () => [
        h('span', { class: 'muted' }, `${page.total.toLocaleString('en-US')} job${page.total === 1 ? '' : 's'}`),
        f.before && page.jobs.length ? h('button', { type: 'button', onclick: () => newer(page.jobs[0].id).catch((e) => { err.textContent = e.message; }) }, 'Newer') : null,
        page.next ? h('button', { type: 'button', onclick: () => go({ before: page.next }) }, 'Older') : null,
      ]);
    },
  };
}

// -- one job -------------------------------------------------------------------
export async function jobPage(view, [id]) {
  const head = h('div');
  const err = errorBox();
  const actions = h('div', { class: 'row' });
  const workers = h('div');
  const rescales = h('div');
  const events = h('div');
  const profile = h('div');
  const timeline = timeChart('Workers over time (each step is a resize)', {
    series: [{ key: 'workers', label: 'workers', step: true, fill: '#1f5fbf22' }], yLabel: 'workers', height: 180,
  });
  const loss = timeChart('Loss', { series: [{ key: 'loss', label: 'loss', color: palette[1] }], yLabel: 'loss' });
  const speed = timeChart('Samples per second', { series: [{ key: 'samples_per_s', label: 'samples/s', color: palette[2] }], yLabel: 'samples/s' });
  const logs = logView(id);
  view.append(head, err, actions,
    h('h2', {}, 'Timeline'), timeline.el, rescales,
    h('h2', {}, 'Training'), h('div', { class: 'grid2' }, loss.el, speed.el), profile,
    h('h2', {}, 'Workers'), workers, h('h2', {}, 'Events'), events, h('h2', {}, 'Logs'), logs.el);
  let built = '';
  const from = Math.floor(Date.now() / 1000 - 3600);  // fixed at the first read, so points stay put
  return {
    dispose: () => logs.stop(),
    async refresh() {
      const [j, hist] = await Promise.all([api(`/api/v1/jobs/${id}`), api(`/api/v1/jobs/${id}/history?since=${from}`)]);
      renderInto(head, [j.name, j.state, j.reason, j.world_size, j.step, j.loss, j.samples_per_s], () => [
        h('h1', {}, `Job ${j.id}: ${j.name} `, stateBadge(j.state)),
        h('p', {}, `${j.consumer} · ${j.user} · workers ${j.world_size} of ${j.workers.min}..${j.workers.max} · ${j.gpus} GPUs · submitted ${fmt.time(j.submit_time)}`
          + `${j.step !== null ? ` · step ${j.step}` : ''}${j.samples_per_s ? ` · ${fmt.num(j.samples_per_s, 1)} samples/s` : ''}`),
        j.reason && j.state !== 'RUNNING' ? h('p', { class: 'reason', id: 'job-reason' }, (['PENDING', 'PREEMPTED'].includes(j.state) ? 'Waiting: ' : '') + j.reason) : null,
      ]);
      const ended = ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(j.state);
      const sig = `${ended}|${j.workers.min}|${j.workers.max}`;
      if (sig !== built) {
        built = sig;
        actions.replaceChildren(...(ended ? [] : [boundsForm(j, err), confirmButton('Cancel job', `Cancel job ${j.id}? Its workers are stopped.`, 'Yes, cancel it', async () => {
          try { await api(`/api/v1/jobs/${id}/cancel`, { method: 'POST' }); } catch (e) { err.textContent = e.message; }
        })]));
      }
      // The timeline: the world size from the job's start through every resize to now (or its end).
      const pts = [];
      if (j.start_time) {
        pts.push({ time: j.start_time, workers: j.rescales.length ? j.rescales[0].from : j.world_size });
        for (const r of j.rescales) pts.push({ time: r.time, workers: r.to });
        pts.push({ time: j.end_time || Date.now() / 1000, workers: j.end_time ? 0 : j.world_size });
      }
      timeline.update(pts);
      renderInto(rescales, j.rescales, () => table([
        { label: 'When', get: (r) => fmt.time(r.time) },
        { label: 'Resize', get: (r) => `${r.from} → ${r.to}` },
        { label: 'Training paused', num: true, get: (r) => (r.pause_ms === null ? 'not reported' : `${fmt.num(r.pause_ms, 1)} ms`) },
      ], j.rescales, { empty: 'No resize yet.' }));
      loss.update(hist.points);
      speed.update(hist.points);
      renderInto(profile, j.profile, () => profileTable(j.profile));
      renderInto(workers, j.worker_list, () => table([
        { label: 'Rank', num: true, get: (w) => w.rank },
        { label: 'Host', get: (w) => w.host },
        { label: 'GPUs', get: (w) => w.gpus.join(', ') || '—' },
        { label: 'PID', num: true, get: (w) => w.pid || '—' },
        { label: 'State', get: (w) => w.state },
        { label: 'Generation', num: true, get: (w) => w.generation },
      ], j.worker_list, { empty: ended ? 'The job has ended.' : 'No worker placed yet.' }));
      renderInto(events, j.events, () => table([
        { label: 'When', get: (e) => fmt.time(e.time) },
        { label: 'Type', get: (e) => e.type },
        { label: 'What', get: (e) => e.message },
      ], [...j.events].reverse()));
      logs.workers(j.worker_list.map((w) => w.rank), ended);
    },
  };
}

function profileTable(p) {
  if (!p || !p.by_size || !p.by_size.length) return [];
  const seen = new Set(p.measured.map((m) => m.workers));
  return [h('h3', {}, `Learned speed profile (${seen.size} measured size${seen.size === 1 ? '' : 's'}, initial batch ${fmt.num(p.init_batch, 0)})`), table([
    { label: 'Workers', num: true, get: (r) => r.workers },
    { label: 'Batch', num: true, get: (r) => fmt.num(r.batch, 0) },
    { label: 'Samples/s', num: true, get: (r) => fmt.num(r.samples_per_s, 1) },
    { label: 'Goodput', num: true, get: (r) => fmt.num(r.goodput, 1) },
    { label: 'Speedup', num: true, get: (r) => `${fmt.num(r.speedup, 2)}×` },
    { label: '', get: (r) => (seen.has(r.workers) ? 'measured' : 'predicted') },
  ], p.by_size)];
}

function boundsForm(j, err) {
  const min = h('input', { id: 'b-min', type: 'number', min: 1, value: j.workers.min, size: 4 });
  const max = h('input', { id: 'b-max', type: 'number', min: 1, value: j.workers.max, size: 4 });
  const form = h('form', { class: 'row', 'aria-label': 'Worker bounds' },
    h('label', { for: 'b-min' }, 'Min workers', min), h('label', { for: 'b-max' }, 'Max workers', max),
    h('button', { type: 'submit' }, 'Change bounds'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api(`/api/v1/jobs/${j.id}`, { method: 'PATCH', body: { workers: { min: Number(min.value), max: Number(max.value) } } });
      err.textContent = '';
    } catch (x) { err.textContent = x.message; }
  });
  return form;
}

// Output of one worker, followed while the job runs (a streamed GET that the
// server ends when the job does).
function logView(id) {
  const MAX = 200_000;
  const pre = h('pre', { class: 'logs', tabindex: 0, 'aria-label': 'Worker output', 'aria-live': 'off' });
  const pick = h('select', { id: 'log-worker' });
  const note = h('span', { class: 'muted' });
  let ctl = null;
  let rank = null;
  let known = '';
  const follow = async (r) => {
    if (ctl) ctl.abort();
    ctl = new AbortController();
    rank = r;
    pre.textContent = '';
    note.textContent = 'following…';
    try {
      const res = await fetch(`/api/v1/jobs/${id}/logs?tail=200&follow=1${r === null ? '' : `&worker=${r}`}`,
        { headers: authHeaders(), signal: ctl.signal });
      if (!res.ok) { note.textContent = (await res.json()).error; return; }
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        pre.textContent = (pre.textContent + value).slice(-MAX);
        if (atEnd) pre.scrollTop = pre.scrollHeight;
      }
      note.textContent = 'end of output';
    } catch (e) {
      if (e.name !== 'AbortError') note.textContent = e.message;
    }
  };
  pick.addEventListener('change', () => follow(Number(pick.value)));
  return {
    el: h('div', {}, h('div', { class: 'row' }, h('label', { for: 'log-worker' }, 'Worker', pick), note), pre),
    workers(ranks, ended) {
      const k = ranks.join(',');
      if (k !== known) {
        known = k;
        const keep = rank !== null && ranks.includes(rank) ? rank : null;
        pick.replaceChildren(...(ranks.length ? ranks : [rank ?? 0]).map((x) => h('option', { value: x, selected: x === keep }, `rank ${x}`)));
      }
      if (!ctl && !(ended && rank !== null)) follow(ranks.length ? ranks[0] : null);
    },
    stop() { if (ctl) ctl.abort(); },
  };
}
