// The Playground's arithmetic: cosine similarity of embeddings and the colour of a matrix cell.

export function cosine(a: number[], b: number[]): number {
  if (a.length !== b.length || a.length === 0) return NaN;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  if (na === 0 || nb === 0) return NaN;
  return dot / Math.sqrt(na * nb);
}

export function similarityMatrix(vectors: number[][]): number[][] {
  return vectors.map((a) => vectors.map((b) => cosine(a, b)));
}

// The lowest and highest similarity between two different texts: the colour scale's ends, so that
// an embedder whose similarities all lie in 0.85..0.95 still shows which pairs are closer.
export function offDiagonalRange(m: number[][]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  m.forEach((row, i) =>
    row.forEach((s, j) => {
      if (i === j || !Number.isFinite(s)) return;
      lo = Math.min(lo, s);
      hi = Math.max(hi, s);
    }),
  );
  return Number.isFinite(lo) ? [lo, hi] : [-1, 1];
}

// A cell's background: blue for similar, red for opposite (s < 0); stronger the closer s is to the
// top of [lo, hi] (default the whole -1..1).
export function cellColor(s: number, lo = -1, hi = 1): string {
  if (!Number.isFinite(s)) return 'transparent';
  const v = Math.max(-1, Math.min(1, s));
  const hue = v >= 0 ? 215 : 5;
  const t = hi > lo ? Math.max(0, Math.min(1, (v - lo) / (hi - lo))) : 1;
  const alpha = v >= 0 ? t * 0.8 + 0.1 : Math.abs(v) * 0.8 + 0.1;
  return `hsla(${hue}, 75%, 50%, ${alpha.toFixed(3)})`;
}

// The texts of a textarea: one per non-empty line, at most `max`.
export function lines(text: string, max = 32): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .slice(0, max);
}
