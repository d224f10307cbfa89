import { describe, expect, it } from 'vitest';
import { chatRequest, chunkText, InputError, type ChatSettings } from '../src/lib/chat';
import { applyPullLine, pullStart } from '../src/lib/pull';
import { errorFromBody } from '../src/lib/api';
import { cellColor, cosine, lines, offDiagonalRange, similarityMatrix } from '../src/lib/vectors';
import { ago, bytes, duration, percent } from '../src/lib/format';

const base: ChatSettings = { model: 'chat/default', system: 'Be brief.', temperature: '0.5', maxTokens: '64', jsonSchema: '' };

describe('chatRequest', () => {
  it('puts the system prompt first and the settings in', () => {
    const b = chatRequest(base, [{ role: 'user', content: 'hi' }]);
    expect(b).toMatchObject({ model: 'chat/default', stream: true, temperature: 0.5, max_tokens: 64 });
    expect(b.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hi' },
    ]);
  });
  it('leaves out empty settings', () => {
    const b = chatRequest({ ...base, system: ' ', temperature: '', maxTokens: '' }, []);
    expect(b).not.toHaveProperty('temperature');
    expect(b).not.toHaveProperty('max_tokens');
    expect(b.messages).toEqual([]);
  });
  it('sends a JSON schema as response_format', () => {
    const b = chatRequest({ ...base, jsonSchema: '{"type":"object"}' }, []);
    expect(b.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'playground', schema: { type: 'object' }, strict: true } });
  });
  it('refuses bad settings with a message', () => {
    expect(() => chatRequest({ ...base, temperature: '3' }, [])).toThrow(InputError);
    expect(() => chatRequest({ ...base, maxTokens: '1.5' }, [])).toThrow(/integer/);
    expect(() => chatRequest({ ...base, jsonSchema: '{oops' }, [])).toThrow(/not valid JSON/);
    expect(() => chatRequest({ ...base, jsonSchema: '[1]' }, [])).toThrow(/object/);
    expect(() => chatRequest({ ...base, model: '' }, [])).toThrow(/model/);
  });
});

describe('chunkText', () => {
  it('reads deltas, the finish reason, usage and the end', () => {
    expect(chunkText('{"choices":[{"delta":{"content":"Hel"},"finish_reason":null}]}')).toEqual({ text: 'Hel', finish: null });
    expect(chunkText('{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5}}')).toEqual({ text: '', finish: null, usage: { prompt_tokens: 3, completion_tokens: 5 } });
    expect(chunkText('[DONE]')).toBeNull();
    expect(() => chunkText('{"error":{"message":"boom"}}')).toThrow('boom');
  });
});

describe('pull progress', () => {
  it('goes from bytes to 100% on success', () => {
    let s = applyPullLine(pullStart, { status: 'pulling manifest' });
    expect(s.percent).toBe(0);
    s = applyPullLine(s, { status: 'pulling a.gguf', digest: 'a.gguf', total: 1000, completed: 250 });
    expect(s.percent).toBe(25);
    s = applyPullLine(s, { status: 'pulling a.gguf', total: 1000, completed: 999 });
    expect(s.percent).toBe(99);
    s = applyPullLine(s, { status: 'success', model: 'org/a' });
    expect(s).toMatchObject({ percent: 100, finished: true, model: 'org/a' });
  });
  it('ends on an error line', () => {
    expect(applyPullLine(pullStart, { error: 'not found' })).toMatchObject({ status: 'failed', error: 'not found', finished: true });
  });
});

describe('errorFromBody', () => {
  it('reads every API family shape', () => {
    expect(errorFromBody(401, '{"error":{"message":"no key","code":"unauthorized"}}')).toMatchObject({ status: 401, message: 'no key', code: 'unauthorized' });
    expect(errorFromBody(404, '{"error":"model not found"}').message).toBe('model not found');
    expect(errorFromBody(400, '{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}')).toMatchObject({ message: 'bad', code: 'invalid_request_error' });
    expect(errorFromBody(502, 'Bad Gateway').message).toBe('Bad Gateway');
    expect(errorFromBody(500, '').message).toBe('HTTP 500');
  });
});

describe('vectors', () => {
  it('cosine and the matrix', () => {
    expect(cosine([1, 0], [1, 0])).toBeCloseTo(1);
    expect(cosine([1, 0], [0, 1])).toBeCloseTo(0);
    expect(cosine([1, 0], [-2, 0])).toBeCloseTo(-1);
    expect(Number.isNaN(cosine([0, 0], [1, 0]))).toBe(true);
    expect(Number.isNaN(cosine([1], [1, 2]))).toBe(true);
    const m = similarityMatrix([[1, 0], [0, 1], [1, 1]]);
    expect(m[0][0]).toBeCloseTo(1);
    expect(m[0][2]).toBeCloseTo(Math.SQRT1_2);
    expect(m[2][0]).toBeCloseTo(m[0][2]);
  });
  it('colours and lines', () => {
    expect(cellColor(NaN)).toBe('transparent');
    expect(cellColor(1)).toContain('215');
    expect(cellColor(-1)).toContain('hsla(5');
    expect(lines(' a \n\n b\nc', 2)).toEqual(['a', 'b']);
    // Within a narrow range the closest pair is the strongest, the farthest the faintest.
    const m = [[1, 0.9, 0.85], [0.9, 1, 0.95], [0.85, 0.95, 1]];
    expect(offDiagonalRange(m)).toEqual([0.85, 0.95]);
    expect(cellColor(0.95, 0.85, 0.95)).toBe('hsla(215, 75%, 50%, 0.900)');
    expect(cellColor(0.85, 0.85, 0.95)).toBe('hsla(215, 75%, 50%, 0.100)');
    expect(offDiagonalRange([[1]])).toEqual([-1, 1]);
  });
});

describe('format', () => {
  it('bytes, durations, ago, percent', () => {
    expect(bytes(512)).toBe('512 B');
    expect(bytes(1536)).toBe('1.5 KiB');
    expect(bytes(300 * 1024 * 1024)).toBe('300 MiB');
    expect(duration(-1)).toBe('forever');
    expect(duration(250)).toBe('250 ms');
    expect(duration(90_000)).toBe('2 min');
    expect(ago(0, 1000)).toBe('never');
    expect(ago(1000, 6000)).toBe('5.0 s ago');
    expect(percent(1, 3)).toBe(33);
    expect(percent(5, 0)).toBe(0);
    expect(percent(7, 5)).toBe(100);
  });
});
