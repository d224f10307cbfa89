import { describe, expect, it } from 'vitest';
import { applyEvent, describeEvent, withoutRepeatedProgress, needsRefresh, recordOf, unaliased, type AliasInfo, type ModelRecord, type RuntimeView } from '../src/lib/runtime';

const estimate = { weights: 0, kv_cache: 0, compute: 0, total: 0 };
function record(key: string, state: ModelRecord['state'], aliases: string[] = []): ModelRecord {
  return {
    key, task: 'embed', provider: 'llamacpp', model: '/m.gguf', revision: '', aliases, state, error: null,
    load_duration_ms: 12, memory_bytes: 100, estimated: estimate, measured: estimate, charged_bytes: 0,
    pinned: false, keep_alive_ms: 300000, expires_at_ms: null, loaded_at_ms: 0, last_used_ms: 0,
    in_flight: 0, waiting: 0, load_count: 1,
  };
}
function alias(name: string, key: string): AliasInfo {
  return { alias: name, task: 'embed', provider: 'llamacpp', model: '/m.gguf', revision: '', warmup: 'lazy', fallbacks: [], key, state: 'unloaded', pin: false, keep_alive_ms: null, history: [] };
}
const view: RuntimeView = {
  now_ms: 0,
  models: [record('k-other', 'loaded')],
  aliases: [alias('embed/default', 'k1'), alias('embed/same', 'k1'), alias('chat/default', 'k2')],
  memory: { budget: 0, used: 0, physical: 0, max_loaded: 0, loaded: 0 },
};

describe('applyEvent', () => {
  it('adds a new record and sets the state of every alias on it', () => {
    const v = applyEvent(view, { event: 'loading', model: record('k1', 'loading', ['embed/default']), progress: 0.5 });
    expect(v.models.map((m) => m.key)).toEqual(['k-other', 'k1']);
    expect(v.aliases.map((a) => a.state)).toEqual(['loading', 'loading', 'unloaded']);
    expect(view.aliases[0].state).toBe('unloaded'); // the old view is unchanged
    const w = applyEvent(v, { event: 'loaded', model: record('k1', 'loaded') });
    expect(w.models).toHaveLength(2);
    expect(recordOf(w, w.aliases[0])?.state).toBe('loaded');
    const u = applyEvent(w, { event: 'unloaded', model: record('k1', 'unloaded'), reason: 'explicit' });
    expect(u.aliases[1].state).toBe('unloaded');
  });

  it('lists records no alias points at', () => {
    expect(unaliased(view).map((m) => m.key)).toEqual(['k-other']);
  });

  it('asks for a full read after everything but progress', () => {
    expect(needsRefresh({ event: 'loading', model: record('k1', 'loading') })).toBe(false);
    expect(needsRefresh({ event: 'swapped', model: record('k1', 'loaded'), alias: 'embed/default' })).toBe(true);
  });

  it('keeps only the last progress event of a load in the readable list', () => {
    const ev = (event: 'loading' | 'loaded', key: string, progress?: number) => ({ event: { event, model: record(key, event), progress } });
    const list = [ev('loading', 'a', 0), ev('loading', 'b', 0), ev('loading', 'a', 0.5), ev('loading', 'a', 1), ev('loaded', 'a'), ev('loading', 'a', 0)];
    const out = withoutRepeatedProgress(list).map((x) => `${x.event.model.key}:${x.event.event}:${x.event.progress ?? ''}`);
    expect(out).toEqual(['a:loading:1', 'b:loading:0', 'a:loaded:', 'a:loading:0']);
  });

  it('describes events in one line', () => {
    expect(describeEvent({ event: 'unloaded', model: record('k1', 'unloaded', ['embed/default']), reason: 'evicted' })).toBe('embed/default: unloaded (evicted)');
    expect(describeEvent({ event: 'loading', model: record('k1', 'loading', ['a']), progress: 0.25, stage: 'weights' })).toBe('a: loading (weights 25%)');
    const failed = { ...record('k9', 'failed'), error: { code: 'model_load_failed', message: 'bad file' } };
    expect(describeEvent({ event: 'failed', model: failed })).toBe('k9: failed: bad file');
  });
});
