// A real drover cluster on 127.0.0.1 for the console's browser tests: one
// server and N agents (processes of the drover binary the build made), the
// API for setting things up, and Debian's chromium driven by playwright-core.
// Every process is started here and stopped by its PID.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const DROVER = process.env.DROVER_BINARY;
export const SHOTS = process.env.DROVER_SCREENSHOTS || join(tmpdir(), 'drover-console-shots');
const CHROMIUM = process.env.DROVER_CHROMIUM || '/usr/lib/chromium/chromium';

if (!DROVER || !existsSync(DROVER)) throw new Error(`DROVER_BINARY must name the drover binary (got ${DROVER})`);

// Polls `fn` until it returns a truthy value (returned) or `ms` pass (throws, naming `what`).
export async function until(what, fn, ms = 30000, every = 100) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleep(every);
  }
}

export class Cluster {
  constructor({ agents = 2, gpus = 2, historyInterval = 1, env = {} } = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'drover-console-'));
    this.opts = { agents, gpus, historyInterval, env };
    this.procs = [];
  }

  spawn(args, log) {
    const out = openSync(join(this.dir, log), 'a');
    const p = spawn(DROVER, args, { stdio: ['ignore', out, out], env: { ...process.env, ...this.opts.env } });
    this.procs.push(p);
    return p;
  }

  async start() {
    try {
      return await this.launch();
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  // Starts the server on the cluster's data dir (again, after a crash) and learns its port.
  async startServer() {
    const data = join(this.dir, 'server');
    const log = join(this.dir, 'server.log');
    const from = existsSync(log) ? readFileSync(log).length : 0;
    this.server = this.spawn(['server', '--data-dir', data, '--listen', '127.0.0.1:0', '--inference-port', '0',
      '--history-interval', String(this.opts.historyInterval)], 'server.log');
    // The port chosen: the server says where it listens.
    const port = await until('the server to listen', () => {
      const m = /drover server listening on 127\.0\.0\.1:(\d+)/.exec(readFileSync(log).subarray(from).toString('utf8'));
      return m && Number(m[1]);
    });
    this.url = `http://127.0.0.1:${port}`;
    this.admin = readFileSync(join(data, 'admin.token'), 'utf8').trim();
  }

  // kill -9 of the server, and a new one on the same data dir.
  async crashAndRestartServer() {
    const gone = new Promise((r) => this.server.once('exit', r));
    this.server.kill('SIGKILL');
    await gone;
    await this.startServer();
  }

  async launch() {
    const data = join(this.dir, 'server');
    await this.startServer();
    for (let i = 0; i < this.opts.agents; ++i) {
      const name = `host-${String.fromCharCode(97 + i)}`;
      mkdirSync(join(this.dir, name), { recursive: true });
      this.spawn(['agent', '--server', this.url, '--join-token-file', join(data, 'join.token'), '--name', name,
        '--gpus', String(this.opts.gpus), '--work-dir', join(this.dir, name)], `${name}.log`);
    }
    await until('the agents to join', async () => (await this.api('GET', '/api/v1/hosts')).hosts.filter((x) => x.state === 'up').length === this.opts.agents);
    return this;
  }

  // Calls the API as `token` (the admin's by default); throws on an error status.
  async api(method, path, body, token = this.admin) {
    const res = await fetch(this.url + path, {
      method, headers: { Authorization: `Bearer ${token}` },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    try { return JSON.parse(text); } catch { return text; }
  }

  async user(name, consumers) {
    return (await this.api('POST', '/api/v1/users', { name, consumers })).token;
  }

  async stop() {
    for (const p of this.procs.reverse()) {
      if (p.exitCode !== null || p.signalCode !== null) continue;
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await Promise.race([gone, sleep(10000)]);
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
  }
}

// Whether process `pid` still exists.
export function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

export async function browser() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}

// A page signed in to the console as `token`.
export async function signedIn(b, cluster, token, viewport = { width: 1440, height: 900 }) {
  const page = await b.newPage({ viewport });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // Script errors; not the browser's notes of error statuses, which tests provoke and check themselves.
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });
  page.errors = errors;
  await page.goto(`${cluster.url}/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Sections' }).waitFor();
  return page;
}

export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}
