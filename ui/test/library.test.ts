import { describe, expect, it } from 'vitest';
import { searchQuery } from '../src/pages/library';

describe('library search query', () => {
  it('sends only the filters that are set, trimmed and encoded', () => {
    expect(searchQuery({ q: '', task: '', architecture: '', quantization: '', state: '', sort: '' })).toBe('limit=200');
    const q = new URLSearchParams(searchQuery({ q: ' bge small ', task: 'embed', architecture: 'bert', quantization: 'Q8_0', state: 'ready', sort: 'size' }));
    expect(Object.fromEntries(q)).toEqual({ q: 'bge small', task: 'embed', architecture: 'bert', quantization: 'Q8_0', state: 'ready', sort: 'size', limit: '200' });
    expect(searchQuery({ q: 'a&b=c', task: '', architecture: '', quantization: '', state: '', sort: '' })).toBe('q=a%26b%3Dc&limit=200');
  });
});
