// What the dashboard listens to while it is open, one of each for the whole page: the runtime's
// lifecycle events (GET /v1/runtime/events, admin scope) and a scrape of /metrics every two seconds
// (metrics scope). Pages subscribe; nothing is polled per page.
import { useEffect, useState } from 'preact/hooks';
import { call, sse } from './lib/api';
import { MetricsHistory } from './lib/metrics_history';
import { parsePrometheus } from './lib/prom';
import type { ModelEvent } from './lib/runtime';

type Listener = () => void;

class Observable {
  private listeners = new Set<Listener>();
  version = 0;
  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  protected changed(): void {
    this.version++;
    for (const l of this.listeners) l();
  }
}

export interface ReceivedEvent {
  at: number; // ms since the epoch, when the page received it
  event: ModelEvent;
}

export class EventFeed extends Observable {
  readonly recent: ReceivedEvent[] = [];
  connected = false;
  error = '';
  private abort: AbortController | null = null;
  private handlers = new Set<(e: ModelEvent) => void>();

  onEvent(h: (e: ModelEvent) => void): () => void {
    this.handlers.add(h);
    return () => this.handlers.delete(h);
  }

  start(): void {
    if (this.abort) return;
    this.abort = new AbortController();
    void this.run(this.abort.signal);
  }

  stop(): void {
    this.abort?.abort();
    this.abort = null;
    this.connected = false;
  }

  private async run(signal: AbortSignal): Promise<void> {
    let wait = 1000;
    while (!signal.aborted) {
      try {
        const res = await call('/v1/runtime/events', { signal });
        this.connected = true;
        this.error = '';
        this.changed();
        wait = 1000;
        for await (const m of sse(res)) {
          const e = JSON.parse(m.data) as ModelEvent;
          this.recent.push({ at: Date.now(), event: e });
          if (this.recent.length > 300) this.recent.splice(0, this.recent.length - 300);
          for (const h of this.handlers) h(e);
          this.changed();
        }
      } catch (e) {
        if (signal.aborted) return;
        this.error = (e as Error).message;
      }
      this.connected = false;
      this.changed();
      // Reconnect after a pause that grows to 15 s while the server is away.
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, 15000);
    }
  }
}

export class MetricsFeed extends Observable {
  readonly history = new MetricsHistory(180);
  error = '';
  private timer: ReturnType<typeof setInterval> | null = null;
  private busy = false;

  start(intervalMs = 2000): void {
    if (this.timer) return;
    void this.scrape();
    this.timer = setInterval(() => void this.scrape(), intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async scrape(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const text = await (await call('/metrics')).text();
      this.history.add(Date.now() / 1000, parsePrometheus(text));
      this.error = '';
    } catch (e) {
      this.error = (e as Error).message;
    } finally {
      this.busy = false;
      this.changed();
    }
  }
}

export const events = new EventFeed();
export const metrics = new MetricsFeed();

// Re-renders the component whenever the feed changes.
export function useFeed(feed: Observable): number {
  const [, set] = useState(0);
  useEffect(() => feed.subscribe(() => set(feed.version)), [feed]);
  return feed.version;
}
