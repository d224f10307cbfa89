// The official `openai` npm client asking `xervo serve` for n choices and logprobs (argv[2] = base
// URL ending in /v1; alias chat/tiny is a generated llama.cpp model with 4 parallel slots).
// Exits non-zero on the first failure.
'use strict';
const assert = require('node:assert/strict');
const OpenAI = require('openai');

const client = new OpenAI({ baseURL: process.argv[2], apiKey: 'unused', maxRetries: 0, timeout: 120000 });
const messages = [{ role: 'user', content: 'Tell me a story' }];

async function main() {
  // n = 3 with a seed: three different answers, the prompt counted once.
  const one = await client.chat.completions.create({ model: 'chat/tiny', messages, max_tokens: 12, temperature: 1, seed: 42 });
  const three = await client.chat.completions.create({
    model: 'chat/tiny', messages, max_tokens: 12, temperature: 1, seed: 42, n: 3,
  });
  assert.equal(three.choices.length, 3);
  assert.deepEqual(three.choices.map((c) => c.index), [0, 1, 2]);
  const texts = new Set(three.choices.map((c) => c.message.content));
  assert.equal(texts.size, 3, `n = 3 gave ${[...texts]}`);
  assert.equal(three.choices[0].message.content, one.choices[0].message.content, 'choice 0 is what n = 1 draws');
  assert.equal(three.usage.prompt_tokens, one.usage.prompt_tokens, 'the prompt counts once');
  assert.ok(three.usage.completion_tokens > one.usage.completion_tokens);

  // Greedy logprobs with alternatives: the chosen token leads them.
  const lp = await client.chat.completions.create({
    model: 'chat/tiny', messages, max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3,
  });
  const content = lp.choices[0].logprobs.content;
  assert.equal(content.length, lp.usage.completion_tokens);
  for (const t of content) {
    assert.ok(t.logprob <= 0 && Number.isFinite(t.logprob), `logprob ${t.logprob}`);
    assert.equal(t.top_logprobs.length, 3);
    assert.equal(t.top_logprobs[0].token, t.token);
    assert.ok(Array.isArray(t.bytes));
  }

  // Streamed: each chunk names its choice; the text and logprobs reassemble to the whole answer's.
  const stream = await client.chat.completions.create({
    model: 'chat/tiny', messages, max_tokens: 8, temperature: 1, seed: 9, n: 2, logprobs: true, stream: true,
  });
  const streamed = ['', ''];
  const tokens = [[], []];
  const finished = [null, null];
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      streamed[c.index] += c.delta?.content ?? '';
      for (const t of c.logprobs?.content ?? []) tokens[c.index].push(t.logprob);
      if (c.finish_reason) finished[c.index] = c.finish_reason;
    }
  }
  const whole = await client.chat.completions.create({
    model: 'chat/tiny', messages, max_tokens: 8, temperature: 1, seed: 9, n: 2, logprobs: true,
  });
  for (const i of [0, 1]) {
    assert.equal(streamed[i], whole.choices[i].message.content, `choice ${i} streamed`);
    assert.equal(tokens[i].length, whole.choices[i].logprobs.content.length);
    assert.ok(['stop', 'length'].includes(finished[i]));
  }

  // Legacy completions: logprobs is the number of alternatives.
  const legacy = await client.completions.create({ model: 'chat/tiny', prompt: 'Once upon a time', max_tokens: 5, temperature: 0, logprobs: 2 });
  const l = legacy.choices[0].logprobs;
  assert.equal(l.tokens.length, legacy.usage.completion_tokens);
  assert.equal(l.tokens.join(''), legacy.choices[0].text);
  assert.equal(l.text_offset[0], 0);
  assert.equal(Object.keys(l.top_logprobs[0]).length <= 2, true);

  // Out of range: the SDK surfaces the 400 naming the field.
  await assert.rejects(
    client.chat.completions.create({ model: 'chat/tiny', messages, max_tokens: 2, n: 5 }),
    (e) => e instanceof OpenAI.BadRequestError && /parallel/.test(e.message),
  );
  console.log(`ok: n = 3 gave ${texts.size} texts, ${content.length} logprobs`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
