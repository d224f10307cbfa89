// The npm `ws` client against a running `xervo serve` (argv[2] = its base URL, http://HOST:PORT),
// alias chat/tiny (a generated llama), key in XERVO_TEST_KEY. Exits non-zero on the first failure.
'use strict';
const assert = require('node:assert/strict');
const WebSocket = require('ws');

const base = process.argv[2];
const wsURL = base.replace(/^http/, 'ws') + '/v1/ws';
const key = process.env.XERVO_TEST_KEY;
const limit = (ms, what) =>
  new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms).unref());

// Opens a connection; rejects with the HTTP status when the upgrade is refused.
function open(protocols, options = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsURL, protocols, options);
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error('refused'), { status: res.statusCode })));
    ws.once('error', reject);
  });
}

// Every message of a connection, and waits for the first one that matches.
class Session {
  constructor(ws) {
    this.ws = ws;
    this.messages = [];
    this.waiters = [];
    ws.on('message', (data, isBinary) => {
      assert.equal(isBinary, false, 'the server sends text');
      const m = JSON.parse(data.toString('utf8'));
      this.messages.push(m);
      const waiting = [];
      for (const w of this.waiters) {
        if (w.match(m)) w.resolve(m);
        else waiting.push(w);
      }
      this.waiters = waiting;
    });
  }
  send(m) {
    this.ws.send(typeof m === 'string' ? m : JSON.stringify(m));
  }
  next(match, what) {
    const seen = this.messages.find(match);
    if (seen) return Promise.resolve(seen);
    return Promise.race([new Promise((resolve) => this.waiters.push({ match, resolve })), limit(120000, what)]);
  }
  text(id) {
    return this.messages.filter((m) => m.type === 'delta' && m.id === id).map((m) => m.content).join('');
  }
}
const is = (type, id) => (m) => m.type === type && m.id === id;
const generate = (id, extra) => ({
  type: 'generate',
  id,
  model: 'chat/tiny',
  messages: [{ role: 'user', content: 'Count to ten' }],
  temperature: 0,
  ...extra,
});

async function metric(line) {
  const res = await fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${key}` } });
  const text = await res.text();
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found ? Number(found.slice(line.length + 1)) : 0;
}

async function main() {
  await assert.rejects(open(['xervo.v1']), (e) => e.status === 401, 'no key');
  await assert.rejects(open(['xervo.v1', 'bearer.wrong-key']), (e) => e.status === 401, 'wrong key');
  // A page of another origin is refused even with a valid key.
  await assert.rejects(
    open(['xervo.v1', `bearer.${key}`], { headers: { Origin: 'http://evil.example' } }),
    (e) => e.status === 403,
  );

  // A browser's way to send the key: as a subprotocol. The server answers with xervo.v1 only.
  const ws = await open(['xervo.v1', `bearer.${key}`]);
  assert.equal(ws.protocol, 'xervo.v1');
  const s = new Session(ws);

  // Two at once over one connection, each tagged with its id.
  s.send(generate('a', { max_tokens: 8 }));
  s.send({ type: 'generate', id: 'b', model: 'chat/tiny', prompt: 'Once upon a time', max_tokens: 6, temperature: 0 });
  const [doneA, doneB] = await Promise.all([s.next(is('done', 'a'), 'done a'), s.next(is('done', 'b'), 'done b')]);
  for (const [done, max] of [[doneA, 8], [doneB, 6]]) {
    assert.ok(['stop', 'length'].includes(done.finish_reason), JSON.stringify(done));
    assert.ok(done.usage.completion_tokens > 0 && done.usage.completion_tokens <= max, JSON.stringify(done));
    assert.ok(done.usage.prompt_tokens > 0);
    assert.equal(done.model, 'chat/tiny');
  }
  assert.ok(s.messages.filter(is('delta', 'a')).length > 0 && s.messages.filter(is('delta', 'b')).length > 0);
  assert.equal(typeof s.text('a'), 'string');

  // Cancel one: it ends with finish_reason "cancelled", long before its max_tokens.
  s.send(generate('c', { max_tokens: 4000 }));
  await s.next(is('delta', 'c'), 'first delta of c');
  s.send({ type: 'cancel', id: 'c' });
  const doneC = await s.next(is('done', 'c'), 'done c');
  assert.equal(doneC.finish_reason, 'cancelled', JSON.stringify(doneC));
  assert.ok(doneC.usage.completion_tokens < 4000);

  // Errors come tagged, and the connection goes on.
  s.send('{"type": "generate",');
  const bad = await s.next((m) => m.type === 'error' && m.id === null, 'bad JSON error');
  assert.equal(bad.error.code, 'invalid_input');
  s.send(generate('x', { model: 'chat/none' }));
  assert.equal((await s.next(is('error', 'x'), 'unknown alias')).error.code, 'alias_not_found');
  s.send({ type: 'launch', id: 'y' });
  assert.equal((await s.next(is('error', 'y'), 'unknown type')).error.code, 'invalid_input');
  s.send({ type: 'ping', id: 'p' });
  await s.next(is('pong', 'p'), 'pong');

  // Closing the socket cancels what still runs: the server counts it as ended by the client (499).
  const before = await metric('xervo_http_requests_total{route="/v1/ws",model="chat/tiny",status="499"}');
  assert.equal(before, 1, 'the cancel above');
  s.send(generate('d', { max_tokens: 4000 }));
  await s.next(is('delta', 'd'), 'first delta of d');
  const closed = new Promise((resolve) => ws.once('close', resolve));
  ws.terminate();
  await closed;
  for (let i = 0; ; i++) {
    if ((await metric('xervo_http_requests_total{route="/v1/ws",model="chat/tiny",status="499"}')) === 2) break;
    assert.ok(i < 600, 'the closed connection did not end its generation');
    await new Promise((r) => setTimeout(r, 100));
  }

  // Non-browser clients send the Authorization header as for HTTP.
  const ws2 = await open(['xervo.v1'], { headers: { Authorization: `Bearer ${key}` } });
  const s2 = new Session(ws2);
  s2.send({ type: 'ping' });
  await s2.next((m) => m.type === 'pong', 'pong on the header-authenticated connection');
  const gone = new Promise((resolve) => ws2.once('close', (code) => resolve(code)));
  ws2.close(1000, 'bye');
  assert.equal(await gone, 1000);
  console.log(`ok: ${s.messages.length} messages; a: ${JSON.stringify(s.text('a'))}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
