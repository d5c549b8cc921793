// drover console: signs in with an API token, routes #/... to a page, and
// keeps the page live by polling what it shows every few seconds (only while
// the tab is visible, never two polls at once). Every number comes from the
// server's API with the signed-in token: the page sees exactly what that token
// may, and data is only ever written into the page as text, never as markup.
import { overviewPage, consumersPage } from './pages_cluster.js';
import { jobsPage, jobPage } from './pages_jobs.js';
import { experimentsPage, experimentPage, deploymentsPage, deploymentPage } from './pages_work.js';
import { session, hooks, api, h, errorBox, ApiError, TOKEN_KEY } from './ui.js';

const POLL_MS = 2000;

// -- routing -------------------------------------------------------------------
const routes = [
  [/^#?\/?$/, overviewPage, '#/'],
  [/^#\/consumers$/, consumersPage, '#/consumers'],
  [/^#\/jobs$/, jobsPage, '#/jobs'],
  [/^#\/jobs\/(\d+)$/, jobPage, '#/jobs'],
  [/^#\/experiments$/, experimentsPage, '#/experiments'],
  [/^#\/experiments\/(\d+)$/, experimentPage, '#/experiments'],
  [/^#\/deployments$/, deploymentsPage, '#/deployments'],
  [/^#\/deployments\/([a-z][a-z0-9-]*)$/, deploymentPage, '#/deployments'],
];

let current = null;  // {refresh, dispose} of the page shown
let timer = null;
let busy = false;
let shown = 0;       // counts navigations, so a page that loads late does not replace a newer one

// A refresh that fails says so above the page (and clears once one works).
async function poll() {
  if (!current || !current.refresh || busy || document.visibilityState !== 'visible') return;
  busy = true;
  const status = document.getElementById('poll-status');
  try {
    await current.refresh();
    if (status) status.textContent = '';
  } catch (e) {
    if (status) status.textContent = `Could not refresh: ${e.message}`;
  } finally { busy = false; }
}

async function show() {
  const main = document.getElementById('main');
  if (current && current.dispose) current.dispose();
  current = null;
  clearInterval(timer);
  if (!session.who) return signInPage(main);
  const [path, query] = location.hash.split('?');
  const params = new URLSearchParams(query || '');
  const route = routes.find(([re]) => re.test(path || '#/'));
  for (const a of document.querySelectorAll('#nav a')) {
    a.toggleAttribute('aria-current', false);
    if (route && a.getAttribute('href') === route[2]) a.setAttribute('aria-current', 'page');
  }
  main.replaceChildren();
  if (!route) {
    main.append(h('h1', {}, 'Not found'), h('p', {}, 'No page here. ', h('a', { href: '#/' }, 'Overview')));
    return;
  }
  const match = (path || '#/').match(route[0]);
  const view = h('div', { class: 'page' });
  main.append(h('p', { id: 'poll-status', class: 'error', role: 'status' }), view);
  const seq = ++shown;
  try {
    const page = await route[1](view, match.slice(1), params);
    if (page.refresh) await page.refresh();  // the first data: a failure here is the page's
    if (seq !== shown) {
      if (page.dispose) page.dispose();
      return;
    }
    current = page;
    timer = setInterval(poll, POLL_MS);
  } catch (e) {
    view.replaceChildren(h('h1', {}, 'Could not load this page'), h('p', { class: 'error', role: 'alert' }, e.message));
  }
}

// -- signing in ----------------------------------------------------------------
function signInPage(main) {
  document.getElementById('nav').hidden = true;
  document.getElementById('signout').hidden = true;
  document.getElementById('who').textContent = '';
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const err = errorBox();
  const form = h('form', { class: 'signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in to drover'),
    h('p', { class: 'muted' }, 'Paste your API token: `drover token create` makes one; an admin\'s is in the server\'s data dir.'),
    h('label', { for: 'token' }, 'API token', input),
    h('p', {}, h('button', { type: 'submit', class: 'primary' }, 'Sign in')),
    err);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    session.token = input.value.trim();
    try {
      await signIn();
      location.hash = location.hash || '#/';
      show();
    } catch (e) {
      session.token = null;
      err.textContent = e.status === 401 ? 'The server does not know this token.' : e.message;
    }
  });
  main.replaceChildren(form);
  input.focus();
}

async function signIn() {
  const who = await api('/api/v1/whoami');
  if (who.role !== 'admin' && who.role !== 'user') throw new ApiError(403, `a ${who.role} token cannot sign in to the console`);
  session.who = who;
  sessionStorage.setItem(TOKEN_KEY, session.token);
  document.getElementById('who').textContent = `${who.name} (${who.role})`;
  document.getElementById('nav').hidden = false;
  document.getElementById('signout').hidden = false;
}

function signOut(why) {
  sessionStorage.removeItem(TOKEN_KEY);
  session.token = null;
  session.who = null;
  show();
  if (why) document.querySelector('.signin .error').textContent = why;
}

hooks.unauthorized = () => signOut('The server no longer accepts this token: sign in again.');
document.getElementById('signout').addEventListener('click', () => signOut());
window.addEventListener('hashchange', show);
document.addEventListener('visibilitychange', poll);

(async () => {
  if (session.token) {
    try { await signIn(); } catch { session.token = null; sessionStorage.removeItem(TOKEN_KEY); }
  }
  show();
})();
