// Incremental parsers for the streams the server sends: Server-Sent Events (chat completions, the
// runtime's lifecycle events) and newline-delimited JSON (pull progress). Both take text chunks as
// they arrive, cut anywhere, and return the complete messages so far.

export interface SseMessage {
  event: string; // "message" when the stream names none
  data: string;
  id?: string;
}

// The most text a parser keeps waiting for the end of one message: a hostile or broken stream
// cannot make the page hold unbounded memory.
export const MAX_PENDING_CHARS = 4 * 1024 * 1024;

export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private id: string | undefined;

  push(chunk: string): SseMessage[] {
    this.buffer += chunk;
    if (this.buffer.length > MAX_PENDING_CHARS) throw new Error('event stream message too large');
    const out: SseMessage[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      if (!m) break;
      // A lone '\r' at the end may be the first half of "\r\n": wait for the next chunk.
      if (m[0] === '\r' && m.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      const msg = this.line(line);
      if (msg) out.push(msg);
    }
    return out;
  }

  private line(line: string): SseMessage | null {
    if (line === '') {
      if (this.data.length === 0) {
        this.event = '';
        return null;
      }
      const msg: SseMessage = { event: this.event || 'message', data: this.data.join('\n') };
      if (this.id !== undefined) msg.id = this.id;
      this.event = '';
      this.data = [];
      return msg;
    }
    if (line.startsWith(':')) return null; // a comment (keep-alive ping)
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id') this.id = value;
    return null;
  }
}

export class LineSplitter {
  private buffer = '';

  // Complete non-empty lines so far; the rest waits for its newline.
  push(chunk: string): string[] {
    this.buffer += chunk;
    const parts = this.buffer.split('\n');
    this.buffer = parts.pop() ?? '';
    if (this.buffer.length > MAX_PENDING_CHARS) throw new Error('line too long in the stream');
    return parts.map((l) => l.replace(/\r$/, '')).filter((l) => l.trim() !== '');
  }

  // What is left when the stream ends (a last line without a newline).
  end(): string[] {
    const rest = this.buffer.trim();
    this.buffer = '';
    return rest ? [rest] : [];
  }
}
