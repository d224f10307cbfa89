// The official `openai` npm client against the Batch API of a running `xervo serve` (argv[2] = base
// URL ending in /v1; argv[3] = a folder for the input file). Aliases: chat/tiny, embed/tiny.
// files.create + batches.create + polling until completed; the output's custom_ids complete and
// unique. Exits non-zero on the first failure.
'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const OpenAI = require('openai');

const baseURL = process.argv[2];
const client = new OpenAI({ baseURL, apiKey: process.env.XERVO_TEST_KEY, maxRetries: 0, timeout: 120000 });

async function until_final(id) {
  const deadline = Date.now() + 240000;
  for (;;) {
    const batch = await client.batches.retrieve(id);
    if (['completed', 'failed', 'expired', 'cancelled'].includes(batch.status)) return batch;
    assert.ok(Date.now() < deadline, `batch ${id} still ${batch.status}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function lines_of(fileId) {
  const response = await client.files.content(fileId);
  const text = await response.text();
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
}

async function main() {
  const N = 20;
  const input = path.join(process.argv[3], 'requests.jsonl');
  const rows = [];
  for (let i = 0; i < N; i++)
    rows.push(JSON.stringify({
      custom_id: `req-${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'chat/tiny', max_tokens: 4, temperature: 0, messages: [{ role: 'user', content: `Say ${i}` }] },
    }));
  rows.push('{"custom_id": "broken", "method": "POST", "url": "/v1/chat/completions", "body": ');
  fs.writeFileSync(input, rows.join('\n') + '\n');

  const file = await client.files.create({ file: fs.createReadStream(input), purpose: 'batch' });
  assert.equal(file.object, 'file');
  assert.equal(file.purpose, 'batch');
  assert.equal(file.filename, 'requests.jsonl');
  assert.equal(file.bytes, fs.statSync(input).size);
  const listed = await client.files.list();
  assert.ok(listed.data.some((f) => f.id === file.id), 'files.list misses the upload');
  const again = await client.files.retrieve(file.id);
  assert.equal(again.id, file.id);

  const created = await client.batches.create({
    input_file_id: file.id,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
    metadata: { suite: 'e2e' },
  });
  assert.equal(created.object, 'batch');
  assert.equal(created.metadata.suite, 'e2e');
  const batch = await until_final(created.id);
  assert.equal(batch.status, 'completed', JSON.stringify(batch));
  assert.deepEqual(batch.request_counts, { total: N + 1, completed: N, failed: 1 });

  const output = await lines_of(batch.output_file_id);
  const ids = output.map((l) => l.custom_id);
  assert.equal(new Set(ids).size, ids.length, 'a custom_id appears twice');
  for (let i = 0; i < N; i++) assert.ok(ids.includes(`req-${i}`), `req-${i} missing`);
  for (const l of output) {
    assert.equal(l.response.status_code, 200);
    assert.equal(l.response.body.object, 'chat.completion');
    assert.equal(typeof l.response.body.choices[0].message.content, 'string');
  }
  const errors = await lines_of(batch.error_file_id);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].error.code, 'invalid_json');

  const page = await client.batches.list({ limit: 10 });
  assert.ok(page.data.some((b) => b.id === created.id), 'batches.list misses the batch');
  await assert.rejects(client.batches.cancel(created.id), (e) => e instanceof OpenAI.APIError && e.status === 409);
  const deleted = await client.files.del(file.id);
  assert.equal(deleted.deleted, true);
  await assert.rejects(client.files.retrieve(file.id), (e) => e instanceof OpenAI.NotFoundError);
  console.log(`ok: ${output.length} outputs, ${errors.length} error line(s)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
