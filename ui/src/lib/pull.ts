// A library pull's progress from the lines of Ollama's POST /api/pull (the library reports bytes
// done of the whole pull, every file together).

export interface PullLine {
  status?: string;
  digest?: string;
  total?: number;
  completed?: number;
  model?: string;
  error?: string;
}

export interface PullState {
  status: string;
  file: string;
  done: number;
  total: number;
  percent: number;
  finished: boolean;
  model?: string;
  error?: string;
}

export const pullStart: PullState = { status: 'starting', file: '', done: 0, total: 0, percent: 0, finished: false };

export function applyPullLine(s: PullState, line: PullLine): PullState {
  if (line.error) return { ...s, status: 'failed', error: line.error, finished: true };
  if (line.status === 'success') return { ...s, status: 'success', percent: 100, done: s.total || s.done, finished: true, model: line.model };
  const total = typeof line.total === 'number' && line.total > 0 ? line.total : s.total;
  const done = typeof line.completed === 'number' ? line.completed : s.done;
  const percent = total > 0 ? Math.min(99, Math.floor((done * 100) / total)) : s.percent;
  return { ...s, status: line.status ?? s.status, file: line.digest ?? s.file, total, done, percent: done >= total && total > 0 ? 100 : percent };
}
