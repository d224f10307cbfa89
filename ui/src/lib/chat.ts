// The Playground's chat: the request body from its settings, and the text of each streamed chunk.

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatSettings {
  model: string;
  system: string;
  temperature: string; // as typed; empty: the server's default
  maxTokens: string;
  jsonSchema: string; // a JSON Schema object, or empty
}

export class InputError extends Error {}

function numberField(text: string, name: string, min: number, max: number, integer: boolean): number | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  const v = Number(t);
  if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v)))
    throw new InputError(`${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
  return v;
}

// The body of POST /v1/chat/completions (stream: true); InputError for a bad setting.
export function chatRequest(s: ChatSettings, history: ChatMessage[]): Record<string, unknown> {
  if (!s.model) throw new InputError('choose a model');
  const messages: ChatMessage[] = [];
  if (s.system.trim()) messages.push({ role: 'system', content: s.system });
  messages.push(...history.filter((m) => m.role !== 'system'));
  const body: Record<string, unknown> = { model: s.model, messages, stream: true, stream_options: { include_usage: true } };
  const temperature = numberField(s.temperature, 'temperature', 0, 2, false);
  if (temperature !== undefined) body.temperature = temperature;
  const maxTokens = numberField(s.maxTokens, 'max tokens', 1, 1_000_000, true);
  if (maxTokens !== undefined) body.max_tokens = maxTokens;
  if (s.jsonSchema.trim()) {
    let schema: unknown;
    try {
      schema = JSON.parse(s.jsonSchema);
    } catch (e) {
      throw new InputError(`the JSON schema is not valid JSON: ${(e as Error).message}`);
    }
    if (!schema || typeof schema !== 'object' || Array.isArray(schema))
      throw new InputError('the JSON schema must be a JSON object');
    body.response_format = { type: 'json_schema', json_schema: { name: 'playground', schema, strict: true } };
  }
  return body;
}

export interface ChunkText {
  text: string;
  finish: string | null;
  usage?: { prompt_tokens: number; completion_tokens: number };
}

// What one `data:` line of the stream adds; null for the closing [DONE].
export function chunkText(data: string): ChunkText | null {
  if (data.trim() === '[DONE]') return null;
  const j = JSON.parse(data) as {
    choices?: { delta?: { content?: string | null }; finish_reason?: string | null }[];
    usage?: { prompt_tokens: number; completion_tokens: number } | null;
    error?: { message?: string };
  };
  if (j.error) throw new Error(j.error.message ?? 'the stream reported an error');
  const c = j.choices?.[0];
  const out: ChunkText = { text: c?.delta?.content ?? '', finish: c?.finish_reason ?? null };
  if (j.usage) out.usage = j.usage;
  return out;
}
