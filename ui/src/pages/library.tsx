// Library: search with filters, a model's details, pull from the Hub with live progress, import of
// files on the server's machine, verify and delete (library scope).
import { useEffect, useState } from 'preact/hooks';
import { call, json, ndjson } from '../lib/api';
import type { Who } from '../lib/auth';
import { bytes, count } from '../lib/format';
import { applyPullLine, pullStart, type PullLine, type PullState } from '../lib/pull';
import { Table } from '../components/table';

interface LibraryModel {
  id: string;
  publisher: string;
  name: string;
  format: string;
  architecture: string;
  task: string | null;
  parameter_count: number;
  quantization: string;
  context_length: number;
  embedding_length: number;
  size_bytes: number;
  sha256: string;
  source: { kind: string; path: string; hub_repo: string; hub_revision: string; hub_file: string };
  state: string;
  downloaded_bytes: number;
  error: string;
  tags: string[];
  description: string;
  created_at: number;
  file: string;
  conversion?: { tool: string; output_type: string; checkpoint: string };
}

interface Filters {
  q: string;
  task: string;
  architecture: string;
  quantization: string;
  state: string;
  sort: string;
}

export function searchQuery(f: Filters): string {
  const p = new URLSearchParams();
  if (f.q.trim()) p.set('q', f.q.trim());
  if (f.task) p.set('task', f.task);
  if (f.architecture.trim()) p.set('architecture', f.architecture.trim());
  if (f.quantization.trim()) p.set('quantization', f.quantization.trim());
  if (f.state) p.set('state', f.state);
  if (f.sort) p.set('sort', f.sort);
  p.set('limit', '200');
  return p.toString();
}

function Details(props: { id: string; onChanged: () => void; onClose: () => void }) {
  const [m, setM] = useState<LibraryModel | null>(null);
  const [error, setError] = useState('');
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState('');
  useEffect(() => {
    setM(null);
    setNote('');
    json<LibraryModel>(`/v1/library/models/${props.id.split('/').map(encodeURIComponent).join('/')}`)
      .then(setM)
      .catch((e: Error) => setError(e.message));
  }, [props.id]);
  const verify = async () => {
    setBusy('verifying');
    try {
      const r = await json<{ data: { id: string; ok: boolean; detail: string }[] }>('/v1/library/verify', { body: { id: props.id } });
      const v = r.data[0];
      setNote(v ? (v.ok ? 'verified: the file matches its sha256' : `verify failed: ${v.detail}`) : 'nothing to verify');
    } catch (e) {
      setNote(`verify failed: ${(e as Error).message}`);
    } finally {
      setBusy('');
    }
  };
  const remove = async () => {
    if (!confirm(`Delete ${props.id} and its file from the library?`)) return;
    setBusy('deleting');
    try {
      await call('/api/delete', { method: 'DELETE', body: { model: props.id } });
      props.onChanged();
      props.onClose();
    } catch (e) {
      setNote(`delete failed: ${(e as Error).message}`);
      setBusy('');
    }
  };
  if (error) return <aside class="card details"><p class="error">{error}</p></aside>;
  if (!m) return <aside class="card details"><p>Loading…</p></aside>;
  const rows: [string, string][] = [
    ['Task', m.task || 'unknown'],
    ['Architecture', m.architecture],
    ['Quantization', m.quantization],
    ['Parameters', count(m.parameter_count)],
    ['Context length', count(m.context_length)],
    ['Embedding length', count(m.embedding_length)],
    ['Size', `${bytes(m.size_bytes)} (${count(m.size_bytes)} bytes)`],
    ['sha256', m.sha256],
    ['State', m.state + (m.error ? `: ${m.error}` : '')],
    ['Source', `${m.source?.kind ?? '?'}${m.source?.path ? `: ${m.source.path}` : ''}`],
    ['Hub', m.source?.hub_repo ? `${m.source.hub_repo} @ ${m.source.hub_revision} / ${m.source.hub_file}` : '–'],
    ['Tags', m.tags.join(', ') || '–'],
    ['File', m.file],
  ];
  if (m.conversion) rows.push(['Converted', `${m.conversion.tool} (${m.conversion.output_type}) from ${m.conversion.checkpoint || 'a checkpoint'}`]);
  return (
    <aside class="card details" data-testid="library-details">
      <div class="row-between">
        <h3 class="mono">{m.id}</h3>
        <button class="link" onClick={props.onClose}>
          close
        </button>
      </div>
      {m.description && <p>{m.description}</p>}
      <dl>
        {rows.map(([k, v]) => (
          <>
            <dt>{k}</dt>
            <dd class={k === 'sha256' || k === 'File' ? 'mono wrap' : ''}>{v}</dd>
          </>
        ))}
      </dl>
      <div class="actions">
        <button onClick={() => void verify()} disabled={!!busy} data-testid="verify">
          Verify
        </button>
        <button class="danger" onClick={() => void remove()} disabled={!!busy} data-testid="delete">
          Delete
        </button>
        {busy && <span class="busy">{busy}…</span>}
      </div>
      {note && <p data-testid="library-note">{note}</p>}
      <p class="hint">
        Use it as <code class="mono">library:{m.id}</code> in a request or an alias.
      </p>
    </aside>
  );
}

function Pull(props: { onDone: () => void }) {
  const [ref, setRef] = useState('');
  const [state, setState] = useState<PullState | null>(null);
  const start = async (e: Event) => {
    e.preventDefault();
    if (!ref.trim()) return;
    let s = pullStart;
    setState(s);
    try {
      const res = await call('/api/pull', { body: { model: ref.trim(), stream: true } });
      for await (const line of ndjson<PullLine>(res)) {
        s = applyPullLine(s, line);
        setState(s);
      }
      if (!s.finished) setState({ ...s, status: 'failed', error: 'the stream ended before the pull finished', finished: true });
      if (s.status === 'success') props.onDone();
    } catch (err) {
      setState({ ...s, status: 'failed', error: (err as Error).message, finished: true });
    }
  };
  const running = state !== null && !state.finished;
  return (
    <form class="card" onSubmit={(e) => void start(e)} data-testid="pull-form">
      <h3>Pull from the Hub</h3>
      <div class="inline-form">
        <input placeholder="ORG/REPO or ORG/REPO:Q4_K_M" value={ref} onInput={(e) => setRef((e.target as HTMLInputElement).value)} data-testid="pull-ref" />
        <button type="submit" disabled={running} data-testid="pull">
          Pull
        </button>
      </div>
      {state && (
        <div class="pull" data-testid="pull-progress">
          <progress max={100} value={state.percent} />
          <span data-testid="pull-percent">{state.percent}%</span>
          <span class="sub">
            {state.error ? <span class="error">{state.error}</span> : state.status === 'success' ? `pulled ${state.model}` : `${state.status} ${state.total ? `${bytes(state.done)} of ${bytes(state.total)}` : ''}`}
          </span>
        </div>
      )}
    </form>
  );
}

function Import(props: { onDone: () => void }) {
  const [paths, setPaths] = useState('');
  const [mode, setMode] = useState('link');
  const [result, setResult] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const list = paths.split('\n').map((p) => p.trim()).filter(Boolean);
    if (!list.length) return;
    setBusy(true);
    try {
      const r = await json<{ data: { source: string; model?: { id: string }; error?: { message: string }; already_present: boolean }[] }>('/v1/library/import', { body: { paths: list, mode } });
      setResult(r.data.map((o) => (o.error ? `${o.source}: ${o.error.message}` : `${o.source}: ${o.model?.id}${o.already_present ? ' (already present)' : ''}`)));
      props.onDone();
    } catch (err) {
      setResult([(err as Error).message]);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card" onSubmit={(e) => void submit(e)}>
      <h3>Import</h3>
      <p class="hint">Absolute paths on the server's machine: GGUF files, a Hugging Face cache or an Ollama models folder, one a line.</p>
      <textarea rows={2} value={paths} onInput={(e) => setPaths((e.target as HTMLTextAreaElement).value)} placeholder="/models/bge-small.gguf" />
      <div class="inline-form">
        <select value={mode} onChange={(e) => setMode((e.target as HTMLSelectElement).value)}>
          <option value="link">link (hard link, or copy)</option>
          <option value="copy">copy</option>
          <option value="reference">reference in place</option>
        </select>
        <button type="submit" disabled={busy}>
          Import
        </button>
      </div>
      {result.map((r) => (
        <p class="small">{r}</p>
      ))}
    </form>
  );
}

export function Library(_props: { who: Who }) {
  const [filters, setFilters] = useState<Filters>({ q: '', task: '', architecture: '', quantization: '', state: '', sort: '' });
  const [models, setModels] = useState<LibraryModel[] | null>(null);
  const [error, setError] = useState('');
  const [selected, setSelected] = useState('');
  const search = async (f = filters) => {
    try {
      const r = await json<{ data: LibraryModel[] }>(`/v1/library/search?${searchQuery(f)}`);
      setModels(r.data);
      setError('');
    } catch (e) {
      setError((e as Error).message);
    }
  };
  useEffect(() => void search(), []);
  const set = (k: keyof Filters) => (e: Event) => {
    const f = { ...filters, [k]: (e.target as HTMLInputElement).value };
    setFilters(f);
    if (k !== 'q' && k !== 'quantization' && k !== 'architecture') void search(f);
  };
  return (
    <section>
      <h2>Library</h2>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          void search();
        }}
      >
        <input type="search" placeholder="search name, architecture, tags" value={filters.q} onInput={set('q')} data-testid="library-search" />
        <select value={filters.task} onChange={set('task')} aria-label="task">
          <option value="">any task</option>
          <option value="embed">embed</option>
          <option value="rerank">rerank</option>
          <option value="generate">generate</option>
        </select>
        <input placeholder="architecture" value={filters.architecture} onInput={set('architecture')} class="narrow" />
        <input placeholder="quantization" value={filters.quantization} onInput={set('quantization')} class="narrow" />
        <select value={filters.state} onChange={set('state')} aria-label="state">
          <option value="">any state</option>
          <option value="ready">ready</option>
          <option value="downloading">downloading</option>
          <option value="failed">failed</option>
        </select>
        <select value={filters.sort} onChange={set('sort')} aria-label="sort">
          <option value="">relevance</option>
          <option value="name">name</option>
          <option value="size">size</option>
          <option value="recent">recent</option>
        </select>
        <button type="submit">Search</button>
      </form>
      {error && <p class="error">{error}</p>}
      <div class="split">
        <Table testid="library-table" grow headers={['Model', 'Task', 'Architecture', 'Quant', 'Size', 'State']}>
              {(models ?? []).map((m) => (
                <tr class={`clickable ${selected === m.id ? 'selected' : ''}`} onClick={() => setSelected(m.id)} data-testid={`library-${m.id}`}>
                  <td class="mono">{m.id}</td>
                  <td>{m.task || '?'}</td>
                  <td>{m.architecture}</td>
                  <td>{m.quantization}</td>
                  <td>{bytes(m.size_bytes)}</td>
                  <td>
                    <span class={`badge lib-${m.state}`}>{m.state}</span>
                  </td>
                </tr>
              ))}
              {models && models.length === 0 && (
                <tr>
                  <td colSpan={6} class="hint">
                    No model matches.
                  </td>
                </tr>
              )}
            </Table>
        {selected && <Details id={selected} onChanged={() => void search()} onClose={() => setSelected('')} />}
      </div>
      <div class="two">
        <Pull onDone={() => void search()} />
        <Import onDone={() => void search()} />
      </div>
    </section>
  );
}
