// The official `openai` npm client against a running `xervo serve` (argv[2] = base URL ending in
// /v1). Aliases: embed/tiny (embedder), chat/tiny (generator). Exits non-zero on the first failure.
'use strict';
const assert = require('node:assert/strict');
const OpenAI = require('openai');

const baseURL = process.argv[2];
const client = new OpenAI({ baseURL, apiKey: process.env.XERVO_TEST_KEY, maxRetries: 0, timeout: 120000 });

async function main() {
  const models = await client.models.list();
  const ids = models.data.map((m) => m.id);
  assert.ok(ids.includes('embed/tiny') && ids.includes('chat/tiny'), `models.list: ${ids}`);

  // The SDK asks for base64 by default and decodes it; compare with an explicit float request.
  const b64 = await client.embeddings.create({ model: 'embed/tiny', input: ['hello world', 'good morning'] });
  assert.equal(b64.data.length, 2);
  const dims = b64.data[0].embedding.length;
  assert.ok(dims > 0, 'empty vector');
  assert.ok(b64.data.every((d) => d.embedding.every(Number.isFinite)), 'non-finite values');
  assert.ok(b64.usage.prompt_tokens > 0);
  const floats = await client.embeddings.create({ model: 'embed/tiny', input: 'hello world', encoding_format: 'float' });
  assert.equal(floats.data[0].embedding.length, dims);
  floats.data[0].embedding.forEach((v, i) => assert.ok(Math.abs(v - b64.data[0].embedding[i]) < 1e-5, `component ${i}`));

  const chat = await client.chat.completions.create({
    model: 'chat/tiny',
    messages: [{ role: 'user', content: 'Say hello' }],
    max_tokens: 8,
    temperature: 0,
  });
  assert.equal(chat.object, 'chat.completion');
  assert.equal(typeof chat.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(chat.choices[0].finish_reason));
  assert.ok(chat.usage.completion_tokens > 0 && chat.usage.completion_tokens <= 8);

  const stream = await client.chat.completions.create({
    model: 'chat/tiny',
    messages: [{ role: 'user', content: 'Count to three' }],
    max_tokens: 8,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) text += c.delta?.content ?? '';
  }
  assert.ok(chunks >= 2, `only ${chunks} chunks`);
  assert.ok(usage && usage.completion_tokens > 0, 'no usage chunk');
  assert.equal(typeof text, 'string');

  const schema = {
    type: 'object',
    properties: { ok: { type: 'boolean' } },
    required: ['ok'],
    additionalProperties: false,
  };
  const structured = await client.chat.completions.create({
    model: 'chat/tiny',
    messages: [{ role: 'user', content: 'Answer in JSON' }],
    max_tokens: 64,
    temperature: 0,
    response_format: { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } },
  });
  const parsed = JSON.parse(structured.choices[0].message.content);
  assert.equal(typeof parsed.ok, 'boolean', structured.choices[0].message.content);

  await assert.rejects(
    client.embeddings.create({ model: 'embed/none', input: 'x' }),
    (e) => e instanceof OpenAI.APIError && e.status === 404 && e.code === 'alias_not_found',
  );
  const anonymous = new OpenAI({ baseURL, apiKey: 'wrong-key', maxRetries: 0 });
  await assert.rejects(anonymous.models.list(), (e) => e instanceof OpenAI.AuthenticationError);
  console.log(`ok: ${ids.length} models, ${dims}-dim embeddings, ${chunks} stream chunks`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
