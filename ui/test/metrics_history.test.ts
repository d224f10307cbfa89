import { describe, expect, it } from 'vitest';
import { MetricsHistory } from '../src/lib/metrics_history';
import { parsePrometheus } from '../src/lib/prom';

function scrape(requests: number, scrapes: number, fast: number, slow: number, tokensOut: number): string {
  return [
    `xervo_http_requests_total{route="/v1/embeddings",model="e",status="200"} ${requests}`,
    `xervo_http_requests_total{route="/metrics",model="",status="200"} ${scrapes}`,
    `xervo_http_request_duration_seconds_bucket{route="/v1/embeddings",le="0.1"} ${fast}`,
    `xervo_http_request_duration_seconds_bucket{route="/v1/embeddings",le="1"} ${fast + slow}`,
    `xervo_http_request_duration_seconds_bucket{route="/v1/embeddings",le="+Inf"} ${fast + slow}`,
    `xervo_http_request_duration_seconds_bucket{route="/metrics",le="0.1"} 0`,
    `xervo_http_request_duration_seconds_bucket{route="/metrics",le="1"} 0`,
    `xervo_http_request_duration_seconds_bucket{route="/metrics",le="+Inf"} ${scrapes}`,
    `xervo_tokens_total{model="c",direction="in"} 10`,
    `xervo_tokens_total{model="c",direction="out"} ${tokensOut}`,
    `xervo_queue_depth{model="k1"} 2`,
    `xervo_queue_depth{model="k2"} 1`,
    `xervo_memory_used_bytes 1000`,
    `xervo_memory_budget_bytes 4000`,
    `xervo_model_in_flight{key="k1"} 3`,
  ].join('\n');
}

describe('MetricsHistory', () => {
  it('needs two scrapes for a point', () => {
    const h = new MetricsHistory();
    expect(h.add(100, parsePrometheus(scrape(0, 0, 0, 0, 0)))).toBeNull();
    expect(h.points).toHaveLength(0);
  });

  it('computes rates and interval percentiles without the dashboard scrapes', () => {
    const h = new MetricsHistory();
    h.add(100, parsePrometheus(scrape(10, 5, 10, 0, 100)));
    const p = h.add(102, parsePrometheus(scrape(30, 6, 12, 18, 300)))!;
    expect(p.requestsPerSecond).toBe(10); // 20 requests in 2 s; the /metrics scrape is not counted
    expect(p.tokensOutPerSecond).toBe(100);
    expect(p.tokensInPerSecond).toBe(0);
    // This interval: 2 fast (<= 0.1 s) and 18 slow (0.1..1 s) requests; the earlier 10 fast ones
    // do not count, and the /metrics scrape in +Inf does not either.
    expect(p.p50!).toBeGreaterThan(0.1);
    expect(p.p99!).toBeLessThanOrEqual(1);
    expect(p.queueDepth).toBe(3);
    expect(p.memoryUsed).toBe(1000);
    expect(p.memoryBudget).toBe(4000);
    expect(p.inFlight).toEqual({ k1: 3 });
  });

  it('keeps at most its capacity and gives chart columns', () => {
    const h = new MetricsHistory(3);
    for (let i = 0; i < 6; i++) h.add(i, parsePrometheus(scrape(i * 2, 0, i * 2, 0, 0)));
    expect(h.points.map((p) => p.t)).toEqual([3, 4, 5]);
    expect(h.columns(['requestsPerSecond'])).toEqual([[3, 4, 5], [2, 2, 2]]);
  });

  it('reads a restarted server (counters back to zero) as a fresh start', () => {
    const h = new MetricsHistory();
    h.add(0, parsePrometheus(scrape(100, 0, 100, 0, 0)));
    const p = h.add(2, parsePrometheus(scrape(4, 0, 4, 0, 0)))!;
    expect(p.requestsPerSecond).toBe(2);
  });
});
