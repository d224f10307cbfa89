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

// A cell's background: hue from red (-1) through neutral (0) to blue (1), stronger with |s|.
export function cellColor(s: number): string {
  if (!Number.isFinite(s)) return 'transparent';
  const v = Math.max(-1, Math.min(1, s));
  const hue = v >= 0 ? 215 : 5;
  const alpha = Math.abs(v) * 0.85 + 0.05;
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
