import { describe, expect, it } from 'vitest';
import { can, forgetKey, loadKey, normalizeKey, pagesFor, saveKey, type KeyStore, type Who } from '../src/lib/auth';

class MemoryStore implements KeyStore {
  data = new Map<string, string>();
  getItem(k: string) {
    return this.data.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.data.set(k, v);
  }
  removeItem(k: string) {
    this.data.delete(k);
  }
}

const who = (scopes: Who['scopes']): Who => ({ auth: true, kind: 'key', name: 'k', scopes });

describe('keys', () => {
  it('keeps the key in the given session store and forgets it', () => {
    const s = new MemoryStore();
    expect(loadKey(s)).toBeNull();
    saveKey('xk-abc', s);
    expect(loadKey(s)).toBe('xk-abc');
    forgetKey(s);
    expect(loadKey(s)).toBeNull();
  });
  it('normalizes a pasted key and refuses what is no key', () => {
    expect(normalizeKey('  xk-abc \n')).toBe('xk-abc');
    expect(normalizeKey('Bearer xk-abc')).toBe('xk-abc');
    expect(normalizeKey('')).toBeNull();
    expect(normalizeKey('two words')).toBeNull();
    expect(normalizeKey('bad\u0007')).toBeNull();
  });
});

describe('scopes', () => {
  it('an inference key has no admin or library pages', () => {
    const w = who(['inference', 'batch', 'metrics']);
    expect(can(w, 'admin')).toBe(false);
    expect(pagesFor(w)).toEqual(['models', 'playground', 'metrics', 'activity']);
  });
  it('an admin key has every page', () => {
    expect(pagesFor(who(['inference', 'batch', 'metrics', 'library', 'admin']))).toEqual(['models', 'library', 'playground', 'metrics', 'activity']);
  });
  it('a metrics-only key sees the charts only', () => {
    expect(pagesFor(who(['metrics']))).toEqual(['metrics']);
    expect(pagesFor(null)).toEqual([]);
  });
});
