import { describe, expect, it } from 'vitest';
import { LineSplitter, MAX_PENDING_CHARS, SseParser } from '../src/lib/sse';

describe('SseParser', () => {
  it('parses events cut at any byte', () => {
    const text = 'event: loaded\ndata: {"a":1}\n\n: ping\n\ndata: x\ndata: y\n\n';
    for (let cut = 0; cut <= text.length; cut++) {
      const p = new SseParser();
      const out = [...p.push(text.slice(0, cut)), ...p.push(text.slice(cut))];
      expect(out).toEqual([
        { event: 'loaded', data: '{"a":1}' },
        { event: 'message', data: 'x\ny' },
      ]);
    }
  });

  it('takes CRLF and CR line ends, also split between chunks', () => {
    const p = new SseParser();
    expect(p.push('data: a\r')).toEqual([]);
    expect(p.push('\n\r\n')).toEqual([{ event: 'message', data: 'a' }]);
    expect(p.push('data: b\r\r')).toEqual([]); // the last CR may be half of a CRLF
    expect(p.push(': next')).toEqual([{ event: 'message', data: 'b' }]);
  });

  it('ignores comments and unknown fields, keeps the id', () => {
    const p = new SseParser();
    expect(p.push(': xervo runtime events\n\nretry: 5\nid: 7\ndata: z\n\n')).toEqual([{ event: 'message', data: 'z', id: '7' }]);
  });

  it('refuses a message that never ends', () => {
    const p = new SseParser();
    expect(() => p.push('data: ' + 'x'.repeat(MAX_PENDING_CHARS))).toThrow(/too large/);
  });
});

describe('LineSplitter', () => {
  it('returns whole lines and keeps the rest', () => {
    const s = new LineSplitter();
    expect(s.push('{"a":1}\n{"b"')).toEqual(['{"a":1}']);
    expect(s.push(':2}\r\n\n')).toEqual(['{"b":2}']);
    expect(s.push('{"c":3}')).toEqual([]);
    expect(s.end()).toEqual(['{"c":3}']);
  });
});
