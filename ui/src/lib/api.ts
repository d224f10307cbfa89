// Calls to the server this page came from: the key goes in the Authorization header (never in a
// URL), errors become ApiError with the server's message, whichever API family's shape it used.
import { loadKey } from './auth';
import { LineSplitter, SseParser, type SseMessage } from './sse';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code = '',
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

// The message of an error body: OpenAI's {"error": {"message", "code"}}, Ollama's {"error": "..."},
// Anthropic's {"type": "error", "error": {...}}, or the text itself.
export function errorFromBody(status: number, text: string): ApiError {
  try {
    const j = JSON.parse(text) as { error?: unknown };
    const e = j.error;
    if (typeof e === 'string') return new ApiError(status, e);
    if (e && typeof e === 'object') {
      const o = e as { message?: unknown; code?: unknown; type?: unknown };
      const code = typeof o.code === 'string' ? o.code : typeof o.type === 'string' ? o.type : '';
      if (typeof o.message === 'string') return new ApiError(status, o.message, code);
    }
  } catch {
    // not JSON
  }
  return new ApiError(status, text.trim().slice(0, 500) || `HTTP ${status}`);
}

export interface CallOptions {
  method?: string;
  body?: unknown;
  signal?: AbortSignal;
  key?: string | null; // default: the tab's stored key
}

export function headers(opts: CallOptions): Headers {
  const h = new Headers();
  const key = opts.key === undefined ? loadKey() : opts.key;
  if (key) h.set('Authorization', `Bearer ${key}`);
  if (opts.body !== undefined) h.set('Content-Type', 'application/json');
  return h;
}

export async function call(path: string, opts: CallOptions = {}): Promise<Response> {
  const res = await fetch(path, {
    method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'),
    headers: headers(opts),
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    signal: opts.signal,
    credentials: 'omit',
    cache: 'no-store',
    redirect: 'error',
  });
  if (!res.ok) throw errorFromBody(res.status, await res.text());
  return res;
}

export async function json<T>(path: string, opts: CallOptions = {}): Promise<T> {
  const res = await call(path, opts);
  return (await res.json()) as T;
}

async function* chunks(res: Response): AsyncGenerator<string> {
  if (!res.body) return;
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      yield decoder.decode(value, { stream: true });
    }
    const rest = decoder.decode();
    if (rest) yield rest;
  } finally {
    reader.releaseLock();
  }
}

// Server-Sent Events of a response, as they arrive.
export async function* sse(res: Response): AsyncGenerator<SseMessage> {
  const parser = new SseParser();
  for await (const text of chunks(res)) yield* parser.push(text);
}

// Lines of newline-delimited JSON, parsed, as they arrive.
export async function* ndjson<T>(res: Response): AsyncGenerator<T> {
  const lines = new LineSplitter();
  for await (const text of chunks(res)) for (const l of lines.push(text)) yield JSON.parse(l) as T;
  for (const l of lines.end()) yield JSON.parse(l) as T;
}
