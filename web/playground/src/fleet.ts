// "Run on this fleet": the cluster environment's protocol (src/cluster/cluster_env.h) spoken
// from the interpreter's Web Worker to the planner that served the page. The program's
// top-level code runs in the tab (the fly_fleet build of the interpreter, which Asyncify lets
// wait for this); each fly's instances go to the fleet's `fly` workers:
//   the program (and a large spec) to the blob store: PUT /api/v1/blobs/{sha256};
//   one `fly` task per chunk over the streaming WebSocket /api/v1/stream (docs/rest-api.md);
//   the chunks' live output, then each chunk's result: the rest of its output, the messages
//   its instances sent (in instance order) and their return values, handed to the job.
// fleet_env.cc describes the job text; the volo_fleet_* exports take the results.

interface FleetModule {
  ccall(name: string, ret: string | null, types: string[], args: unknown[]): number;
}

interface Job {
  source: string;
  spec: string;
  count: number;
  args: string[] | null;
}

interface Chunk {
  first: number;
  count: number;
  shown: number;  // bytes of its output already printed
  done: boolean;
}

const kInlineSpecBytes = 64 * 1024;  // as cluster_env.cc: larger specs travel as blobs
const kMaxChunk = 10000;
const kSubmitBytes = 8 << 20;

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class Fleet {
  slots = 0;
  private socket: WebSocket | null = null;
  private nextTag = 1;
  private uploaded = new Set<string>();
  // Per acknowledged task id, its chunk and the run it belongs to.
  private byId = new Map<number, { chunk: Chunk; run: Run }>();
  private byTag = new Map<number, { chunks: Chunk[]; run: Run }>();
  private early: { kind: string; body: any }[] = [];
  private runs = new Set<Run>();

  constructor(private module: FleetModule, private base: string, private token: string,
              private onTasks: (ids: number[]) => void) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.token ? { ...extra, Authorization: `Bearer ${this.token}` } : extra;
  }

  // The fly slots of the live workers now.
  async refreshSlots(): Promise<number> {
    const res = await fetch(`${this.base}api/v1/workers`, { headers: this.headers() });
    if (!res.ok) throw new Error(`the planner answered GET /api/v1/workers with HTTP ${res.status}`);
    const body = await res.json();
    this.slots = 0;
    for (const w of body.workers ?? []) {
      if (w.state === "live" && (w.ops ?? []).includes("fly")) this.slots += w.slots ?? 1;
    }
    return this.slots;
  }

  private async putBlob(bytes: Uint8Array): Promise<string> {
    const hash = await sha256Hex(bytes);
    if (this.uploaded.has(hash)) return hash;
    const res = await fetch(`${this.base}api/v1/blobs/${hash}`, {
      method: "PUT", body: bytes,
      headers: this.headers({ "Content-Type": "application/octet-stream" }),
    });
    if (!res.ok) {
      throw new Error(`the planner refused the program: HTTP ${res.status} ${await res.text()}`);
    }
    this.uploaded.add(hash);
    return hash;
  }

  private connect(): Promise<WebSocket> {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) return Promise.resolve(this.socket);
    const url = new URL("api/v1/stream", this.base);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.onopen = () => {
        this.socket = ws;
        resolve(ws);
      };
      ws.onerror = () => reject(new Error(`cannot open ${url}`));
      ws.onclose = () => {
        this.socket = null;
        for (const run of [...this.runs]) {
          run.failRemaining("lost the connection to the planner");
        }
      };
      ws.onmessage = (e) => this.onMessage(JSON.parse(String(e.data)));
    });
  }

  // Runs every instance of the job on the fleet; resolves when each has completed.
  async run(job: number, text: string): Promise<void> {
    const j: Job = JSON.parse(text);
    const enc = new TextEncoder();
    const program = await this.putBlob(enc.encode(j.source));
    const spec = JSON.parse(j.spec);
    const specField: Record<string, string> = {};
    if (enc.encode(j.spec).length > kInlineSpecBytes) {
      specField.spec_blob = await this.putBlob(enc.encode(j.spec));
    } else {
      specField.spec = j.spec;
    }
    const slots = await this.refreshSlots();
    if (slots === 0) {
      throw new Error(`no worker with the fly operation is registered with the planner at ${this.base}`);
    }
    const ws = await this.connect();
    const run = new Run(this.module, job, j.count, this);
    this.runs.add(run);
    const size = Math.min(Math.max(Math.floor(j.count / (16 * slots)), 1), kMaxChunk);
    let batch: { tasks: object[]; chunks: Chunk[] } = { tasks: [], chunks: [] };
    let bytes = 0;
    const send = () => {
      if (batch.tasks.length === 0) return;
      const tag = this.nextTag++;
      this.byTag.set(tag, { chunks: batch.chunks, run });
      ws.send(JSON.stringify({ t: "submit", tag, tasks: batch.tasks }));
      batch = { tasks: [], chunks: [] };
      bytes = 0;
    };
    for (let first = 0; first < j.count; first += size) {
      const count = Math.min(size, j.count - first);
      const args: Record<string, unknown> = { program, file: spec.file ?? "main.fly", ...specField, first, count };
      if (j.args) args.args = j.args.slice(first, first + count);
      const task = { op: "fly", args, retries: 1 };
      const length = JSON.stringify(task).length;
      if (bytes > 0 && bytes + length > kSubmitBytes) send();
      bytes += length;
      batch.tasks.push(task);
      const chunk: Chunk = { first, count, shown: 0, done: false };
      batch.chunks.push(chunk);
      run.chunks.push(chunk);
    }
    send();
    await run.finished;
    this.runs.delete(run);
  }

  // A run that could not start: every instance fails with `why`.
  failAll(job: number, text: string, why: string) {
    const j: Job = JSON.parse(text);
    const run = new Run(this.module, job, j.count, this);
    run.chunks.push({ first: 0, count: j.count, shown: 0, done: false });
    run.failRemaining(why);
  }

  private onMessage(m: any) {
    if (m.t === "submitted") {
      const entry = this.byTag.get(m.tag);
      if (!entry) return;
      this.byTag.delete(m.tag);
      const ids: number[] = [];
      entry.chunks.forEach((chunk, k) => {
        if (k >= m.count) return;
        this.byId.set(m.first + k, { chunk, run: entry.run });
        ids.push(m.first + k);
      });
      this.onTasks(ids);
      const early = this.early;
      this.early = [];
      for (const e of early) this.onMessage(e.body);
    } else if (m.t === "output") {
      for (const p of m.output ?? []) {
        const entry = this.byId.get(p.id);
        if (!entry) {
          this.early.push({ kind: "output", body: { t: "output", output: [p] } });
          continue;
        }
        entry.run.print(entry.chunk, p.offset, p.text);
      }
    } else if (m.t === "results") {
      for (const r of m.results ?? []) {
        const entry = this.byId.get(r.id);
        if (!entry) {
          this.early.push({ kind: "results", body: { t: "results", results: [r] } });
          continue;
        }
        this.byId.delete(r.id);
        entry.run.result(entry.chunk, r);
      }
    } else if (m.t === "error") {
      const entry = this.byTag.get(m.tag);
      const refused = entry ? [entry] : [...this.byTag.values()];
      this.byTag.clear();
      for (const e of refused) {
        for (const c of e.chunks) e.run.failChunk(c, `the planner refused the fly: ${m.message}`);
      }
    }
  }
}

// One fly job on the fleet: its chunks, and the job's callbacks in the interpreter.
class Run {
  chunks: Chunk[] = [];
  private remaining: number;
  private resolve!: () => void;
  finished = new Promise<void>((r) => (this.resolve = r));

  constructor(private module: FleetModule, private job: number, count: number, _fleet: Fleet) {
    this.remaining = count;
    if (count === 0) this.resolve();
  }

  print(chunk: Chunk, offset: number, text: string) {
    if (chunk.done) return;
    // Offsets count bytes of UTF-8; text arrives as whole lines, so whole characters.
    const bytes = new TextEncoder().encode(text);
    const end = offset + bytes.length;
    if (end <= chunk.shown) return;
    const rest = offset < chunk.shown ? new TextDecoder().decode(bytes.subarray(chunk.shown - offset)) : text;
    chunk.shown = end;
    if (rest) this.module.ccall("volo_fleet_print", null, ["number", "string"], [this.job, rest]);
  }

  private complete(index: number, ok: boolean, text: string) {
    this.module.ccall("volo_fleet_complete", null, ["number", "number", "number", "string"],
                      [this.job, index, ok ? 1 : 0, text]);
    if (--this.remaining === 0) this.resolve();
  }

  result(chunk: Chunk, r: any) {
    if (chunk.done) return;
    if (r.state !== "done") {
      this.failChunk(chunk, r.state === "cancelled" ? "the chunk was cancelled" : String(r.error ?? "failed"));
      return;
    }
    const o = typeof r.result === "string" ? JSON.parse(r.result) : r.result;
    if (typeof o?.output === "string") this.print(chunk, Number(o.output_offset ?? 0), o.output);
    chunk.done = true;
    for (const m of o?.messages ?? []) {
      if (!Array.isArray(m) || m.length !== 4 || typeof m[3] !== "string") continue;
      this.module.ccall("volo_fleet_deliver", "number", ["number", "number", "string"],
                        [this.job, Number(m[2]), m[3]]);
    }
    const returns: unknown[] | null = Array.isArray(o?.returns) ? o.returns : null;
    for (let k = 0; k < chunk.count; ++k) {
      const v = returns && typeof returns[k] === "string" ? (returns[k] as string) : "null";
      this.complete(chunk.first + k, true, v);
    }
  }

  // "instance I: message": I failed with message, those before it ran, those after did not.
  failChunk(chunk: Chunk, error: string) {
    if (chunk.done) return;
    chunk.done = true;
    let failed = chunk.first;
    let message = error;
    const m = /(?:^|: )instance (\d+): /.exec(error);
    if (m && Number(m[1]) >= chunk.first && Number(m[1]) < chunk.first + chunk.count) {
      failed = Number(m[1]);
      message = error.split(`instance ${m[1]}: `).join("");
    }
    for (let k = 0; k < chunk.count; ++k) {
      const i = chunk.first + k;
      if (i < failed) this.complete(i, true, "null");
      else if (i === failed) this.complete(i, false, message);
      else this.complete(i, false, `not run: instance ${failed} failed`);
    }
  }

  failRemaining(why: string) {
    for (const c of this.chunks) {
      if (c.done) continue;
      c.done = true;
      for (let k = 0; k < c.count; ++k) this.complete(c.first + k, false, why);
    }
  }
}
