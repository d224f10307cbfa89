// Metrics: live charts of the server's own /metrics (scraped every two seconds by feeds.ts; the
// history starts when the dashboard opens).
import { useMemo } from 'preact/hooks';
import { Chart, type Series } from '../components/chart';
import { bytes, num } from '../lib/format';
import { metrics, useFeed } from '../feeds';

const seconds = (v: number) => (v >= 1 ? `${num(v, 1)} s` : `${Math.round(v * 1000)} ms`);
const perSecond = (v: number) => num(v, v < 10 ? 2 : 0);

const RPS: Series[] = [
  { label: 'requests/s', color: '#2f6fdf' },
  { label: 'errors/s (5xx)', color: '#d33' },
];
const LATENCY: Series[] = [
  { label: 'p50', color: '#2a9d4b' },
  { label: 'p95', color: '#e08a00' },
  { label: 'p99', color: '#d33' },
  { label: 'TTFT p50', color: '#8a5cd0' },
];
const TOKENS: Series[] = [
  { label: 'out/s', color: '#2f6fdf' },
  { label: 'in/s', color: '#2a9d4b' },
];
const QUEUE: Series[] = [{ label: 'queue depth', color: '#e08a00' }];
const MEMORY: Series[] = [
  { label: 'used', color: '#2f6fdf' },
  { label: 'budget', color: '#999' },
];

export function Metrics() {
  const version = useFeed(metrics);
  const h = metrics.history;
  const data = useMemo(
    () => ({
      rps: h.columns(['requestsPerSecond', 'errorsPerSecond']),
      latency: h.columns(['p50', 'p95', 'p99', 'ttftP50']),
      tokens: h.columns(['tokensOutPerSecond', 'tokensInPerSecond']),
      queue: h.columns(['queueDepth']),
      memory: h.columns(['memoryUsed', 'memoryBudget']),
    }),
    [version],
  );
  const last = h.latest();
  return (
    <section>
      <h2>Metrics</h2>
      {metrics.error && <p class="error">{metrics.error}</p>}
      <div class="stats" data-testid="metrics-stats">
        <div class="stat">
          <span class="label">Requests/s</span>
          <span class="value">{last ? perSecond(last.requestsPerSecond) : '–'}</span>
        </div>
        <div class="stat">
          <span class="label">Latency p50 / p99</span>
          <span class="value">{last && last.p50 !== null ? `${seconds(last.p50)} / ${seconds(last.p99 ?? 0)}` : '–'}</span>
        </div>
        <div class="stat">
          <span class="label">Tokens out/s</span>
          <span class="value">{last ? perSecond(last.tokensOutPerSecond) : '–'}</span>
        </div>
        <div class="stat">
          <span class="label">Queue depth</span>
          <span class="value">{last ? last.queueDepth : '–'}</span>
        </div>
        <div class="stat">
          <span class="label">Memory used</span>
          <span class="value">{last ? bytes(last.memoryUsed) : '–'}</span>
          <span class="sub">{last && last.memoryBudget > 0 ? `of ${bytes(last.memoryBudget)}` : 'no budget'}</span>
        </div>
      </div>
      <p class="hint">From this server's /metrics every 2 s, since this page opened; the dashboard's own reads are left out of the rates.</p>
      <div class="charts">
        <Chart title="Requests per second" series={RPS} data={data.rps} yFormat={perSecond} testid="chart-rps" />
        <Chart title="Latency" series={LATENCY} data={data.latency} yFormat={seconds} testid="chart-latency" />
        <Chart title="Tokens per second" series={TOKENS} data={data.tokens} yFormat={perSecond} testid="chart-tokens" />
        <Chart title="Queue depth" series={QUEUE} data={data.queue} testid="chart-queue" />
        <Chart title="Memory" series={MEMORY} data={data.memory} yFormat={(v) => bytes(v)} testid="chart-memory" />
      </div>
    </section>
  );
}
