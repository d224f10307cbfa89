// The runtime's state as GET /v1/runtime/models answers it, kept current by the lifecycle events of
// GET /v1/runtime/events (src/server/runtime_json.cpp gives both shapes).

export type ModelState = 'loading' | 'loaded' | 'failed' | 'unloading' | 'unloaded';

export interface Estimate {
  weights: number;
  kv_cache: number;
  compute: number;
  total: number;
}

export interface ModelRecord {
  key: string;
  task: string;
  provider: string;
  model: string;
  revision: string;
  aliases: string[];
  state: ModelState;
  error: { code: string; message: string } | null;
  load_duration_ms: number;
  memory_bytes: number;
  estimated: Estimate;
  measured: Estimate;
  charged_bytes: number;
  pinned: boolean;
  keep_alive_ms: number;
  expires_at_ms: number | null;
  loaded_at_ms: number;
  last_used_ms: number;
  in_flight: number;
  waiting: number;
  load_count: number;
}

export interface AliasVersion {
  provider: string;
  model: string;
  revision: string;
  key: string;
  at_ms: number;
  by: string;
  action: string;
}

export interface AliasInfo {
  alias: string;
  task: string;
  provider: string;
  model: string;
  revision: string;
  warmup: string;
  fallbacks: string[];
  key: string;
  state: ModelState;
  pin: boolean;
  keep_alive_ms: number | null;
  history: AliasVersion[];
}

export interface MemoryStatus {
  budget: number;
  used: number;
  physical: number;
  max_loaded: number;
  loaded: number;
}

export interface RuntimeView {
  now_ms: number;
  models: ModelRecord[];
  aliases: AliasInfo[];
  memory: MemoryStatus;
  limits?: Record<string, number>;
}

export interface ModelEvent {
  event: 'loading' | 'loaded' | 'failed' | 'unloaded' | 'swapped';
  model: ModelRecord;
  progress?: number;
  stage?: string;
  reason?: string | null;
  alias?: string;
  previous?: string | null;
}

// What an event changes: the model's record (added when new), and the state of every alias on that
// model. A loading event's progress is kept beside it. Returns a new view; the old one is unchanged.
export function applyEvent(view: RuntimeView, e: ModelEvent): RuntimeView {
  const record = e.model;
  const models = view.models.some((m) => m.key === record.key)
    ? view.models.map((m) => (m.key === record.key ? record : m))
    : [...view.models, record];
  const aliases = view.aliases.map((a) => (a.key === record.key ? { ...a, state: record.state } : a));
  return { ...view, models, aliases };
}

// Whether an event changes more than its record (the memory in use, which alias points where), so
// that the page reads the whole view once again.
export function needsRefresh(e: ModelEvent): boolean {
  return e.event !== 'loading';
}

// The record of an alias's model, if it was ever loaded.
export function recordOf(view: RuntimeView, alias: AliasInfo): ModelRecord | undefined {
  return view.models.find((m) => m.key === alias.key);
}

// Records no configured alias points at now (ad-hoc models, or an alias's model before a swap).
export function unaliased(view: RuntimeView): ModelRecord[] {
  const keys = new Set(view.aliases.map((a) => a.key));
  return view.models.filter((m) => !keys.has(m.key));
}

// One line that says what an event was, for the Activity page.
export function describeEvent(e: ModelEvent): string {
  const name = e.model.aliases.length ? e.model.aliases.join(', ') : e.model.key;
  switch (e.event) {
    case 'loading':
      return `${name}: loading${e.stage ? ` (${e.stage}` : ''}${typeof e.progress === 'number' ? ` ${Math.round(e.progress * 100)}%` : ''}${e.stage ? ')' : ''}`;
    case 'loaded':
      return `${name}: loaded in ${e.model.load_duration_ms} ms`;
    case 'failed':
      return `${name}: failed${e.model.error ? `: ${e.model.error.message}` : ''}`;
    case 'unloaded':
      return `${name}: unloaded${e.reason ? ` (${e.reason})` : ''}`;
    case 'swapped':
      return `${e.alias ?? name}: swapped${e.previous ? ` from ${e.previous}` : ''} to ${e.model.key}`;
  }
  return `${name}: ${String(e.event)}`;
}

// Events as a list a person reads: of a run of loading events for one model (its progress) only
// the last stays. Oldest first, as given.
export function withoutRepeatedProgress<T extends { event: ModelEvent }>(list: T[]): T[] {
  const out: T[] = [];
  const lastOf = new Map<string, number>(); // model key -> index in out of its latest event
  for (const item of list) {
    const key = item.event.model.key;
    const i = lastOf.get(key);
    if (item.event.event === 'loading' && i !== undefined && out[i].event.event === 'loading') {
      out[i] = item;
      continue;
    }
    lastOf.set(key, out.length);
    out.push(item);
  }
  return out;
}
