// The console in a real browser (Debian's chromium, driven by playwright-core)
// against a real server and agents running real jobs: signing in, each page
// showing live data, tenancy, actions that reach the workers, the plan
// editor's located errors, and the jobs page's first render with 10,000 jobs.
// Screenshots of every page go to $DROVER_SCREENSHOTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { Cluster, browser, signedIn, shot, until, alive } from './harness.mjs';

const TRAIN = process.env.DROVER_TRAIN_BINARY;
const SERVE = process.env.DROVER_SERVE_BINARY;
const SOURCE = process.env.DROVER_SOURCE_DIR;

const PLAN = `consumers:
  - name: teams
    owned: 4
    children:
      - name: alpha
        owned: 2
        reclaim_grace: 1s
      - name: beta
        owned: 2
        reclaim_grace: 1s
`;

let c;
let b;
let alice;
let bob;

before(async () => {
  // Agents find drover-serve (deployments' replicas) on their PATH.
  c = await new Cluster({ env: { PATH: `${dirname(SERVE)}:${process.env.PATH}`, OPENBLAS_CORETYPE: 'Haswell' } }).start();
  await c.api('PUT', '/api/v1/plan', PLAN);
  alice = await c.user('alice', ['/teams/alpha']);
  bob = await c.user('bob', ['/teams/beta']);
  b = await browser();
});

after(async () => {
  if (b) await b.close();
  if (c) await c.stop();
});

const job = (id, token = c.admin) => c.api('GET', `/api/v1/jobs/${id}`, undefined, token);
const visible = (page, title) => page.locator(`figure[aria-label="${title}"] .plot:not([hidden])`).waitFor({ timeout: 30000 });

test('signing in: a token the server does not know is refused; a user token shows its user', async () => {
  const page = await b.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${c.url}/`);
  await page.getByLabel('API token').fill('drv_not_a_token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'does not know this token' }).waitFor();
  await shot(page, '01-sign-in-refused');
  // By keyboard alone: the token field, then Enter.
  await page.getByLabel('API token').focus();
  await page.keyboard.press('Control+A');
  await page.keyboard.type(alice);
  await page.keyboard.press('Enter');
  await page.getByText('alice (user)').waitFor();
  // Tab reaches the sections in order.
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Overview');
  await page.close();
});

test('overview: hosts, slots used and free, jobs, utilisation over time', async () => {
  await c.api('POST', '/api/v1/jobs', JSON.stringify({
    name: 'alpha-train', consumer: '/teams/alpha', workers: { min: 1, max: 4 }, resources: { gpus: 1 },  // no memory limit: ASan builds of drover-train need more than the demo's 512Mi
    command: [TRAIN, '--model', 'mlp', '--epochs', '100', '--global-batch', '64', '--threads', '1', '--min-step-ms', '40', '--log-every', '50'],
  }), alice);
  await until('alpha to train on 4 workers', async () => (await job(1)).reported_world_size === 4, 120000, 500);
  const page = await signedIn(b, c, alice);
  await page.locator('.card', { hasText: 'GPU slots used' }).filter({ hasText: '4 / 4' }).waitFor();
  await page.getByRole('cell', { name: 'host-a' }).waitFor();
  await page.getByRole('cell', { name: 'host-b' }).waitFor();
  await visible(page, 'GPU slots in use');
  // The chart in words, for screen readers.
  await page.locator('figure[aria-label="GPU slots in use"] .sr-only').filter({ hasText: 'Latest: used 4, slots on hosts up 4.' }).waitFor();
  await shot(page, '02-overview');
  // A laptop and a wall screen: nothing wider than the window.
  for (const width of [1024, 2560]) {
    await page.setViewportSize({ width, height: 900 });
    await until(`the page to fit ${width} px`, () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
  }
  await shot(page, '02-overview-2560');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("a resize appears on the job's timeline with its pause; live loss and samples/s", async () => {
  const page = await signedIn(b, c, alice);
  await page.goto(`${c.url}/#/jobs/1`);
  await page.getByRole('heading', { name: /Job 1: alpha-train/ }).waitFor();
  // beta takes back its 2 slots: alpha shrinks 4 -> 2 in-process.
  await c.api('POST', '/api/v1/jobs', JSON.stringify({
    name: 'beta-sleep', consumer: '/teams/beta', workers: 2, resources: { gpus: 1 },
    // Output that would run script if a page wrote it as markup.
    command: ['sh', '-c', 'echo "<img src=x onerror=window.pwned=1><script>window.pwned=2</script>"; exec sleep 1000'],
  }), bob);
  await page.getByRole('cell', { name: '4 → 2' }).waitFor({ timeout: 90000 });
  const rescale = (await job(1)).rescales.find((r) => r.from === 4 && r.to === 2);
  await until('the pause of the resize to be reported', async () => (await job(1)).rescales.some((r) => r.pause_ms !== null), 30000, 500);
  await page.getByRole('row', { name: /4 → 2 .* ms/ }).waitFor({ timeout: 10000 });
  assert.ok(rescale);
  await visible(page, 'Loss');
  await visible(page, 'Samples per second');
  await visible(page, 'Workers over time (each step is a resize)');
  await page.locator('pre.logs').filter({ hasText: /step|loss/ }).waitFor({ timeout: 30000 });
  await shot(page, '03-job-resized');
  // Change bounds from the page: bad bounds get the server's message and change nothing.
  await page.getByLabel('Min workers').fill('3');
  await page.getByLabel('Max workers').fill('2');
  await page.getByRole('button', { name: 'Change bounds' }).click();
  await page.getByRole('alert').filter({ hasText: /min/ }).waitFor();
  assert.deepEqual((await job(1)).workers, { min: 1, max: 4 });
  await page.getByLabel('Min workers').fill('1');
  await page.getByLabel('Max workers').fill('3');
  await page.getByRole('button', { name: 'Change bounds' }).click();
  await until('the new bounds', async () => (await job(1)).workers.max === 3);
  await page.getByText(/workers \d of 1\.\.3/).waitFor();
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a pending job shows why it waits, in the list and on its page', async () => {
  await c.api('POST', '/api/v1/jobs', JSON.stringify({
    name: 'beta-waits', consumer: '/teams/beta', workers: 2, resources: { gpus: 1 }, command: ['sleep', '1000'],
  }), bob);
  const j = await until('job 3 to be pending with a reason', async () => {
    const x = await job(3);
    return x.state === 'PENDING' && x.reason ? x : null;
  });
  const page = await signedIn(b, c, bob);
  await page.goto(`${c.url}/#/jobs?state=pending`);
  const row = page.getByRole('row', { name: /beta-waits/ });
  await row.waitFor();
  assert.match(await row.textContent(), /PENDING/);
  assert.ok((await row.textContent()).includes(j.reason.slice(0, 30)), `${await row.textContent()} lacks "${j.reason}"`);
  await shot(page, '04-jobs-pending');
  await page.goto(`${c.url}/#/jobs/3`);
  await page.locator('#job-reason').filter({ hasText: 'Waiting: ' }).waitFor();
  await page.close();
});

test("tenancy: alice sees only alpha's jobs, not bob's", async () => {
  const page = await signedIn(b, c, alice);
  await page.goto(`${c.url}/#/jobs`);
  await page.getByRole('row', { name: /alpha-train/ }).waitFor();
  assert.equal(await page.locator('table.data > tbody > tr').count(), 1);
  assert.equal(await page.getByText('/teams/beta').count(), 0);
  await page.getByText('1 job', { exact: true }).waitFor();
  await page.goto(`${c.url}/#/jobs/2`);
  await page.getByRole('alert').filter({ hasText: /job 2/ }).waitFor();
  assert.equal(await page.getByText('beta-sleep').count(), 0);
  // The control: bob, on the same pages, does see his jobs.
  const bobs = await signedIn(b, c, bob);
  await bobs.goto(`${c.url}/#/jobs/2`);
  await bobs.getByRole('heading', { name: /Job 2: beta-sleep/ }).waitFor();
  await page.close();
  await bobs.close();
});

test("cancelling from the job's page stops its worker processes", async () => {
  const pids = (await job(2, bob)).worker_list.map((w) => w.pid);
  assert.equal(pids.length, 2);
  assert.ok(pids.every((p) => p > 0 && alive(p)), `workers ${pids} should be running`);
  const page = await signedIn(b, c, bob);
  await page.goto(`${c.url}/#/jobs/2`);
  // The worker's output shows as the text it is.
  await page.locator('pre.logs').filter({ hasText: '<img src=x onerror=window.pwned=1>' }).waitFor();
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  await page.getByRole('button', { name: 'Cancel job' }).click();
  await page.getByRole('button', { name: 'Yes, cancel it' }).click();
  await page.locator('h1 .state.CANCELLED').waitFor({ timeout: 20000 });
  await until(`worker processes ${pids} to exit`, () => pids.every((p) => !alive(p)), 20000);
  await page.close();
});

test('a bad plan edit shows the located error at its line and changes nothing', async () => {
  const before = (await c.api('GET', '/api/v1/plan')).yaml;
  const users = await signedIn(b, c, alice);
  await users.goto(`${c.url}/#/consumers`);
  await users.getByRole('cell', { name: '/teams/alpha', exact: true }).waitFor();
  assert.equal(await users.getByRole('heading', { name: 'Resource plan' }).count(), 0, 'a user gets no plan editor');
  await users.close();

  const page = await signedIn(b, c, c.admin);
  await page.goto(`${c.url}/#/consumers`);
  const editor = page.getByLabel('Plan (YAML)');
  await until('the plan to load into the editor', async () => (await editor.inputValue()).includes('alpha'));
  const lines = before.split('\n');
  const bad = lines.findIndex((l) => l.includes('owned: 2')) + 1;  // 1-based: alpha's
  lines[bad - 1] = lines[bad - 1].replace('owned: 2', 'owned: -2');
  await editor.fill(lines.join('\n'));
  await page.getByRole('button', { name: 'Validate' }).click();
  const err = page.getByRole('alert').filter({ hasText: `Line ${bad}:` });
  await err.waitFor();
  assert.match(await err.textContent(), /owned: -2 is negative/);
  assert.equal(await editor.getAttribute('aria-invalid'), 'true');
  assert.equal(await page.locator('.gutter .bad').textContent(), String(bad));
  await page.getByRole('button', { name: 'Apply plan' }).click();
  await err.waitFor();
  await shot(page, '05-plan-error');
  assert.equal((await c.api('GET', '/api/v1/plan')).yaml, before, 'the plan must not change');
  // The control: the plan as it was validates.
  await editor.fill(before);
  await page.getByRole('button', { name: 'Validate' }).click();
  await page.getByText('Valid: 3 consumers.').waitFor();
  await page.close();
});

test("an experiment's trials, the best, curves and parameters appear", async () => {
  await c.api('POST', '/api/v1/jobs/3/cancel', undefined, bob);  // beta's slots for the trials
  const exp = await c.api('POST', '/api/v1/experiments', JSON.stringify({
    name: 'beta-x', consumer: '/teams/beta',
    search: { algorithm: 'random', metric: 'acc', goal: 'maximize', max_trials: 4, max_parallel: 2, seed: 3 },
    parameters: { x: { type: 'double', min: 0, max: 1 }, lr: { type: 'log', min: 0.001, max: 0.1 } },
    trial: {
      resources: { gpus: 1 },
      command: ['sh', '-c', 'for e in 1 2 3; do echo "drover-metric {\\"epoch\\": $e, \\"acc\\": $(awk "BEGIN { print ${params.x} * $e / 3 }")}"; sleep 0.3; done'],
    },
  }), bob);
  const page = await signedIn(b, c, bob);
  await page.goto(`${c.url}/#/experiments/${exp.id}`);
  await page.getByRole('heading', { name: /beta-x/ }).waitFor();
  await until('the experiment to finish', async () => (await c.api('GET', `/api/v1/experiments/${exp.id}`, undefined, bob)).state === 'SUCCEEDED', 180000, 500);
  const e = await c.api('GET', `/api/v1/experiments/${exp.id}/trials`, undefined, bob);
  await page.locator('h1 .state.SUCCEEDED').waitFor();
  assert.equal(await page.locator('table.data > tbody > tr').count(), 4);
  await page.locator('#best').filter({ hasText: `trial ${e.best.trial}` }).waitFor();
  // Sorted by the goal: the best trial's row comes first, marked.
  assert.match(await page.locator('table.data > tbody > tr').first().textContent(), new RegExp(`^${e.best.trial}`));
  assert.equal(await page.locator('table.data > tbody > tr.best').count(), 1);
  await visible(page, 'Learning curves of all trials');
  await visible(page, 'Parameter against the metric');
  await page.getByRole('button', { name: 'Sort by reports' }).click();
  await shot(page, '06-experiment');
  assert.deepEqual(page.errors, []);

  // Stop from the page: the running trials' jobs are cancelled.
  const long = await c.api('POST', '/api/v1/experiments', JSON.stringify({
    name: 'beta-long', consumer: '/teams/beta',
    search: { algorithm: 'random', metric: 'acc', goal: 'maximize', max_trials: 2, max_parallel: 2 },
    parameters: { x: { type: 'double', min: 0, max: 1 } }, trial: { resources: { gpus: 1 }, command: ['sleep', '1000'] },
  }), bob);
  await page.goto(`${c.url}/#/experiments/${long.id}`);
  await page.getByText('2 running').waitFor({ timeout: 30000 });
  await page.getByRole('button', { name: 'Stop experiment' }).click();
  await page.getByRole('button', { name: 'Yes, stop it' }).click();
  await page.locator('h1 .state.STOPPED').waitFor({ timeout: 20000 });
  const trialJobs = (await c.api('GET', `/api/v1/experiments/${long.id}`, undefined, bob)).trials.map((t) => t.job);
  await until('the trials to be cancelled', async () => {
    const states = await Promise.all(trialJobs.map(async (t) => (await job(t)).state));
    return states.every((x) => x === 'CANCELLED');
  });
  await page.close();
});

test("a deployment's replicas, load and scaling events appear", async () => {
  const model = join(c.dir, 'fmnist.pt');
  execFileSync('/usr/bin/python3', [join(SOURCE, 'bench/infer/export_cnn.py'), model], { stdio: 'ignore' });
  await c.api('POST', '/api/v1/deployments', JSON.stringify({
    name: 'fmnist', consumer: '/teams/beta', model: { path: model, input: { name: 'input', datatype: 'FP32', shape: [1, 28, 28] } },
    replicas: { min: 1, max: 2 }, resources: { gpus: 1, cpus: 1, memory: '1Gi' },
  }), bob);
  const d = () => c.api('GET', '/api/v1/deployments/fmnist', undefined, bob);
  await until('a replica to be ready', async () => (await d()).replicas.ready === 1, 120000, 500);
  const url = `${(await d()).url.replace(/\/infer$/, '')}/infer`;
  const body = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', data: new Array(784).fill(0.5) }] });
  for (let i = 0; i < 20; ++i) {
    const r = await fetch(url, { method: 'POST', headers: { Authorization: `Bearer ${bob}` }, body });
    assert.equal(r.status, 200, await r.text());
  }
  const page = await signedIn(b, c, bob);
  await page.goto(`${c.url}/#/deployments/fmnist`);
  await page.getByRole('heading', { name: /Deployment fmnist/ }).waitFor();
  await page.getByText('1 ready').waitFor();
  await page.getByRole('cell', { name: 'yes' }).waitFor();
  await visible(page, 'Replicas');
  await visible(page, 'Requests per second (over the last minute)');
  await visible(page, 'Latency');
  await page.getByRole('cell', { name: '0 → 1' }).waitFor();
  await shot(page, '07-deployment');
  await page.goto(`${c.url}/#/deployments`);
  await page.getByRole('link', { name: 'fmnist' }).waitFor();
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('the history survives a kill -9 of the server, and the charts draw it after the restart', async () => {
  const small = await new Cluster({ agents: 0 }).start();
  try {
    const read = async () => (await small.api('GET', `/api/v1/history/cluster?since=${Math.floor(Date.now() / 1000) - 600}`)).points;
    const before = await until('3 samples', async () => { const p = await read(); return p.length >= 3 ? p : null; });
    await small.crashAndRestartServer();
    const after = await read();
    for (const p of before) assert.ok(after.some((q) => q.time === p.time), `sample at ${p.time} lost in the crash`);
    const page = await signedIn(b, small, small.admin);
    await visible(page, 'GPU slots in use');
    await page.close();
  } finally {
    await small.stop();
  }
});

test('10,000 jobs in the store: the jobs page renders its first page in under 1 s', async () => {
  const big = await new Cluster({ agents: 1, gpus: 1 }).start();
  try {
    const N = 10000;
    const spec = 'name: queued\nconsumer: /\nworkers: 1\nresources: {gpus: 1}\ncommand: [sleep, "1000"]\n';
    let next = 0;
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < N) {
        ++next;
        await big.api('POST', '/api/v1/jobs', spec);
      }
    }));
    console.log(`submitted ${N} jobs in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const page = await signedIn(b, big, big.admin);
    await page.goto(`${big.url}/#/`);
    await page.getByText('hosts up', { exact: true }).waitFor();
    // A fresh load of the jobs page (the tab keeps its session): from navigation to the table's rows.
    await page.goto('about:blank');
    await page.goto(`${big.url}/#/jobs`);
    await page.locator('table.data > tbody > tr').first().waitFor();
    const ms = await page.evaluate(() => performance.now());
    console.log(`jobs page with ${N} jobs: first render in ${ms.toFixed(0)} ms`);
    assert.equal(await page.locator('table.data > tbody > tr').count(), 50);
    await page.getByText(`${N.toLocaleString('en-US')} jobs`).waitFor();
    assert.match(await page.locator('table.data > tbody > tr').first().textContent(), new RegExp(`^${N}`));
    await shot(page, '08-jobs-10000');
    assert.ok(ms < 1000, `first render took ${ms} ms`);
    // The next page comes from the server too.
    await page.getByRole('button', { name: 'Older' }).click();
    await page.locator('table.data > tbody > tr').first().filter({ hasText: new RegExp(`^${N - 50}`) }).waitFor();
    await page.getByRole('button', { name: 'Older' }).click();
    await page.locator('table.data > tbody > tr').first().filter({ hasText: new RegExp(`^${N - 100}`) }).waitFor();
    await page.getByRole('button', { name: 'Newer' }).click();
    await page.locator('table.data > tbody > tr').first().filter({ hasText: new RegExp(`^${N - 50}`) }).waitFor();
    await page.getByRole('button', { name: 'Newer' }).click();
    await page.locator('table.data > tbody > tr').first().filter({ hasText: new RegExp(`^${N}`) }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Newer' }).count(), 0);
    await page.close();
  } finally {
    await big.stop();
  }
});
