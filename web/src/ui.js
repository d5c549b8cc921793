// What every page uses: the session and the API, elements built from data
// (as text, never as markup), formats, tables and confirmations.
export const TOKEN_KEY = 'drover.token';
export const session = { token: sessionStorage.getItem(TOKEN_KEY), who: null };
// Set by app.js: what to do when the server stops accepting the token.
export const hooks = { unauthorized: null };

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Calls the API with the session's token. `body`: a string is sent as YAML,
// anything else as JSON. Resolves to the parsed JSON (or text); rejects with
// an ApiError carrying the server's message.
export function authHeaders() { return { Authorization: `Bearer ${session.token}` }; }

export async function api(path, { method = 'GET', body, signal } = {}) {
  const headers = authHeaders();
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = typeof body === 'string' ? 'application/yaml' : 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(path, { method, headers, body: payload, signal });
  const text = await res.text();
  let data = text;
  try { data = JSON.parse(text); } catch { /* text answers: logs */ }
  if (res.status === 401 && session.who && hooks.unauthorized) hooks.unauthorized();
  if (!res.ok) throw new ApiError(res.status, (data && data.error) || `${res.status} ${res.statusText}`);
  return data;
}

// h('a', {href: '#/jobs', class: 'x', onclick: fn}, 'text', child, ...): an
// element; strings become text nodes; null/false children are skipped.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const fmt = {
  time(t) {
    if (!t) return '—';
    const d = new Date(t * 1000);
    const today = new Date().toDateString() === d.toDateString();
    return today ? d.toLocaleTimeString() : d.toLocaleString();
  },
  dur(s) {
    if (s === null || s === undefined) return '—';
    if (s < 1) return `${Math.round(s * 1000)} ms`;
    if (s < 120) return `${s.toFixed(1)} s`;
    if (s < 7200) return `${Math.round(s / 60)} min`;
    return `${(s / 3600).toFixed(1)} h`;
  },
  num(v, digits = 2) {
    if (v === null || v === undefined || Number.isNaN(v)) return '—';
    if (Number.isInteger(v)) return v.toLocaleString();
    return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString() : v.toFixed(digits);
  },
};

export function stateBadge(s) { return h('span', { class: `state ${s}` }, s); }

// A table: columns [{label, num?, get(row) -> string|Node}], rows. Sorting,
// where a page wants it, is the page's (it re-renders).
export function table(columns, rows, { caption, rowClass, empty = 'Nothing here yet.' } = {}) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('table', { class: 'data' },
    caption ? h('caption', { class: 'muted' }, caption) : null,
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.num ? 'num' : null, scope: 'col' }, c.header || c.label)))),
    h('tbody', {}, rows.map((r) => h('tr', { class: rowClass ? rowClass(r) : null },
      columns.map((c) => h('td', { class: c.num ? 'num' : null }, c.get(r)))))));
}

// Replaces the children of `el` only when `key` (the data it shows) changed,
// so live updates do not move focus or scroll for nothing.
export function renderInto(el, key, build) {
  const k = JSON.stringify(key);
  if (el.dataset.key === k) return;
  el.dataset.key = k;
  el.replaceChildren(...[].concat(build()).flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

export function errorBox() { return h('p', { class: 'error', role: 'alert' }); }

// An action that asks before it acts: [label] -> "sure? [yes] [no]".
export function confirmButton(label, question, yes, act) {
  const box = h('span', { class: 'confirm' });
  const ask = () => {
    const no = h('button', { type: 'button', onclick: () => box.replaceChildren(start) }, 'Keep');
    const go = h('button', { type: 'button', class: 'danger', onclick: async () => { go.disabled = true; await act(); } }, yes);
    box.replaceChildren(h('span', {}, question), go, no);
    go.focus();
  };
  const start = h('button', { type: 'button', class: 'danger', onclick: ask }, label);
  box.append(start);
  return box;
}

