// Playground: chat with streaming (system prompt, temperature, max tokens, JSON schema), the
// similarity matrix of a few embedded texts, and documents reranked with their scores, against any
// alias the key may use.
import { useEffect, useRef, useState } from 'preact/hooks';
import { call, json, sse } from '../lib/api';
import { chatRequest, chunkText, InputError, type ChatMessage, type ChatSettings } from '../lib/chat';
import { num } from '../lib/format';
import { cellColor, lines, offDiagonalRange, similarityMatrix } from '../lib/vectors';

interface Listed {
  id: string;
  task: string;
}

function useModels(task: string): Listed[] {
  const [models, setModels] = useState<Listed[]>([]);
  useEffect(() => {
    json<{ data: Listed[] }>('/v1/models')
      .then((r) => setModels(r.data.filter((m) => m.task === task)))
      .catch(() => setModels([]));
  }, [task]);
  return models;
}

function ModelSelect(props: { task: string; value: string; onChange: (v: string) => void }) {
  const models = useModels(props.task);
  useEffect(() => {
    if (!props.value && models.length) props.onChange(models[0].id);
  }, [models]);
  return (
    <label>
      Model
      <select value={props.value} onChange={(e) => props.onChange((e.target as HTMLSelectElement).value)} data-testid={`model-${props.task}`}>
        {models.map((m) => (
          <option value={m.id}>{m.id}</option>
        ))}
      </select>
    </label>
  );
}

function Chat() {
  const [settings, setSettings] = useState<ChatSettings>({ model: '', system: 'You are a helpful assistant.', temperature: '0.7', maxTokens: '128', jsonSchema: '' });
  const [history, setHistory] = useState<ChatMessage[]>([]);
  const [input, setInput] = useState('');
  const [reply, setReply] = useState<string | null>(null);
  const [error, setError] = useState('');
  const [usage, setUsage] = useState('');
  const abort = useRef<AbortController | null>(null);
  const set = (k: keyof ChatSettings) => (e: Event) => setSettings({ ...settings, [k]: (e.target as HTMLInputElement).value });

  const send = async (e: Event) => {
    e.preventDefault();
    if (!input.trim() || abort.current) return;
    const next: ChatMessage[] = [...history, { role: 'user', content: input }];
    let body: Record<string, unknown>;
    try {
      body = chatRequest(settings, next);
    } catch (err) {
      setError(err instanceof InputError ? err.message : String(err));
      return;
    }
    setError('');
    setUsage('');
    setHistory(next);
    setInput('');
    setReply('');
    abort.current = new AbortController();
    let text = '';
    let chunks = 0;
    let tokens = '';
    try {
      const res = await call('/v1/chat/completions', { body, signal: abort.current.signal });
      for await (const m of sse(res)) {
        const c = chunkText(m.data);
        if (!c) break;
        if (c.text) chunks++;
        text += c.text;
        setReply(text);
        if (c.usage) tokens = `, ${c.usage.prompt_tokens} tokens in, ${c.usage.completion_tokens} out`;
      }
      setUsage(`${chunks} chunks streamed${tokens}`);
    } catch (err) {
      if ((err as Error).name !== 'AbortError') setError((err as Error).message);
    } finally {
      abort.current = null;
      setHistory((h) => [...h, { role: 'assistant', content: text }]);
      setReply(null);
    }
  };

  return (
    <div class="two wide-left">
      <div class="card chat">
        <div class="messages" data-testid="chat-messages">
          {history.map((m) => (
            <div class={`msg ${m.role}`} data-testid={`msg-${m.role}`}>
              <span class="role">{m.role}</span>
              <pre>{m.content}</pre>
            </div>
          ))}
          {reply !== null && (
            <div class="msg assistant streaming" data-testid="msg-streaming">
              <span class="role">assistant</span>
              <pre>{reply || '…'}</pre>
            </div>
          )}
        </div>
        {error && <p class="error" data-testid="chat-error">{error}</p>}
        {usage && (
          <p class="hint" data-testid="chat-streamed">
            {usage}
          </p>
        )}
        <form class="inline-form" onSubmit={(e) => void send(e)}>
          <input placeholder="Message" value={input} onInput={(e) => setInput((e.target as HTMLInputElement).value)} data-testid="chat-input" />
          {reply !== null ? (
            <button type="button" class="secondary" onClick={() => abort.current?.abort()}>
              Stop
            </button>
          ) : (
            <button type="submit" data-testid="chat-send">
              Send
            </button>
          )}
          <button type="button" class="secondary" onClick={() => setHistory([])} disabled={reply !== null}>
            Clear
          </button>
        </form>
      </div>
      <div class="card settings">
        <ModelSelect task="generate" value={settings.model} onChange={(model) => setSettings((s) => ({ ...s, model }))} />
        <label>
          System prompt
          <textarea rows={3} value={settings.system} onInput={set('system')} />
        </label>
        <div class="inline-form">
          <label>
            Temperature
            <input type="number" step="0.1" min="0" max="2" value={settings.temperature} onInput={set('temperature')} class="narrow" />
          </label>
          <label>
            Max tokens
            <input type="number" min="1" value={settings.maxTokens} onInput={set('maxTokens')} class="narrow" data-testid="chat-max-tokens" />
          </label>
        </div>
        <label>
          JSON schema (optional)
          <textarea rows={4} class="mono" value={settings.jsonSchema} onInput={set('jsonSchema')} placeholder='{"type": "object", "properties": {"answer": {"type": "string"}}}' />
        </label>
      </div>
    </div>
  );
}

function Embeddings() {
  const [model, setModel] = useState('');
  const [text, setText] = useState('The cat sat on the mat.\nA kitten rests on a rug.\nStock markets fell sharply today.\nInterest rates rose again.');
  const [matrix, setMatrix] = useState<{ texts: string[]; m: number[][] } | null>(null);
  const [lo, hi] = matrix ? offDiagonalRange(matrix.m) : [-1, 1];
  const [error, setError] = useState('');
  const run = async (e: Event) => {
    e.preventDefault();
    const texts = lines(text, 16);
    if (texts.length < 2) {
      setError('give at least two texts, one a line');
      return;
    }
    try {
      const r = await json<{ data: { index: number; embedding: number[] }[] }>('/v1/embeddings', { body: { model, input: texts } });
      const vectors = [...r.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
      setMatrix({ texts, m: similarityMatrix(vectors) });
      setError('');
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <form class="card" onSubmit={(e) => void run(e)}>
      <ModelSelect task="embed" value={model} onChange={setModel} />
      <label>
        Texts, one a line
        <textarea rows={5} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
      </label>
      <button type="submit" data-testid="embed-run">
        Embed
      </button>
      {error && <p class="error">{error}</p>}
      {matrix && <p class="hint">Cosine similarity; colours span the pairs' range, {num(lo, 2)} to {num(hi, 2)} (the diagonal is each text with itself).</p>}
      {matrix && (
        <div class="matrix" data-testid="similarity-matrix" style={{ gridTemplateColumns: `minmax(8rem, 14rem) repeat(${matrix.texts.length}, minmax(3rem, 1fr))` }}>
          <span />
          {matrix.texts.map((_, i) => (
            <span class="head">{i + 1}</span>
          ))}
          {matrix.m.map((row, i) => [
            <span class="rowhead" title={matrix.texts[i]}>
              {i + 1}. {matrix.texts[i]}
            </span>,
            ...row.map((s) => (
              <span class="cell" style={{ background: cellColor(s, lo, Math.max(hi, lo + 1e-6)) }} title={num(s, 4)}>
                {num(s, 2)}
              </span>
            )),
          ])}
        </div>
      )}
    </form>
  );
}

function Rerank() {
  const [model, setModel] = useState('');
  const [query, setQuery] = useState('What is the capital of France?');
  const [docs, setDocs] = useState('Paris is the capital and largest city of France.\nBerlin is the capital of Germany.\nThe Eiffel Tower is in Paris.\nBananas are rich in potassium.');
  const [results, setResults] = useState<{ index: number; relevance_score: number; document?: { text: string } }[] | null>(null);
  const [error, setError] = useState('');
  const run = async (e: Event) => {
    e.preventDefault();
    try {
      const r = await json<{ results: { index: number; relevance_score: number; document?: { text: string } }[] }>('/v1/rerank', { body: { model, query, documents: lines(docs, 64) } });
      setResults(r.results);
      setError('');
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const max = results ? Math.max(...results.map((r) => Math.abs(r.relevance_score)), 1e-9) : 1;
  return (
    <form class="card" onSubmit={(e) => void run(e)}>
      <ModelSelect task="rerank" value={model} onChange={setModel} />
      <label>
        Query
        <input value={query} onInput={(e) => setQuery((e.target as HTMLInputElement).value)} />
      </label>
      <label>
        Documents, one a line
        <textarea rows={5} value={docs} onInput={(e) => setDocs((e.target as HTMLTextAreaElement).value)} />
      </label>
      <button type="submit" data-testid="rerank-run">
        Rerank
      </button>
      {error && <p class="error">{error}</p>}
      {results && (
        <ol class="ranked" data-testid="rerank-results">
          {results.map((r) => (
            <li>
              <span class="bar" style={{ width: `${Math.max(2, (Math.abs(r.relevance_score) / max) * 100)}%` }} />
              <span class="score mono">{num(r.relevance_score, 4)}</span>
              <span>{r.document?.text ?? lines(docs, 64)[r.index]}</span>
            </li>
          ))}
        </ol>
      )}
    </form>
  );
}

export function Playground() {
  const [tab, setTab] = useState<'chat' | 'embed' | 'rerank'>('chat');
  return (
    <section>
      <h2>Playground</h2>
      <div class="tabs">
        {(['chat', 'embed', 'rerank'] as const).map((t) => (
          <button class={tab === t ? 'tab active' : 'tab'} onClick={() => setTab(t)} data-testid={`tab-${t}`}>
            {t === 'chat' ? 'Chat' : t === 'embed' ? 'Embeddings' : 'Rerank'}
          </button>
        ))}
      </div>
      {tab === 'chat' && <Chat />}
      {tab === 'embed' && <Embeddings />}
      {tab === 'rerank' && <Rerank />}
    </section>
  );
}
