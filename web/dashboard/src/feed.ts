// The live feed: one WebSocket to /api/v1/events, reconnected with backoff. Every snapshot
// goes to every listener; the feed keeps the history and the recent tasks for late views.
export interface TaskRow {
  id: number;
  op: string;
  state: string;
  worker?: string;
  submitted?: number;
  started?: number;
  finished?: number;
  attempts?: number;
  error?: string;
}
export interface WorkerRow {
  id: string;
  kind: string;
  ops: string[];
  slots: number;
  running: number;
  done: number;
  busy_seconds: number;
  state: string;
  resources: Record<string, unknown>;
  resources_used: Record<string, unknown>;
}
export interface Snapshot {
  type: "hello" | "tick";
  t: number;
  counts: { queued: number; running: number; done: number; failed: number; cancelled: number };
  next_id: number;
  workers: WorkerRow[];
  running: TaskRow[];
  running_total: number;
  queues: { op: string; queued: number; reason?: string }[];
  finished: TaskRow[];
  finished_skipped?: number;
  history?: number[][];
  recent?: TaskRow[];
  point?: number[];
}

type Listener = (s: Snapshot) => void;

export class Feed {
  history: number[][] = []; // [t, finished/s, submitted/s, p50, p99, queued, running]
  recent: TaskRow[] = []; // finished tasks, oldest first
  last: Snapshot | null = null;
  connected = false;
  private listeners = new Set<Listener>();
  private statusListeners = new Set<(up: boolean) => void>();
  private backoff = 250;
  private running = false;
  private refused: () => Promise<boolean> = async () => true;

  start(): void {
    if (this.running) return;
    this.running = true;
    this.connect();
  }

  // Called when a connection is refused before it opens (the browser does not say why): true
  // to keep trying, false to stop until start() (the page asks for the token again).
  whenRefused(fn: () => Promise<boolean>): void {
    this.refused = fn;
  }

  private connect(): void {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/api/v1/events`);
    let opened = false;
    ws.onopen = () => {
      opened = true;
      ws.send("subscribe");
      this.backoff = 250;
    };
    ws.onmessage = (e) => this.onSnapshot(JSON.parse(e.data as string) as Snapshot);
    ws.onclose = async () => {
      this.setConnected(false);
      // A planner that restarted has forgotten the session: reconnecting would be refused
      // forever, so ask (once the planner answers again) whether to log in first.
      if (!opened && !(await this.refused().catch(() => true))) {
        this.running = false;
        return;
      }
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 5000);
    };
  }

  on(fn: Listener): () => void {
    this.listeners.add(fn);
    if (this.last) fn(this.last);
    return () => this.listeners.delete(fn);
  }
  onStatus(fn: (up: boolean) => void): void {
    this.statusListeners.add(fn);
  }

  private setConnected(up: boolean): void {
    if (this.connected === up) return;
    this.connected = up;
    for (const fn of this.statusListeners) fn(up);
  }

  private onSnapshot(s: Snapshot): void {
    this.setConnected(true);
    if (s.type === "hello") {
      this.history = s.history ?? [];
      this.recent = s.recent ?? [];
    }
    if (s.point && (!this.history.length || this.history[this.history.length - 1][0] < s.point[0])) {
      this.history.push(s.point);
      if (this.history.length > 600) this.history.shift();
    }
    for (const t of s.finished) this.recent.push(t);
    if (this.recent.length > 4000) this.recent.splice(0, this.recent.length - 4000);
    this.last = s;
    for (const fn of this.listeners) fn(s);
  }
}

export const feed = new Feed();
