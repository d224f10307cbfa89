import { describe, expect, it } from 'vitest';
import { bucketDelta, buckets, parsePrometheus, quantile, sum } from '../src/lib/prom';

const TEXT = `# HELP xervo_http_requests_total HTTP requests by route, model and status.
# TYPE xervo_http_requests_total counter
xervo_http_requests_total{route="/v1/embeddings",model="embed/default",status="200"} 7
xervo_http_requests_total{route="/metrics",model="",status="200"} 3
xervo_http_requests_total{route="/v1/chat/completions",model="chat/\\"odd\\"",status="500"} 1
# TYPE xervo_http_request_duration_seconds histogram
xervo_http_request_duration_seconds_bucket{route="/v1/embeddings",le="0.1"} 2
xervo_http_request_duration_seconds_bucket{route="/v1/embeddings",le="0.5"} 6
xervo_http_request_duration_seconds_bucket{route="/v1/embeddings",le="1"} 8
xervo_http_request_duration_seconds_bucket{route="/v1/embeddings",le="+Inf"} 10
xervo_http_request_duration_seconds_sum{route="/v1/embeddings"} 4.2
xervo_http_request_duration_seconds_count{route="/v1/embeddings"} 10
xervo_memory_used_bytes 123456
malformed line without value
xervo_bad{route="unterminated} 1
`;

describe('parsePrometheus', () => {
  const s = parsePrometheus(TEXT);
  it('reads names, labels with escapes and values', () => {
    expect(s.find((x) => x.labels.model === 'chat/"odd"')?.value).toBe(1);
    expect(sum(s, 'xervo_memory_used_bytes')).toBe(123456);
    expect(sum(s, 'xervo_http_requests_total')).toBe(11);
    expect(sum(s, 'xervo_http_requests_total', (l) => l.route !== '/metrics')).toBe(8);
  });
  it('skips malformed lines', () => {
    expect(s.some((x) => x.name === 'malformed')).toBe(false);
    expect(s.some((x) => x.name === 'xervo_bad')).toBe(false);
  });
  it('reads +Inf buckets', () => {
    const h = buckets(s, 'xervo_http_request_duration_seconds');
    expect(h.le).toEqual([0.1, 0.5, 1, Infinity]);
    expect(h.counts).toEqual([2, 6, 8, 10]);
  });
});

describe('quantile', () => {
  const h = { le: [0.1, 0.5, 1, Infinity], counts: [2, 6, 8, 10] };
  it('interpolates inside the bucket as histogram_quantile does', () => {
    expect(quantile(h, 0.5)).toBeCloseTo(0.1 + 0.4 * (3 / 4)); // rank 5: 3 of 4 into (0.1, 0.5]
    expect(quantile(h, 0.1)).toBeCloseTo(0.05); // rank 1 of the first bucket (0, 0.1]
  });
  it('gives the largest finite bound for the +Inf bucket', () => {
    expect(quantile(h, 0.99)).toBe(1);
  });
  it('is null without observations', () => {
    expect(quantile({ le: [0.1, Infinity], counts: [0, 0] }, 0.5)).toBeNull();
    expect(quantile({ le: [], counts: [] }, 0.5)).toBeNull();
  });
  it('works on the difference of two scrapes, and survives a counter reset', () => {
    const before = { le: [0.1, 0.5, 1, Infinity], counts: [1, 2, 2, 2] };
    const d = bucketDelta(h, before);
    expect(d.counts).toEqual([1, 4, 6, 8]);
    const reset = { le: [0.1, 0.5, 1, Infinity], counts: [0, 1, 1, 1] };
    expect(bucketDelta(reset, h)).toEqual(reset);
  });
});
