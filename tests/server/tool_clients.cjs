// Tool calling and reasoning through three unchanged npm clients against a running `xervo serve`
// (argv[2] = base URL ending in /v1), retries off: the official `openai` SDK, the Vercel AI SDK
// (`ai` + `@ai-sdk/openai-compatible`) and LangChain.js (`@langchain/openai`). Aliases:
// chat/tools (generated ChatML model: tools go into the system prompt), chat/hermes (Hermes 3
// template: native tools), chat/think (DeepSeek-R1 template: the prompt opens <think>).
// Exits non-zero on the first failure.
'use strict';
const assert = require('node:assert/strict');
const OpenAI = require('openai');
const { generateText, streamText, jsonSchema, tool } = require('ai');
const { createOpenAICompatible } = require('@ai-sdk/openai-compatible');
const { ChatOpenAI } = require('@langchain/openai');

const baseURL = process.argv[2];
const apiKey = process.env.XERVO_TEST_KEY;

// Only bounded values: a random-weight model never ends a free string on its own.
const weatherParams = {
  type: 'object',
  properties: {
    city: { type: 'string', enum: ['Paris', 'Oslo', 'Lima'] },
    days: { type: 'integer', minimum: 1, maximum: 9 },
    metric: { type: 'boolean' },
  },
  required: ['city', 'days', 'metric'],
  additionalProperties: false,
};
const timeParams = {
  type: 'object',
  properties: { zone: { type: 'string', enum: ['UTC', 'CET'] } },
  required: ['zone'],
  additionalProperties: false,
};
const tools = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters: weatherParams } },
  { type: 'function', function: { name: 'get_time', description: 'Time in a zone', parameters: timeParams } },
];
const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];

function checkArgs(name, args, where) {
  assert.equal(typeof args, 'object', `${where}: arguments ${JSON.stringify(args)}`);
  if (name === 'get_weather') {
    assert.deepEqual(Object.keys(args).sort(), ['city', 'days', 'metric'], `${where}: ${JSON.stringify(args)}`);
    assert.ok(['Paris', 'Oslo', 'Lima'].includes(args.city), `${where}: city ${args.city}`);
    assert.ok(Number.isInteger(args.days) && args.days >= 1 && args.days <= 9, `${where}: days ${args.days}`);
    assert.equal(typeof args.metric, 'boolean', `${where}: metric`);
  } else {
    assert.equal(name, 'get_time', `${where}: unknown function ${name}`);
    assert.deepEqual(Object.keys(args), ['zone'], `${where}: ${JSON.stringify(args)}`);
    assert.ok(['UTC', 'CET'].includes(args.zone), `${where}: zone ${args.zone}`);
  }
}

async function withOpenAI() {
  const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120000 });
  for (const model of ['chat/tools', 'chat/hermes']) {
    // A named function: that call, with arguments matching its schema.
    const named = await client.chat.completions.create({
      model, messages, tools, max_tokens: 200, temperature: 0.9, seed: 11,
      tool_choice: { type: 'function', function: { name: 'get_time' } },
    });
    const nc = named.choices[0];
    assert.equal(nc.finish_reason, 'tool_calls', `${model} named: ${JSON.stringify(nc)}`);
    assert.equal(nc.message.tool_calls[0].type, 'function');
    assert.match(nc.message.tool_calls[0].id, /^call_/);
    for (const c of nc.message.tool_calls) {
      assert.equal(c.function.name, 'get_time');
      checkArgs(c.function.name, JSON.parse(c.function.arguments), `${model} named`);
    }

    // required, greedy with a seed, whole and streamed: the streamed call reassembles to the whole one.
    const request = { model, messages, tools, tool_choice: 'required', parallel_tool_calls: false, max_tokens: 200,
      temperature: 0, seed: 5 };
    const whole = await client.chat.completions.create(request);
    const call = whole.choices[0].message.tool_calls;
    assert.equal(call.length, 1, `${model} required: ${JSON.stringify(whole.choices[0])}`);
    checkArgs(call[0].function.name, JSON.parse(call[0].function.arguments), `${model} required`);

    const stream = await client.chat.completions.create({ ...request, stream: true });
    const calls = [];
    let finish = null;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (!choice) continue;
      if (choice.finish_reason) finish = choice.finish_reason;
      for (const t of choice.delta.tool_calls || []) {
        if (!calls[t.index]) {
          assert.ok(t.id && t.function.name, `${model}: a call's first delta names it: ${JSON.stringify(t)}`);
          calls[t.index] = { id: t.id, name: t.function.name, arguments: '' };
        }
        calls[t.index].arguments += t.function.arguments || '';
      }
    }
    assert.equal(finish, 'tool_calls');
    assert.equal(calls.length, 1);
    assert.equal(calls[0].name, call[0].function.name);
    assert.equal(calls[0].arguments, call[0].function.arguments, `${model}: streamed vs whole arguments`);

    // The call and its result go back in; the model answers (or calls again), and the server accepts it.
    const next = await client.chat.completions.create({
      model, tools, max_tokens: 8, temperature: 0, tool_choice: 'none',
      messages: [...messages, whole.choices[0].message,
        { role: 'tool', tool_call_id: call[0].id, content: '{"temperature": 21}' }],
    });
    assert.ok(['stop', 'length'].includes(next.choices[0].finish_reason));
    assert.equal(next.choices[0].message.tool_calls, undefined);
  }

  // Bad tool definitions are OpenAI-shaped 400s.
  await assert.rejects(
    client.chat.completions.create({ model: 'chat/tools', messages, tools: [tools[0], tools[0]] }),
    (e) => e.status === 400 && /used twice/.test(e.message));
  await assert.rejects(
    client.chat.completions.create({ model: 'chat/tools', messages, tools,
      tool_choice: { type: 'function', function: { name: 'nope' } } }),
    (e) => e.status === 400 && /not among 'tools'/.test(e.message));

  // Reasoning: apart by default, inline with reasoning_format "none".
  const think = await client.chat.completions.create({ model: 'chat/think', messages, max_tokens: 12, temperature: 0 });
  const m = think.choices[0].message;
  assert.ok(m.reasoning_content && m.reasoning_content.length > 0, `reasoning: ${JSON.stringify(m)}`);
  const inline = await client.chat.completions.create({ model: 'chat/think', messages, max_tokens: 12, temperature: 0,
    reasoning_format: 'none' });
  assert.equal(inline.choices[0].message.reasoning_content, undefined);
  assert.ok(inline.choices[0].message.content.includes(m.reasoning_content.trim()), JSON.stringify(inline.choices[0]));
  const thinking = await client.chat.completions.create({ model: 'chat/think', messages, max_tokens: 12, temperature: 0,
    stream: true });
  let streamed = '';
  for await (const chunk of thinking) streamed += (chunk.choices[0] && chunk.choices[0].delta.reasoning_content) || '';
  assert.equal(streamed, m.reasoning_content);
}

async function withVercelAI() {
  const provider = createOpenAICompatible({ name: 'xervo', baseURL, apiKey });
  const aiTools = {
    get_weather: tool({ description: 'Weather in a city', inputSchema: jsonSchema(weatherParams) }),
    get_time: tool({ description: 'Time in a zone', inputSchema: jsonSchema(timeParams) }),
  };
  for (const model of ['chat/tools', 'chat/hermes']) {
    const options = { model: provider.chatModel(model), tools: aiTools, toolChoice: { type: 'tool', toolName: 'get_weather' },
      prompt: 'What is the weather in Paris?', maxRetries: 0, temperature: 0, seed: 3, maxOutputTokens: 200 };
    const whole = await generateText(options);
    assert.ok(whole.toolCalls.length >= 1, `ai ${model}: ${JSON.stringify(whole.response.body || whole.text)}`);
    for (const c of whole.toolCalls) {
      assert.equal(c.toolName, 'get_weather');
      checkArgs(c.toolName, c.input, `ai ${model}`);
    }
    assert.equal(whole.finishReason, 'tool-calls');
    const streamed = streamText(options);
    const calls = await streamed.toolCalls;
    assert.deepEqual(calls.map((c) => c.input), whole.toolCalls.map((c) => c.input), `ai ${model}: streamed vs whole`);
  }
}

async function withLangChain() {
  for (const model of ['chat/tools', 'chat/hermes']) {
    const llm = new ChatOpenAI({ model, apiKey, configuration: { baseURL }, maxRetries: 0, temperature: 0, maxTokens: 200,
      streaming: false });
    const bound = llm.bindTools(tools, { tool_choice: 'required' });
    const msg = await bound.invoke('What is the weather in Paris?');
    assert.ok(msg.tool_calls.length >= 1, `langchain ${model}: ${JSON.stringify(msg)}`);
    for (const c of msg.tool_calls) checkArgs(c.name, c.args, `langchain ${model}`);
    // Streamed: the chunks concatenate to the same calls.
    let acc;
    for await (const chunk of await bound.stream('What is the weather in Paris?')) acc = acc ? acc.concat(chunk) : chunk;
    assert.deepEqual(acc.tool_calls.map((c) => c.args), msg.tool_calls.map((c) => c.args), `langchain ${model} stream`);
  }
}

async function main() {
  await withOpenAI();
  console.log('ok: openai');
  await withVercelAI();
  console.log('ok: ai');
  await withLangChain();
  console.log('ok: langchain');
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
