// Models: every alias and loaded model with its state, memory, keep-alive, pin, calls in flight,
// last use and error; load, unload, pin, swap and rollback for an admin key. Kept current by the
// runtime's event stream (feeds.ts); an inference key sees the aliases it may use, without state.
import { useEffect, useRef, useState } from 'preact/hooks';
import { json } from '../lib/api';
import { can, type Who } from '../lib/auth';
import { ago, bytes, duration } from '../lib/format';
import { applyEvent, needsRefresh, recordOf, unaliased, type AliasInfo, type ModelRecord, type RuntimeView } from '../lib/runtime';
import { events, metrics, useFeed } from '../feeds';
import { Table } from '../components/table';

interface ListedModel {
  id: string;
  task: string;
  owned_by: string;
}

function StateBadge(props: { state: string; progress?: number }) {
  const p = typeof props.progress === 'number' && props.state === 'loading' ? ` ${Math.round(props.progress * 100)}%` : '';
  return <span class={`badge state-${props.state}`}>{props.state + p}</span>;
}

function memoryOf(r: ModelRecord | undefined): string {
  if (!r) return '–';
  const measured = r.measured?.total ?? 0;
  const estimated = r.estimated?.total ?? 0;
  if (measured > 0) return `${bytes(measured)} (est. ${bytes(estimated)})`;
  return estimated > 0 ? `est. ${bytes(estimated)}` : bytes(r.memory_bytes);
}

function keepAlive(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return 'default';
  if (ms < 0) return 'until evicted';
  if (ms === 0) return 'unload after each call';
  return duration(ms);
}

function InferenceView() {
  const [models, setModels] = useState<ListedModel[] | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    json<{ data: ListedModel[] }>('/v1/models')
      .then((r) => setModels(r.data))
      .catch((e: Error) => setError(e.message));
  }, []);
  return (
    <section>
      <h2>Models</h2>
      <p class="hint">This key may call these aliases. Their state and the admin actions need a key with the admin scope.</p>
      {error && <p class="error">{error}</p>}
      <Table testid="models-table" headers={['Alias', 'Task', 'Provider']}>
          {(models ?? []).map((m) => (
            <tr data-testid={`alias-${m.id}`}>
              <td class="mono">{m.id}</td>
              <td>{m.task}</td>
              <td>{m.owned_by}</td>
            </tr>
          ))}
        </Table>
    </section>
  );
}

function SwapForm(props: { alias: AliasInfo; onSwap: (model: string, provider: string) => void; onClose: () => void }) {
  const [model, setModel] = useState('');
  const [provider, setProvider] = useState('');
  return (
    <form
      class="inline-form"
      onSubmit={(e) => {
        e.preventDefault();
        if (model.trim()) props.onSwap(model.trim(), provider.trim());
      }}
    >
      <input placeholder="new model (path, library:ID, hf:ORG/REPO)" value={model} onInput={(e) => setModel((e.target as HTMLInputElement).value)} data-testid="swap-model" />
      <input placeholder={`provider (${props.alias.provider})`} value={provider} onInput={(e) => setProvider((e.target as HTMLInputElement).value)} class="narrow" />
      <button type="submit">Swap</button>
      <button type="button" class="secondary" onClick={props.onClose}>
        Cancel
      </button>
    </form>
  );
}

function AdminView() {
  const [view, setView] = useState<RuntimeView | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState<Record<string, string>>({});
  const [progress, setProgress] = useState<Record<string, number>>({});
  const [swapping, setSwapping] = useState('');
  const refreshTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useFeed(events);
  useFeed(metrics);

  const refresh = async () => {
    try {
      setView(await json<RuntimeView>('/v1/runtime/models'));
    } catch (e) {
      setError((e as Error).message);
    }
  };

  useEffect(() => {
    void refresh();
    const off = events.onEvent((e) => {
      setView((v) => (v ? applyEvent(v, e) : v));
      if (e.event === 'loading' && typeof e.progress === 'number') setProgress((p) => ({ ...p, [e.model.key]: e.progress! }));
      if (needsRefresh(e)) {
        // The memory in use and the aliases' targets: read once the burst of events settles.
        if (refreshTimer.current) clearTimeout(refreshTimer.current);
        refreshTimer.current = setTimeout(() => void refresh(), 300);
      }
    });
    return () => {
      off();
      if (refreshTimer.current) clearTimeout(refreshTimer.current);
    };
  }, []);

  const act = async (alias: string, label: string, path: string, body: Record<string, unknown>) => {
    setBusy((b) => ({ ...b, [alias]: label }));
    setError('');
    try {
      await json(path, { body });
      await refresh();
    } catch (e) {
      setError(`${label} ${alias}: ${(e as Error).message}`);
    } finally {
      setBusy((b) => {
        const n = { ...b };
        delete n[alias];
        return n;
      });
    }
  };

  if (!view) return <section><h2>Models</h2>{error ? <p class="error">{error}</p> : <p>Loading…</p>}</section>;
  const inFlight = metrics.history.latest()?.inFlight ?? {};
  const mem = view.memory;
  const others = unaliased(view);
  return (
    <section>
      <div class="row-between">
        <h2>Models</h2>
        <span class={`live ${events.connected ? 'on' : 'off'}`} data-testid="live">
          {events.connected ? 'live' : 'reconnecting…'}
        </span>
      </div>
      <div class="stats">
        <div class="stat">
          <span class="label">Memory used</span>
          <span class="value" data-testid="memory-used">{bytes(mem.used)}</span>
          <span class="sub">{mem.budget > 0 ? `of ${bytes(mem.budget)} budget` : 'no budget set'}</span>
        </div>
        <div class="stat">
          <span class="label">Loaded</span>
          <span class="value">{mem.loaded}</span>
          <span class="sub">{mem.max_loaded > 0 ? `at most ${mem.max_loaded}` : 'no limit'}</span>
        </div>
        <div class="stat">
          <span class="label">Physical memory</span>
          <span class="value">{bytes(mem.physical)}</span>
        </div>
      </div>
      {error && (
        <p class="error" role="alert" data-testid="action-error">
          {error}
        </p>
      )}
      <Table testid="models-table" headers={['Alias', 'State', 'Model', 'Memory', 'Keep-alive', 'Pinned', 'In flight', 'Last use', 'Actions']}>
            {view.aliases.map((a) => {
              const r = recordOf(view, a);
              const state = r?.state ?? a.state;
              const loaded = state === 'loaded' || state === 'loading';
              const pinned = r?.pinned ?? a.pin;
              const b = busy[a.alias];
              return [
                <tr data-testid={`alias-${a.alias}`}>
                  <td class="mono">
                    {a.alias}
                    <div class="sub">{a.task}</div>
                  </td>
                  <td data-testid="state">
                    <StateBadge state={state} progress={r ? progress[r.key] : undefined} />
                    {r?.error && <div class="error small" title={r.error.message}>{r.error.code}: {r.error.message}</div>}
                  </td>
                  <td class="mono wrap" title={a.key}>
                    {a.provider}:{a.model}
                    {a.revision && <span class="sub">@{a.revision}</span>}
                  </td>
                  <td>{memoryOf(r)}</td>
                  <td>{keepAlive(r && r.state !== 'unloaded' ? r.keep_alive_ms : a.keep_alive_ms)}</td>
                  <td>{pinned ? 'yes' : 'no'}</td>
                  <td>{inFlight[a.key] ?? r?.in_flight ?? 0}</td>
                  <td>{ago(r?.last_used_ms, Date.now())}</td>
                  <td>
                    <div class="actions nowrap">
                    {b ? (
                      <span class="busy">{b}…</span>
                    ) : (
                      <>
                        {loaded ? (
                          <button onClick={() => void act(a.alias, 'Unload', '/v1/runtime/models/unload', { model: a.alias })} data-testid="unload">
                            Unload
                          </button>
                        ) : (
                          <button onClick={() => void act(a.alias, 'Load', '/v1/runtime/models/load', { model: a.alias })} data-testid="load">
                            Load
                          </button>
                        )}
                        <button class="secondary" onClick={() => void act(a.alias, pinned ? 'Unpin' : 'Pin', pinned ? '/v1/runtime/models/unpin' : '/v1/runtime/models/pin', { model: a.alias })} data-testid="pin">
                          {pinned ? 'Unpin' : 'Pin'}
                        </button>
                        <button class="secondary" onClick={() => setSwapping(swapping === a.alias ? '' : a.alias)} data-testid="swap">
                          Swap
                        </button>
                        {a.history.length > 1 && (
                          <button class="secondary" onClick={() => void act(a.alias, 'Rollback', '/v1/runtime/models/rollback', { alias: a.alias })}>
                            Rollback
                          </button>
                        )}
                      </>
                    )}
                    </div>
                  </td>
                </tr>,
                swapping === a.alias && (
                  <tr class="detail">
                    <td colSpan={9}>
                      <SwapForm
                        alias={a}
                        onClose={() => setSwapping('')}
                        onSwap={(model, provider) => {
                          setSwapping('');
                          void act(a.alias, 'Swap', '/v1/runtime/models/swap', provider ? { alias: a.alias, model, provider } : { alias: a.alias, model });
                        }}
                      />
                    </td>
                  </tr>
                ),
              ];
            })}
          </Table>
      {others.length > 0 && (
        <>
          <h3>Other models</h3>
          <p class="hint">Loaded by id rather than through an alias, or an alias's earlier model still draining.</p>
          <Table headers={['Key', 'State', 'Memory', 'In flight', 'Last use', '']}>
                {others.map((r) => (
                  <tr>
                    <td class="mono wrap">{r.key}</td>
                    <td>
                      <StateBadge state={r.state} />
                      {r.error && <div class="error small">{r.error.message}</div>}
                    </td>
                    <td>{memoryOf(r)}</td>
                    <td>{inFlight[r.key] ?? r.in_flight}</td>
                    <td>{ago(r.last_used_ms, Date.now())}</td>
                    <td>
                      {r.state === 'loaded' && (
                        <button onClick={() => void act(r.key, 'Unload', '/v1/runtime/models/unload', { model: r.key })}>Unload</button>
                      )}
                    </td>
                  </tr>
                ))}
              </Table>
        </>
      )}
    </section>
  );
}

export function Models(props: { who: Who }) {
  return can(props.who, 'admin') ? <AdminView /> : <InferenceView />;
}
