// The official `ollama` npm client, unchanged, against a running `xervo serve` (argv[2] = the
// server's base URL, XERVO_TEST_KEY = an inference key sent through the client's `headers` option).
// Aliases: embed/tiny (embedder), chat/tiny (generator), chat/remote (an OpenAI-compatible upstream
// the test runs: with tools it calls the first one with {"zone": "UTC"}, after a tool result it
// answers "It is RESULT."). Exits non-zero on the first failure.
'use strict';
const assert = require('node:assert/strict');
const { Ollama } = require('ollama');

const host = process.argv[2];
const ollama = new Ollama({ host, headers: { Authorization: `Bearer ${process.env.XERVO_TEST_KEY}` } });

async function expectError(promise, status, text) {
  try {
    await promise;
  } catch (e) {
    assert.equal(e.name, 'ResponseError', `not a ResponseError: ${e}`);
    assert.equal(e.status_code, status, `status ${e.status_code}: ${e.error}`);
    assert.equal(typeof e.error, 'string', 'the error is a message, not an object');
    if (text) assert.ok(e.error.includes(text), `error "${e.error}" lacks "${text}"`);
    return;
  }
  assert.fail(`expected an error ${status}`);
}

const timeTool = {
  type: 'function',
  function: {
    name: 'get_time',
    description: 'The time in a zone',
    parameters: { type: 'object', properties: { zone: { type: 'string', enum: ['UTC', 'CET'] } }, required: ['zone'] },
  },
};

// Tools through Ollama's shapes: a call (arguments as an object), the same call streamed, the
// tool result going back as a `tool` message; and on the local model the tools reach the prompt.
async function checkTools() {
  const ask = { model: 'chat/remote', messages: [{ role: 'user', content: 'What time is it?' }], tools: [timeTool] };
  const called = await ollama.chat(ask);
  assert.equal(called.done, true);
  const calls = called.message.tool_calls;
  assert.ok(Array.isArray(calls) && calls.length === 1, JSON.stringify(called.message));
  assert.equal(calls[0].function.name, 'get_time');
  assert.deepEqual(calls[0].function.arguments, { zone: 'UTC' });

  const streamed = await ollama.chat({ ...ask, stream: true });
  const streamedCalls = [];
  for await (const part of streamed) if (part.message.tool_calls) streamedCalls.push(...part.message.tool_calls);
  assert.equal(streamedCalls.length, 1, JSON.stringify(streamedCalls));
  assert.deepEqual(streamedCalls[0].function, calls[0].function);

  const answered = await ollama.chat({
    ...ask,
    messages: [...ask.messages, called.message, { role: 'tool', content: '12:00', tool_name: 'get_time' }],
  });
  assert.equal(answered.message.content, 'It is 12:00.');

  const local = { model: 'chat/tiny', messages: ask.messages, options: { num_predict: 4, temperature: 0 } };
  const plain = await ollama.chat(local);
  const withTools = await ollama.chat({ ...local, tools: [timeTool] });
  assert.ok(withTools.prompt_eval_count > plain.prompt_eval_count,
            `tools did not reach the prompt: ${withTools.prompt_eval_count} <= ${plain.prompt_eval_count}`);
  return `tool call ${JSON.stringify(calls[0].function.arguments)}`;
}

async function main() {
  const version = await ollama.version();
  assert.equal(typeof version.version, 'string');

  const tags = await ollama.list();
  const names = tags.models.map((m) => m.name);
  assert.ok(names.includes('chat/tiny') && names.includes('embed/tiny'), `tags: ${names}`);
  const tiny = tags.models.find((m) => m.name === 'chat/tiny');
  assert.equal(tiny.details.format, 'gguf');
  assert.ok(tiny.size > 0 && tiny.digest.length === 64);

  const show = await ollama.show({ model: 'chat/tiny' });
  assert.equal(show.details.family, 'llama');
  assert.ok(show.capabilities.includes('completion'), `capabilities: ${show.capabilities}`);
  assert.equal(typeof show.template, 'string');
  assert.ok(show.model_info['general.parameter_count'] > 0);

  const chat = await ollama.chat({
    model: 'chat/tiny',
    messages: [{ role: 'user', content: 'Say hello' }],
    options: { num_predict: 8, temperature: 0 },
  });
  assert.equal(chat.message.role, 'assistant');
  assert.equal(typeof chat.message.content, 'string');
  assert.equal(chat.done, true);
  assert.ok(['stop', 'length'].includes(chat.done_reason), chat.done_reason);
  assert.ok(chat.eval_count > 0 && chat.eval_count <= 8, `eval_count ${chat.eval_count}`);
  assert.ok(chat.prompt_eval_count > 0);
  assert.ok(chat.total_duration >= chat.prompt_eval_duration + chat.eval_duration);

  const stream = await ollama.chat({
    model: 'chat/tiny',
    messages: [{ role: 'user', content: 'Count to three' }],
    options: { num_predict: 8, temperature: 0 },
    stream: true,
  });
  let parts = 0;
  let last = null;
  for await (const part of stream) {
    parts++;
    last = part;
  }
  assert.ok(parts >= 2, `only ${parts} parts`);
  assert.equal(last.done, true);
  assert.ok(last.eval_count > 0);

  const json = await ollama.chat({
    model: 'chat/tiny',
    messages: [{ role: 'user', content: 'JSON please' }],
    format: 'json',
    options: { num_predict: 16, temperature: 0 },
  });
  assert.ok(json.message.content.trimStart().startsWith('{'), `format json: ${json.message.content}`);

  const gen = await ollama.generate({ model: 'chat/tiny', prompt: 'Once upon a time', options: { num_predict: 4 } });
  assert.equal(typeof gen.response, 'string');
  assert.equal(gen.done, true);
  assert.ok(gen.eval_count > 0 && gen.eval_count <= 4);

  const embed = await ollama.embed({ model: 'embed/tiny', input: ['hello world', 'good morning'] });
  assert.equal(embed.embeddings.length, 2);
  const dims = embed.embeddings[0].length;
  assert.ok(dims > 0 && embed.embeddings.every((v) => v.length === dims && v.every(Number.isFinite)));
  assert.ok(embed.prompt_eval_count > 0);
  const old = await ollama.embeddings({ model: 'embed/tiny', prompt: 'hello world' });
  assert.equal(old.embedding.length, dims);
  old.embedding.forEach((v, i) => assert.ok(Math.abs(v - embed.embeddings[0][i]) < 1e-4, `component ${i}`));

  const ps = await ollama.ps();
  const loaded = ps.models.find((m) => m.name === 'chat/tiny');
  assert.ok(loaded && loaded.size > 0 && loaded.size_vram === 0, `ps: ${JSON.stringify(ps)}`);
  // An empty prompt with keep_alive 0 unloads it, as in Ollama.
  const unload = await ollama.generate({ model: 'chat/tiny', prompt: '', keep_alive: 0 });
  assert.equal(unload.done_reason, 'unload');
  assert.ok(!(await ollama.ps()).models.some((m) => m.name === 'chat/tiny'), 'still loaded after unload');

  await expectError(ollama.chat({ model: 'no/such', messages: [{ role: 'user', content: 'x' }] }), 404, 'no/such');
  await expectError(
    ollama.chat({ model: 'chat/tiny', messages: [{ role: 'user', content: 'x', images: ['aGk='] }] }),
    400,
    'images',
  );
  await expectError(new Ollama({ host }).list(), 401);
  const toolNote = await checkTools();
  console.log(`ok: ${names.length} models, ${dims} dimensions, ${parts} streamed parts, ${toolNote}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
