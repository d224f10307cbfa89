// A time series of the numbers the Metrics page charts, from successive scrapes of /metrics: each
// new scrape adds one point computed against the one before (rates and latency percentiles over
// that interval), and the oldest points fall off.
import { bucketDelta, buckets, quantile, sum, type Buckets, type Sample } from './prom';

export interface MetricsPoint {
  t: number; // seconds since the epoch
  requestsPerSecond: number;
  errorsPerSecond: number; // responses with status >= 500
  p50: number | null; // request latency, seconds
  p95: number | null;
  p99: number | null;
  ttftP50: number | null; // time to first token, seconds
  tokensInPerSecond: number;
  tokensOutPerSecond: number;
  queueDepth: number;
  memoryUsed: number;
  memoryBudget: number;
  modelsLoaded: number;
  inFlight: Record<string, number>; // by model key
}

// The dashboard's own background reads are not traffic: left out of rates and latencies.
const BACKGROUND_ROUTES = new Set(['/metrics', '/dashboard', '/health', '/v1/runtime/events', '/v1/runtime/requests', '/v1/auth/whoami', 'OPTIONS']);
const traffic = (l: Record<string, string>) => !BACKGROUND_ROUTES.has(l.route ?? '');

interface Totals {
  t: number;
  requests: number;
  errors: number;
  tokensIn: number;
  tokensOut: number;
  latency: Buckets;
  ttft: Buckets;
}

function totals(t: number, s: Sample[]): Totals {
  return {
    t,
    requests: sum(s, 'xervo_http_requests_total', traffic),
    errors: sum(s, 'xervo_http_requests_total', (l) => traffic(l) && Number(l.status) >= 500),
    tokensIn: sum(s, 'xervo_tokens_total', (l) => l.direction === 'in'),
    tokensOut: sum(s, 'xervo_tokens_total', (l) => l.direction === 'out'),
    latency: buckets(s, 'xervo_http_request_duration_seconds', traffic),
    ttft: buckets(s, 'xervo_time_to_first_token_seconds'),
  };
}

function rate(later: number, earlier: number, seconds: number): number {
  if (!(seconds > 0)) return 0;
  const d = later - earlier;
  return d < 0 ? later / seconds : d / seconds; // a reset: count from zero
}

export class MetricsHistory {
  readonly points: MetricsPoint[] = [];
  private last: Totals | null = null;

  constructor(readonly capacity = 180) {}

  // Adds the scrape taken at `t` (seconds); the first scrape only sets the baseline.
  add(t: number, samples: Sample[]): MetricsPoint | null {
    const now = totals(t, samples);
    const prev = this.last;
    this.last = now;
    if (!prev || now.t <= prev.t) return null;
    const dt = now.t - prev.t;
    const latency = bucketDelta(now.latency, prev.latency);
    const ttft = bucketDelta(now.ttft, prev.ttft);
    const inFlight: Record<string, number> = {};
    for (const s of samples) if (s.name === 'xervo_model_in_flight' && s.labels.key) inFlight[s.labels.key] = s.value;
    const point: MetricsPoint = {
      t,
      requestsPerSecond: rate(now.requests, prev.requests, dt),
      errorsPerSecond: rate(now.errors, prev.errors, dt),
      p50: quantile(latency, 0.5),
      p95: quantile(latency, 0.95),
      p99: quantile(latency, 0.99),
      ttftP50: quantile(ttft, 0.5),
      tokensInPerSecond: rate(now.tokensIn, prev.tokensIn, dt),
      tokensOutPerSecond: rate(now.tokensOut, prev.tokensOut, dt),
      queueDepth: sum(samples, 'xervo_queue_depth'),
      memoryUsed: sum(samples, 'xervo_memory_used_bytes'),
      memoryBudget: sum(samples, 'xervo_memory_budget_bytes'),
      modelsLoaded: sum(samples, 'xervo_models_loaded'),
      inFlight,
    };
    this.points.push(point);
    if (this.points.length > this.capacity) this.points.splice(0, this.points.length - this.capacity);
    return point;
  }

  latest(): MetricsPoint | null {
    return this.points.length ? this.points[this.points.length - 1] : null;
  }

  // Columns for a chart: times, then one array per field (null where there is no value).
  columns(fields: (keyof MetricsPoint)[]): (number | null)[][] {
    return [this.points.map((p) => p.t), ...fields.map((f) => this.points.map((p) => p[f] as number | null))];
  }
}
