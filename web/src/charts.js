// Charts on uPlot: series over time (lines, steps, stacked areas), curves
// against a resource, and points against a parameter. Each returns an
// element and an update(...) that redraws with new data in place.
import uPlot from './uPlot.esm.js';
import { h } from './ui.js';

export const palette = ['#1f5fbf', '#d9480f', '#2b8a3e', '#862e9c', '#c2255c', '#0b7285', '#e67700', '#5c940d',
  '#364fc7', '#a61e4d'];

// `hex` mixed with white: an opaque tint, so a stacked band hides the one above it where they overlap.
function tint(hex, white = 0.6) {
  const n = parseInt(hex.slice(1), 16);
  const mix = (c) => Math.round(c + (255 - c) * white);
  return `rgb(${mix(n >> 16)}, ${mix((n >> 8) & 255)}, ${mix(n & 255)})`;
}

function frame(title) {
  const plot = h('div', { class: 'plot' });
  const note = h('p', { class: 'empty', hidden: true }, 'No data yet.');
  const summary = h('p', { class: 'sr-only' });  // the chart in words, for screen readers
  const el = h('figure', { class: 'chart', role: 'group', 'aria-label': title }, h('h3', {}, title), note, summary, plot);
  return { el, plot, note, summary };
}

function width(el) { return Math.max(260, (el.clientWidth || 600) - 16); }

// A uPlot kept in `f.plot`, rebuilt when the set of series changes, else fed new data.
function keeper(f, height) {
  let u = null;
  let sig = '';
  // Follows the window's width while the chart is on the page; gone with it.
  const resize = () => {
    if (!f.el.isConnected && u) {
      window.removeEventListener('resize', resize);
      u.destroy();
      u = null;
      return;
    }
    if (u) u.setSize({ width: width(f.el), height });
  };
  window.addEventListener('resize', resize);
  return (opts, data, signature) => {
    const has = data[0] && data[0].length > 0 && data.slice(1).some((col) => col.some((v) => v !== null && v !== undefined));
    f.note.hidden = has;
    f.plot.hidden = !has;
    if (!has) return;
    if (u && signature === sig) { u.setData(data); return; }
    if (u) u.destroy();
    sig = signature;
    u = new uPlot({ width: width(f.el), height, ...opts }, data, f.plot);
  };
}

// Series over time. series: [{key, label, color?, dash?, step?, fill?}].
// update(points): points are [{time, key: value, ...}] (the history API's).
// With `stacked`, each series is drawn on top of the ones before it; the
// legend still shows each one's own value.
export function timeChart(title, { series, stacked = false, height = 200, yLabel = '', lines = [] } = {}) {
  const f = frame(title);
  const draw = keeper(f, height);
  const update = (points) => {
    const xs = points.map((p) => p.time);
    const column = (key) => points.map((p) => (p[key] === undefined ? null : p[key]));
    // Each drawn series: its own values (legend, summary) and what is drawn (stacked: the running sum).
    const acc = xs.map(() => 0);
    const all = [
      ...series.map((s) => {
        const own = column(s.key);
        return { s, own, y: stacked ? own.map((v, i) => (acc[i] += v || 0)) : own, band: stacked };
      }),
      ...lines.map((s) => { const own = column(s.key); return { s, own, y: own, band: false }; }),
    ];
    // Stacked bands are drawn top first, so each lower band paints over the one above; lines last.
    const order = [...all.keys()];
    if (stacked) order.splice(0, series.length, ...order.slice(0, series.length).reverse());
    const show = (v, digits) => (v === null || v === undefined ? '—' : Number.isInteger(v) ? v : v.toFixed(digits));
    const opts = {
      scales: { x: { time: true } },
      axes: [{}, { label: yLabel, size: 56 }],
      cursor: { drag: { x: true, y: false } },
      series: [{}, ...order.map((i) => {
        const { s, own, band } = all[i];
        const color = s.color || palette[i % palette.length];
        return {
          label: s.label,
          stroke: color,
          width: 2,
          dash: s.dash,
          fill: band ? tint(color) : s.fill,
          spanGaps: !stacked,
          paths: s.step ? uPlot.paths.stepped({ align: 1 }) : undefined,
          value: (u, v, si, idx) => show(own[idx], 3),
        };
      })],
    };
    draw(opts, [xs, ...order.map((i) => all[i].y)], order.map((i) => all[i].s.label).join('|'));
    const latest = all.map(({ s, own }) => {
      const i = own.findLastIndex((v) => v !== null && v !== undefined);
      return i < 0 ? null : `${s.label} ${show(own[i], 2)}`;
    }).filter(Boolean);
    f.summary.textContent = latest.length ? `Latest: ${latest.join(', ')}.` : '';
  };
  return { el: f.el, update };
}

// Curves against a resource (a trial's epochs): curves is [{label, points: [[x, y], ...]}].
export function curveChart(title, { height = 240, xLabel = '', yLabel = '' } = {}) {
  const f = frame(title);
  const draw = keeper(f, height);
  const update = (curves) => {
    const xs = [...new Set(curves.flatMap((c) => c.points.map((p) => p[0])))].sort((a, b) => a - b);
    const at = new Map(xs.map((x, i) => [x, i]));
    const ys = curves.map((c) => {
      const col = xs.map(() => null);
      for (const [x, y] of c.points) col[at.get(x)] = y;
      return col;
    });
    const opts = {
      scales: { x: { time: false } },
      axes: [{ label: xLabel }, { label: yLabel, size: 56 }],
      series: [{ label: xLabel }, ...curves.map((c, i) => ({
        label: c.label, stroke: palette[i % palette.length], width: c.width || 1.5, spanGaps: true, points: { show: true, size: 4 },
      }))],
    };
    draw(opts, [xs, ...ys], curves.map((c) => c.label).join('|'));
  };
  return { el: f.el, update };
}

// Points of y against x (a parameter against the metric), x on a log scale if `log`.
export function scatterChart(title, { height = 240, xLabel = '', yLabel = '', log = false } = {}) {
  const f = frame(title);
  const draw = keeper(f, height);
  const update = (points, opts2 = {}) => {
    const sorted = points.filter((p) => p[1] !== null && p[1] !== undefined).sort((a, b) => a[0] - b[0]);
    const isLog = opts2.log ?? log;
    const opts = {
      scales: { x: { time: false, distr: isLog ? 3 : 1 } },
      axes: [{ label: opts2.xLabel || xLabel }, { label: yLabel, size: 56 }],
      series: [{ label: opts2.xLabel || xLabel }, {
        label: yLabel, stroke: palette[0], paths: () => null, points: { show: true, size: 9, fill: `${palette[0]}88` },
      }],
    };
    draw(opts, [sorted.map((p) => p[0]), sorted.map((p) => p[1])], `${opts2.xLabel || xLabel}|${isLog}`);
  };
  return { el: f.el, update };
}
