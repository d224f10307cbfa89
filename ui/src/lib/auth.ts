// The API key of this browser tab (sessionStorage: gone when the tab closes, never in a URL) and
// what the server says it may do (GET /v1/auth/whoami).

export type Scope = 'inference' | 'batch' | 'metrics' | 'library' | 'admin';

export interface Who {
  auth: boolean; // false: the server has no authentication configured
  kind: string | null; // "key" | "jwt"
  name: string | null;
  scopes: Scope[]; // every scope the credential allows (admin implies all: the server says so)
  roles?: string[];
  models?: string;
}

const STORAGE_KEY = 'xervo.apiKey';

export interface KeyStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

function store(): KeyStore | null {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null; // storage disabled: the key lives only in memory
  }
}

let memoryKey: string | null = null;

export function loadKey(s: KeyStore | null = store()): string | null {
  return s ? s.getItem(STORAGE_KEY) : memoryKey;
}

export function saveKey(key: string, s: KeyStore | null = store()): void {
  if (s) s.setItem(STORAGE_KEY, key);
  else memoryKey = key;
}

export function forgetKey(s: KeyStore | null = store()): void {
  if (s) s.removeItem(STORAGE_KEY);
  memoryKey = null;
}

// A pasted key loses surrounding blanks and an accidental "Bearer " prefix; anything with control
// characters or spaces inside is no key (and would not make a valid header).
export function normalizeKey(text: string): string | null {
  let k = text.trim();
  if (/^bearer\s+/i.test(k)) k = k.replace(/^bearer\s+/i, '');
  if (k === '' || k.length > 8192 || /[\s\x00-\x1f\x7f]/.test(k)) return null;
  return k;
}

export function can(who: Who | null, scope: Scope): boolean {
  return !!who && who.scopes.includes(scope);
}

// The pages the principal may open, in the order of the navigation bar.
export type Page = 'models' | 'library' | 'playground' | 'metrics' | 'activity';
export function pagesFor(who: Who | null): Page[] {
  if (!who) return [];
  const pages: Page[] = [];
  if (can(who, 'inference') || can(who, 'admin')) pages.push('models');
  if (can(who, 'library')) pages.push('library');
  if (can(who, 'inference')) pages.push('playground');
  if (can(who, 'metrics')) pages.push('metrics');
  if (can(who, 'admin') || can(who, 'batch')) pages.push('activity');
  return pages;
}
