// The dashboard in Debian's headless chromium, driven by playwright-core (dashboard_e2e_test.cpp
// starts the server). Usage: node dashboard_e2e.cjs BASE_URL SCENARIO SCREENSHOT_DIR PROFILE_DIR
//   operator: the demo aliases listed; unload and load change the state on screen; a chat reply
//             streams; embeddings and rerank answer; a pull from the stand-in Hub reaches 100%;
//             metrics and activity show what happened; light and dark screenshots.
//   auth:     a wrong key is refused; an inference key sees no admin action (and the server refuses
//             its admin calls); an admin key sees them.
// Every request the page makes must go to BASE_URL, and no Content-Security-Policy violation may
// appear. Prints "ok: SCENARIO" when every check passed.
'use strict';
const { chromium } = require('playwright-core');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const [base, scenario, shots, profile] = process.argv.slice(2);
const T = 60_000;
const SLOW = 240_000; // a generation on a loaded 2-core machine

function log(...args) {
  console.log(new Date().toISOString().slice(11, 23), ...args);
}

async function launch() {
  fs.rmSync(profile, { recursive: true, force: true });
  fs.mkdirSync(profile, { recursive: true });
  return chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1440, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// Fails the run on any request to another origin, a CSP report or an uncaught page error.
function watch(context) {
  const problems = [];
  const origin = new URL(base).origin;
  context.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin + '/') && !u.startsWith('data:')) problems.push(`request to another host: ${u}`);
  });
  context.on('page', (p) => attach(p, problems));
  for (const p of context.pages()) attach(p, problems);
  return problems;
}
function attach(page, problems) {
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
}

async function shot(page, name) {
  const file = path.join(shots, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  log('screenshot', file);
}

const row = (page, alias) => page.getByTestId(`alias-${alias}`);
async function stateOf(page, alias) {
  return (await row(page, alias).getByTestId('state').innerText()).trim();
}
async function waitState(page, alias, want) {
  await page.waitForFunction(
    ([a, w]) => document.querySelector(`[data-testid="alias-${a}"] [data-testid="state"]`)?.textContent?.trim().startsWith(w),
    [alias, want], { timeout: T });
}

async function operator() {
  const context = await launch();
  const problems = watch(context);
  const page = context.pages()[0] ?? (await context.newPage());
  const res = await page.goto(base + '/');
  const csp = res.headers()['content-security-policy'] || '';
  assert.match(csp, /script-src 'self'/, 'the page has a strict CSP');
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /connect-src 'self'/);

  // Models: the three demo aliases, each listed with its state.
  for (const alias of ['embed/default', 'rerank/default', 'chat/default']) await row(page, alias).waitFor({ timeout: T });
  log('aliases listed');
  // The demo warms its models in the background; then the live event stream is connected.
  await waitState(page, 'embed/default', 'loaded');
  await page.getByTestId('live').filter({ hasText: 'live' }).waitFor({ timeout: T });
  await shot(page, 'models');
  await row(page, 'embed/default').getByTestId('unload').click();
  await waitState(page, 'embed/default', 'unloaded');
  log('unloaded on screen:', await stateOf(page, 'embed/default'));
  await shot(page, 'models-unloaded');
  await row(page, 'embed/default').getByTestId('load').click();
  await waitState(page, 'embed/default', 'loaded');
  log('loaded on screen:', await stateOf(page, 'embed/default'));

  // Playground: a chat reply streams in (more than one chunk), then embeddings and rerank.
  await page.getByTestId('nav-playground').click();
  await page.getByTestId('model-generate').locator('option', { hasText: 'chat/default' }).waitFor({ state: 'attached', timeout: T });
  await page.getByTestId('chat-max-tokens').fill('24');
  await page.getByTestId('chat-input').fill('Say hi');
  await page.getByTestId('chat-send').click();
  // Streamed: text shows while the reply is still coming (the finished reply replaces it).
  await page.waitForFunction(
    () => (document.querySelector('[data-testid="msg-streaming"] pre')?.textContent ?? '…').replace('…', '').length > 0 ||
      !!document.querySelector('[data-testid="msg-assistant"]'),
    null, { timeout: SLOW });
  const partial = await page.getByTestId('msg-streaming').count();
  log('partial reply on screen before the end:', partial > 0);
  await page.getByTestId('msg-assistant').waitFor({ timeout: SLOW });
  const reply = (await page.getByTestId('msg-assistant').locator('pre').innerText()).trim();
  const streamed = await page.getByTestId('chat-streamed').innerText();
  log('reply:', JSON.stringify(reply.slice(0, 80)), '|', streamed);
  assert.ok(reply.length > 0, 'the assistant replied');
  const chunks = Number(/(\d+) chunks/.exec(streamed)?.[1] ?? 0);
  assert.ok(chunks > 1, `the reply came in ${chunks} chunks, not one`);
  await shot(page, 'playground-chat');
  await page.getByTestId('tab-embed').click();
  await page.getByTestId('model-embed').locator('option', { hasText: 'embed/default' }).waitFor({ state: 'attached', timeout: T });
  await page.getByTestId('embed-run').click();
  await page.getByTestId('similarity-matrix').waitFor({ timeout: T });
  const cells = await page.getByTestId('similarity-matrix').locator('.cell').allInnerTexts();
  assert.equal(cells.length, 16, '4 texts give a 4x4 matrix');
  for (const i of [0, 5, 10, 15]) assert.equal(cells[i], '1.00', 'each text is identical to itself');
  await shot(page, 'playground-embeddings');
  await page.getByTestId('tab-rerank').click();
  await page.getByTestId('model-rerank').locator('option', { hasText: 'rerank/default' }).waitFor({ state: 'attached', timeout: T });
  await page.getByTestId('rerank-run').click();
  await page.getByTestId('rerank-results').waitFor({ timeout: T });
  const scores = (await page.getByTestId('rerank-results').locator('.score').allInnerTexts()).map(Number);
  assert.equal(scores.length, 4);
  for (let i = 1; i < scores.length; i++) assert.ok(scores[i - 1] >= scores[i], `ordered by score: ${scores}`);
  await shot(page, 'playground-rerank');

  // Library: the demo models are there; a pull from the stand-in Hub shows progress to 100%.
  await page.getByTestId('nav-library').click();
  await page.getByTestId('library-table').locator('tr', { hasText: 'demo/' }).first().waitFor({ timeout: T });
  await page.getByTestId('pull-ref').fill('TheOrg/Tiny-GGUF');
  await page.getByTestId('pull').click();
  const seen = new Set();
  const deadline = Date.now() + T;
  for (;;) {
    const text = (await page.getByTestId('pull-percent').innerText().catch(() => '')).trim();
    if (text) seen.add(text);
    if (text === '100%') break;
    assert.ok(Date.now() < deadline, `the pull did not reach 100% (seen ${[...seen]})`);
    await page.waitForTimeout(25);
  }
  log('pull progress seen:', [...seen].join(' '));
  assert.ok([...seen].some((p) => p !== '0%' && p !== '100%'), 'a value between 0% and 100% was shown');
  await page.getByTestId('pull-progress').filter({ hasText: 'pulled' }).waitFor({ timeout: T });
  const pulled = page.getByTestId('library-table').locator('tr', { hasText: 'tiny' }).first();
  await pulled.waitFor({ timeout: T });
  await pulled.click();
  await page.getByTestId('library-details').waitFor({ timeout: T });
  await page.getByTestId('verify').click();
  await page.getByTestId('library-note').filter({ hasText: 'verified' }).waitFor({ timeout: T });
  await shot(page, 'library');

  // Metrics: charts of the server's own numbers, after a few scrapes.
  await page.getByTestId('nav-metrics').click();
  await page.getByTestId('chart-rps').locator('canvas').waitFor({ timeout: T });
  await page.waitForTimeout(5000);
  await shot(page, 'metrics');

  // Activity: the requests made above and the lifecycle events of the unload and load.
  await page.getByTestId('nav-activity').click();
  await page.getByTestId('requests-table').locator('tr', { hasText: '/v1/chat/completions' }).first().waitFor({ timeout: T });
  await page.getByTestId('events-list').locator('li', { hasText: 'unloaded' }).first().waitFor({ timeout: T });
  await shot(page, 'activity');
  await context.close();

  // Dark: prefers-color-scheme turns the palette.
  const dark = await launch();
  const darkProblems = watch(dark);
  const dpage = dark.pages()[0] ?? (await dark.newPage());
  await dpage.emulateMedia({ colorScheme: 'dark' });
  await dpage.goto(base + '/#/models');
  await row(dpage, 'chat/default').waitFor({ timeout: T });
  const bg = await dpage.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.notEqual(bg, 'rgb(246, 247, 249)', 'the dark palette applies');
  await shot(dpage, 'models-dark');
  await dark.close();
  assert.deepEqual([...problems, ...darkProblems], []);
}

async function auth() {
  const context = await launch();
  const problems = watch(context);
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(base + '/');
  await page.getByTestId('login').waitFor({ timeout: T });
  await shot(page, 'login');
  await page.getByTestId('api-key').fill('xk-not-a-key-of-this-server');
  await page.getByTestId('sign-in').click();
  await page.getByTestId('login-error').filter({ hasText: 'refused' }).waitFor({ timeout: T });
  assert.equal(await page.getByTestId('nav-models').count(), 0, 'a wrong key opens nothing');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('xervo.apiKey')), null, 'a refused key is not kept');
  await shot(page, 'login-refused');
  log('wrong key refused');

  // An inference key: the aliases it may call, no admin button, no library page.
  await page.getByTestId('api-key').fill(process.env.XERVO_INFERENCE_KEY);
  await page.getByTestId('sign-in').click();
  await row(page, 'chat/default').waitFor({ timeout: T });
  assert.match(await page.getByTestId('who').innerText(), /app/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('xervo.apiKey')), process.env.XERVO_INFERENCE_KEY);
  assert.ok(!page.url().includes(process.env.XERVO_INFERENCE_KEY), 'the key is never in the URL');
  for (const name of ['Load', 'Unload', 'Pin', 'Unpin', 'Swap', 'Rollback', 'Delete', 'Verify', 'Pull', 'Import'])
    assert.equal(await page.getByRole('button', { name, exact: true }).count(), 0, `no ${name} button for an inference key`);
  assert.equal(await page.getByTestId('nav-library').count(), 0, 'no library page');
  await page.getByTestId('nav-playground').waitFor({ timeout: T });
  await page.getByTestId('nav-activity').click();
  await page.getByTestId('batches-table').waitFor({ timeout: T });
  assert.equal(await page.getByTestId('requests-table').count(), 0, 'the admin request list is not shown');
  // The server refuses the admin API to this key whatever a page would show.
  const status = await page.evaluate(async (key) => {
    const r = await fetch('/v1/runtime/models/unload', { method: 'POST', headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' }, body: '{"model":"chat/default"}' });
    return r.status;
  }, process.env.XERVO_INFERENCE_KEY);
  assert.equal(status, 403);
  await page.getByTestId('nav-models').click();
  await row(page, 'chat/default').waitFor({ timeout: T });
  await shot(page, 'inference-key');
  log('inference key: no admin actions');

  // An admin key sees the actions.
  await page.getByTestId('sign-out').click();
  await page.getByTestId('api-key').fill(process.env.XERVO_ADMIN_KEY);
  await page.getByTestId('sign-in').click();
  await row(page, 'chat/default').waitFor({ timeout: T });
  await page.getByTestId('nav-library').waitFor({ timeout: T });
  await row(page, 'chat/default').getByRole('button', { name: 'Swap' }).waitFor({ timeout: T });
  await shot(page, 'admin-key');
  await context.close();
  assert.deepEqual(problems, []);
}

(async () => {
  fs.mkdirSync(shots, { recursive: true });
  if (scenario === 'operator') await operator();
  else if (scenario === 'auth') await auth();
  else throw new Error(`unknown scenario ${scenario}`);
  console.log(`ok: ${scenario}`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
