// The official `@anthropic-ai/sdk` npm client, unchanged and with retries off, against a running
// `xervo serve` (argv[2] = base URL, no path). Alias: chat/tiny (a generated generator with random
// weights, so only shapes and self-consistency are checked; a forced tool choice still yields a
// valid call: the grammar guarantees it). Exits non-zero on the first failure.
'use strict';
const assert = require('node:assert/strict');
const Anthropic = require('@anthropic-ai/sdk');

const baseURL = process.argv[2];
const apiKey = process.env.XERVO_TEST_KEY;
// apiKey travels as `x-api-key`, authToken as `Authorization: Bearer`: both must work.
const client = new Anthropic({ baseURL, apiKey, maxRetries: 0, timeout: 120000 });
const bearer = new Anthropic({ baseURL, authToken: apiKey, apiKey: null, maxRetries: 0, timeout: 120000 });

const request = {
  model: 'chat/tiny',
  max_tokens: 16,
  temperature: 0,
  system: 'You are terse.',
  messages: [{ role: 'user', content: [{ type: 'text', text: 'Count with me' }] }],
};

const timeTool = {
  name: 'get_time',
  description: 'The time in a zone',
  input_schema: { type: 'object', properties: { zone: { type: 'string', enum: ['UTC', 'CET'] } }, required: ['zone'] },
};

// Tools: a forced call (tool_choice tool), the same call streamed (input_json_delta pieces), and
// the call's tool_result going back in.
async function checkTools() {
  const ask = {
    model: 'chat/tiny',
    max_tokens: 64,
    temperature: 0,
    tools: [timeTool],
    tool_choice: { type: 'tool', name: 'get_time' },
    messages: [{ role: 'user', content: 'What time is it in Paris?' }],
  };
  const called = await client.messages.create(ask);
  assert.equal(called.stop_reason, 'tool_use', JSON.stringify(called));
  const use = called.content.find((b) => b.type === 'tool_use');
  assert.ok(use, JSON.stringify(called.content));
  assert.equal(use.name, 'get_time');
  assert.ok(use.id.startsWith('toolu_') || use.id.length > 0, use.id);
  assert.ok(['UTC', 'CET'].includes(use.input.zone), JSON.stringify(use.input));

  const stream = client.messages.stream(ask);
  let pieces = 0;
  stream.on('inputJson', () => pieces++);
  const streamed = await stream.finalMessage();
  const streamedUse = streamed.content.find((b) => b.type === 'tool_use');
  assert.ok(streamedUse, JSON.stringify(streamed.content));
  assert.deepEqual(streamedUse.input, use.input);
  assert.equal(streamed.stop_reason, 'tool_use');
  assert.ok(pieces >= 1, 'no input_json_delta events');

  const answered = await client.messages.create({
    ...ask,
    tool_choice: { type: 'auto' },
    max_tokens: 8,
    messages: [
      ...ask.messages,
      { role: 'assistant', content: [use] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '12:00' }] },
    ],
  });
  assert.equal(answered.type, 'message');
  // The tool definitions and the result reach the prompt: it is longer than the bare question.
  const bare = await client.messages.countTokens({ model: 'chat/tiny', messages: ask.messages });
  const withTools = await client.messages.countTokens({ model: 'chat/tiny', messages: ask.messages, tools: [timeTool] });
  assert.ok(withTools.input_tokens > bare.input_tokens, `${withTools.input_tokens} <= ${bare.input_tokens}`);
  assert.ok(answered.usage.input_tokens > withTools.input_tokens, JSON.stringify(answered.usage));
  return `call ${JSON.stringify(use.input)} (${pieces} streamed pieces)`;
}

function textOf(message) {
  return message.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
}

async function main() {
  const created = await client.messages.create(request);
  assert.equal(created.type, 'message');
  assert.equal(created.role, 'assistant');
  assert.equal(created.model, 'chat/tiny');
  assert.ok(created.id.startsWith('msg_'), created.id);
  assert.ok(['end_turn', 'max_tokens'].includes(created.stop_reason), created.stop_reason);
  assert.ok(created.usage.input_tokens > 0, JSON.stringify(created.usage));
  assert.ok(created.usage.output_tokens > 0 && created.usage.output_tokens <= 16, JSON.stringify(created.usage));
  assert.equal(created.content[0].type, 'text');

  // The SDK's stream helper reassembles the events into the same message (greedy, same prompt).
  const stream = client.messages.stream(request);
  let streamedText = '';
  stream.on('text', (delta) => {
    streamedText += delta;
  });
  const final = await stream.finalMessage();
  assert.equal(textOf(final), textOf(created));
  assert.equal(streamedText, textOf(created));
  assert.equal(final.stop_reason, created.stop_reason);
  assert.deepEqual(final.usage.input_tokens, created.usage.input_tokens);
  assert.equal(final.usage.output_tokens, created.usage.output_tokens);

  // The raw events, in Anthropic's order.
  const raw = await client.messages.create({ ...request, stream: true });
  const names = [];
  for await (const event of raw) names.push(event.type);
  assert.equal(names[0], 'message_start');
  assert.equal(names[1], 'content_block_start');
  assert.equal(names.at(-2), 'message_delta');
  assert.equal(names.at(-1), 'message_stop');
  assert.ok(names.includes('content_block_stop'), names.join(','));

  // count_tokens tokenizes the prompt the generation used.
  const counted = await bearer.messages.countTokens({
    model: 'chat/tiny',
    system: request.system,
    messages: request.messages,
  });
  assert.equal(counted.input_tokens, created.usage.input_tokens);

  // A stop sequence from the middle of the known greedy text ends the answer before it.
  const chars = Array.from(textOf(created));
  let stopNote = 'skipped (answer too short)';
  if (chars.length >= 6) {
    const stop = chars.slice(Math.floor(chars.length / 2), Math.floor(chars.length / 2) + 3).join('');
    const stopped = await client.messages.create({ ...request, stop_sequences: [stop] });
    assert.equal(stopped.stop_reason, 'stop_sequence', JSON.stringify(stopped));
    assert.equal(stopped.stop_sequence, stop);
    assert.equal(textOf(stopped), textOf(created).slice(0, textOf(created).indexOf(stop)));
    stopNote = `stop ${JSON.stringify(stop)}`;
  }

  // Errors arrive in Anthropic's shape, as the SDK's typed errors.
  await assert.rejects(
    client.messages.create({ ...request, model: 'chat/none' }),
    (e) => e instanceof Anthropic.NotFoundError && e.status === 404 && e.error?.error?.type === 'not_found_error',
  );
  await assert.rejects(
    client.messages.create({
      ...request,
      messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }] }],
    }),
    (e) => e instanceof Anthropic.BadRequestError && e.error?.error?.type === 'invalid_request_error',
  );
  const stranger = new Anthropic({ baseURL, apiKey: 'wrong-key', maxRetries: 0 });
  await assert.rejects(
    stranger.messages.countTokens({ model: 'chat/tiny', messages: request.messages }),
    (e) => e instanceof Anthropic.AuthenticationError && e.error?.error?.type === 'authentication_error',
  );
  const toolNote = await checkTools();
  console.log(`ok: ${created.usage.output_tokens} tokens, ${names.length} stream events, ` +
              `${counted.input_tokens} prompt tokens counted, ${stopNote}, ${toolNote}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
