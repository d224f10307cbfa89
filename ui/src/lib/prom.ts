// The server's own numbers: its /metrics text (Prometheus format 0.0.4) parsed into samples, and
// the usual arithmetic over them (sums, histogram quantiles as Prometheus computes them).

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseLabels(text: string): Record<string, string> | null {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    while (text[i] === ' ' || text[i] === ',') i++;
    if (i >= text.length) break;
    const eq = text.indexOf('=', i);
    if (eq < 0 || text[eq + 1] !== '"') return null;
    const name = text.slice(i, eq).trim();
    let j = eq + 2;
    let value = '';
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\' && j + 1 < text.length) {
        const c = text[++j];
        value += c === 'n' ? '\n' : c;
      } else {
        value += text[j];
      }
    }
    if (j >= text.length) return null;
    labels[name] = value;
    i = j + 1;
  }
  return labels;
}

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

// Every sample line; comments, blank and malformed lines are skipped.
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    let name: string;
    let labels: Record<string, string> = {};
    let rest: string;
    const brace = line.indexOf('{');
    const space = line.indexOf(' ');
    if (brace >= 0 && (space < 0 || brace < space)) {
      const close = line.lastIndexOf('}');
      if (close < brace) continue;
      name = line.slice(0, brace);
      const parsed = parseLabels(line.slice(brace + 1, close));
      if (!parsed) continue;
      labels = parsed;
      rest = line.slice(close + 1).trim();
    } else {
      if (space < 0) continue;
      name = line.slice(0, space);
      rest = line.slice(space + 1).trim();
    }
    const value = parseValue(rest.split(/\s+/)[0] ?? '');
    if (!name || Number.isNaN(value)) continue;
    out.push({ name, labels, value });
  }
  return out;
}

export type LabelFilter = (labels: Record<string, string>) => boolean;
const any: LabelFilter = () => true;

export function sum(samples: Sample[], name: string, filter: LabelFilter = any): number {
  let total = 0;
  for (const s of samples) if (s.name === name && filter(s.labels)) total += s.value;
  return total;
}

// A histogram's cumulative buckets summed over the series that pass `filter`, by upper bound.
export interface Buckets {
  le: number[]; // ascending, +Inf last
  counts: number[]; // cumulative
}

export function buckets(samples: Sample[], name: string, filter: LabelFilter = any): Buckets {
  const byLe = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket` || !filter(s.labels) || s.labels.le === undefined) continue;
    const le = parseValue(s.labels.le);
    if (Number.isNaN(le)) continue;
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  const le = [...byLe.keys()].sort((a, b) => a - b);
  return { le, counts: le.map((b) => byLe.get(b) ?? 0) };
}

// later - earlier, bucket by bucket (a counter reset, i.e. a restarted server, gives `later`).
export function bucketDelta(later: Buckets, earlier: Buckets | null): Buckets {
  if (!earlier) return later;
  const prev = new Map(earlier.le.map((b, i) => [b, earlier.counts[i]]));
  const counts = later.le.map((b, i) => later.counts[i] - (prev.get(b) ?? 0));
  if (counts.some((c) => c < 0)) return later;
  return { le: later.le, counts };
}

// The q-quantile (0..1) of a cumulative histogram, interpolated linearly inside its bucket, as
// Prometheus's histogram_quantile() does; null without observations. A quantile in the +Inf bucket
// is the largest finite bound.
export function quantile(h: Buckets, q: number): number | null {
  const n = h.counts.length;
  if (n === 0) return null;
  const total = h.counts[n - 1];
  if (!(total > 0)) return null;
  const rank = q * total;
  let i = 0;
  while (i < n - 1 && h.counts[i] < rank) i++;
  const upper = h.le[i];
  if (upper === Infinity) return n >= 2 ? h.le[n - 2] : null;
  const lower = i === 0 ? 0 : h.le[i - 1];
  const below = i === 0 ? 0 : h.counts[i - 1];
  const inBucket = h.counts[i] - below;
  if (inBucket <= 0) return upper;
  return lower + ((upper - lower) * (rank - below)) / inBucket;
}
