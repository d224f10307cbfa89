// Activity: the server's recent requests (GET /v1/runtime/requests, admin), the lifecycle events
// received since this page opened, and batches with their progress (GET /v1/batches, batch scope).
import { useEffect, useState } from 'preact/hooks';
import { json } from '../lib/api';
import { can, type Who } from '../lib/auth';
import { duration, percent } from '../lib/format';
import { describeEvent, withoutRepeatedProgress } from '../lib/runtime';
import { events, useFeed } from '../feeds';
import { Table } from '../components/table';

interface RecentRequest {
  at_ms: number;
  request_id: string;
  method: string;
  route: string;
  path: string;
  status: number;
  duration_ms: number;
  model: string;
  client: string;
  tokens_in: number;
  tokens_out: number;
}

interface Batch {
  id: string;
  endpoint: string;
  status: string;
  created_at: number;
  request_counts: { total: number; completed: number; failed: number };
}

function usePolled<T>(path: string, enabled: boolean, intervalMs: number): { data: T | null; error: string } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    if (!enabled) return;
    let stop = false;
    const read = () =>
      json<T>(path)
        .then((d) => !stop && (setData(d), setError('')))
        .catch((e: Error) => !stop && setError(e.message));
    void read();
    const t = setInterval(read, intervalMs);
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, [path, enabled]);
  return { data, error };
}

const time = (ms: number) => new Date(ms).toLocaleTimeString();

export function Activity(props: { who: Who }) {
  const admin = can(props.who, 'admin');
  useFeed(events);
  const requests = usePolled<{ data: RecentRequest[] }>('/v1/runtime/requests?limit=100', admin, 3000);
  const batches = usePolled<{ data: Batch[] }>('/v1/batches?limit=20', can(props.who, 'batch'), 3000);
  return (
    <section>
      <h2>Activity</h2>
      {admin && (
        <>
          <h3>Recent requests</h3>
          {requests.error && <p class="error">{requests.error}</p>}
          <Table testid="requests-table" headers={['Time', 'Request', 'Status', 'Duration', 'Model', 'Tokens in/out', 'Client']}>
                {(requests.data?.data ?? []).map((r) => (
                  <tr>
                    <td>{time(r.at_ms)}</td>
                    <td class="mono wrap" title={r.request_id}>
                      {r.method} {r.path}
                    </td>
                    <td>
                      <span class={`badge status-${Math.floor(r.status / 100)}xx`}>{r.status}</span>
                    </td>
                    <td>{duration(r.duration_ms)}</td>
                    <td class="mono">{r.model || '–'}</td>
                    <td>
                      {r.tokens_in} / {r.tokens_out}
                    </td>
                    <td class="mono">{r.client}</td>
                  </tr>
                ))}
              </Table>
          <h3>Lifecycle events</h3>
          <ul class="events" data-testid="events-list">
            {withoutRepeatedProgress(events.recent).reverse().slice(0, 100).map((r) => (
              <li>
                <span class="sub">{time(r.at)}</span> <span class={`badge state-${r.event.event === 'swapped' ? 'loaded' : r.event.event}`}>{r.event.event}</span> {describeEvent(r.event)}
              </li>
            ))}
            {events.recent.length === 0 && <li class="hint">None since this page opened.</li>}
          </ul>
        </>
      )}
      {can(props.who, 'batch') && (
        <>
          <h3>Batches</h3>
          {batches.error && <p class="error">{batches.error}</p>}
          <Table testid="batches-table" headers={['Batch', 'Endpoint', 'Status', 'Progress', 'Created']}>
                {(batches.data?.data ?? []).map((b) => {
                  const c = b.request_counts;
                  const p = percent(c.completed + c.failed, c.total);
                  return (
                    <tr>
                      <td class="mono">{b.id}</td>
                      <td class="mono">{b.endpoint}</td>
                      <td>{b.status}</td>
                      <td>
                        <progress max={100} value={p} /> {c.completed + c.failed} / {c.total}
                        {c.failed > 0 && <span class="error small"> ({c.failed} failed)</span>}
                      </td>
                      <td>{new Date(b.created_at * 1000).toLocaleString()}</td>
                    </tr>
                  );
                })}
                {batches.data && batches.data.data.length === 0 && (
                  <tr>
                    <td colSpan={5} class="hint">
                      No batches.
                    </td>
                  </tr>
                )}
              </Table>
        </>
      )}
    </section>
  );
}
