// The interpreter's Web Worker: loads fly.js/fly.wasm (the FLY interpreter built from src/fly)
// once, then runs each program it is sent. The program runs synchronously here, off the page's
// thread; every flush of its output is posted at once, so the page shows lines as they are
// printed. Stop is the page terminating this worker (and starting a fresh one).
import type { RunRequest, WorkerMessage } from "./protocol";

declare function importScripts(...urls: string[]): void;
declare function createFlyModule(options: object): Promise<FlyModule>;
declare function createFlyMtModule(options: object): Promise<FlyModule>;

interface FlyModule {
  fleetClient?: Fleet;
  ccall(name: string, ret: string | null, types: string[], args: unknown[]): number;
  FS: {
    mkdirTree(path: string): void;
    writeFile(path: string, data: Uint8Array): void;
  };
}

const post = (m: WorkerMessage) => (self as unknown as Worker).postMessage(m);

// ---- "run on this fleet" ----

// The planner's REST API for fleet.cc (through playground.js), with synchronous requests: they
// block this worker only, which is what the interpreter's one thread wants while it waits for
// a fly's chunks. Every method answers "ok\n..." or throws an Error with what went wrong.
interface TaskView {
  id: number;
  state: string;
  error: string | null;
  result: {
    returns?: (string | null)[] | null;
    messages?: [number, number, number, string][];
    output?: string;
    output_offset?: number;
  } | null;
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; ++i) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) { n += 4; ++i; }
    else n += 3;
  }
  return n;
}

// One record of a wait answer: "TAG A B LEN\n" + LEN bytes of UTF-8 + "\n" (fleet.cc reads it).
function record(out: string[], tag: string, a: number, b: number, body: string) {
  out.push(`${tag} ${a} ${b} ${utf8Length(body)}\n`, body, "\n");
}

class Fleet {
  private readonly decoder = new TextDecoder();

  constructor(private readonly url: string, private readonly api: string,
              private readonly csrf: string) {}

  slots(): string {
    const x = this.request("GET", "workers");
    const workers = (JSON.parse(x.responseText) as {
      workers: { state: string; ops: string[]; slots: number }[];
    }).workers;
    let slots = 0;
    for (const w of workers) {
      if (w.state === "live" && w.ops.includes("fly")) slots += w.slots;
    }
    return `ok\n${slots}`;
  }

  putBlob(hash: string, bytes: Uint8Array): string {
    this.request("PUT", `blobs/${hash}`, bytes);
    return "ok\n";
  }

  submit(body: string): string {
    const ids = (JSON.parse(this.request("POST", "tasks", body).responseText) as { ids: number[] }).ids;
    post({ kind: "fleet", submitted: [ids[0], ids.length] });
    return `ok\n${ids[0]}`;
  }

  wait(ids: string, timeout: number): string {
    const body = JSON.stringify({ ids: ids.split(",").map(Number), timeout });
    const tasks = (JSON.parse(this.request("POST", "wait", body).responseText) as {
      tasks: TaskView[];
    }).tasks;
    const out = ["ok\n"];
    const ended: number[] = [];
    for (const t of tasks) {
      if (t.state !== "done" && t.state !== "failed" && t.state !== "cancelled") continue;
      ended.push(t.id);
      record(out, "T", t.id, 0, t.state);
      const r = t.result ?? {};
      // The chunk's output: the lines it printed while it ran are the task's stdout log (the
      // planner keeps them for REST clients); the result holds the unterminated rest.
      let text = "";
      if (t.state === "done") {
        const forwarded = r.output_offset ?? 0;
        if (forwarded > 0) text = this.logs(t.id, forwarded);
        text += r.output ?? "";
      } else if (t.state === "failed") {
        text = this.logs(t.id, Infinity);
      }
      if (text) record(out, "O", 0, 0, text);
      if (t.error) record(out, "E", 0, 0, t.error);
      if (t.state !== "done") continue;
      (r.returns ?? []).forEach((v, k) => {
        if (typeof v === "string") record(out, "R", k, 0, v);
      });
      for (const m of r.messages ?? []) record(out, "M", m[0], m[2], m[3]);
    }
    if (ended.length) post({ kind: "fleet", ended });
    return out.join("");
  }

  cancel(ids: string): string {
    for (const id of ids.split(",").slice(0, 1000)) {
      try {
        this.request("POST", `tasks/${id}/cancel`);
      } catch {
        // finished meanwhile (409), or the planner is gone: nothing left to cancel
      }
    }
    return "ok\n";
  }

  // The first `limit` bytes of task `id`'s stdout log, as text.
  private logs(id: number, limit: number): string {
    const parts: Uint8Array[] = [];
    let have = 0;
    while (have < limit) {
      const x = this.request("GET", `tasks/${id}/logs?offset=${have}`, undefined, true);
      const bytes = new Uint8Array(x.response as ArrayBuffer);
      if (bytes.length === 0) break;
      parts.push(bytes);
      have += bytes.length;
    }
    const all = new Uint8Array(Math.min(have, limit));
    let at = 0;
    for (const p of parts) {
      const n = Math.min(p.length, all.length - at);
      all.set(p.subarray(0, n), at);
      at += n;
    }
    return this.decoder.decode(all);
  }

  private request(method: string, path: string, body?: string | Uint8Array,
                  binary = false): XMLHttpRequest {
    const x = new XMLHttpRequest();
    x.open(method, this.api + path, false);
    if (binary) x.responseType = "arraybuffer";
    if (body !== undefined) {
      x.setRequestHeader("Content-Type",
                         typeof body === "string" ? "application/json" : "application/octet-stream");
    }
    if (method !== "GET" && this.csrf) x.setRequestHeader("X-Volo-CSRF", this.csrf);
    try {
      x.send(body ?? null);
    } catch (e) {
      throw new Error(`cannot reach the planner at ${this.url}: ${(e as Error).message}`);
    }
    if (x.status >= 200 && x.status < 300) return x;
    let why = binary ? "" : x.responseText;
    try {
      why = (JSON.parse(why) as { error: string }).error ?? why;
    } catch {
      // not JSON: the text as it is
    }
    if (x.status === 0) why = "no answer";
    if (x.status === 401) why += " (log in on the page first)";
    throw new Error(`${method} /api/v1/${path.split("?")[0]}: the planner at ${this.url} answered ` +
                    `${x.status}${why ? ": " + why : ""}`);
  }
}

// On a cross-origin isolated page (SharedArrayBuffer) the threaded build runs smp on Web
// Workers; elsewhere, and for "run on this fleet" (whose waiting needs the one thread, fleet.cc),
// the one-thread build.
const threaded = (self as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated === true &&
  !new URLSearchParams(location.search).has("fleet");
importScripts(threaded ? "fly-mt.js" : "fly.js");
// The threaded build's output goes straight from every thread to the page on this channel.
const channel = threaded ? `volo-playground-${Date.now()}-${Math.random().toString(36).slice(2)}` : "";

// Where a fresh tab's time goes: V8 compiles WebAssembly with its baseline compiler (Liftoff)
// first, and compiles a function again with its optimizing compiler (TurboFan), in the
// background, once that function has run enough; the optimized code is used from the function's
// next call on (there is no on-stack replacement for WebAssembly). The interpreter's dispatch
// loop (Vm::Run, one large function) is called once per program and runs about ten times slower
// on baseline code, and TurboFan takes 150-400 ms to compile it on the 2-core development
// machine. So a program started before that compile is done runs on baseline code throughout
// (fib(27): about 220 ms instead of 25).
//
// Hence the warm-up: this small program runs silently, again and again with short pauses (the
// compiler threads get the CPU), until two runs in a row take at most an eighth of the first
// one's time (the optimized code is in), or for kWarmUpMaxMs at most (a visit whose compiled
// code came from the browser's cache is fast from the first run). The page may run a program
// at any time: `ready` is posted after the first run, and a program that arrives stops the
// warm-up (its own run warms the code from there on). The page learns when it ended (`warm`).
const kWarmUp = `var local = [type="smp", nthread=2]
var ch = [type="channel"] on local
func fib(n) {
    if (n < 2) { return n }
    return fib(n - 1) + fib(n - 2)
}
func f(i) {
    ch ! i * 2 on local
}
var s = 0
for i in [0:20000] {
    s += i % 7
}
fly f in [0:500] on local
for i in [0:500] {
    s += ch? as Integer
}
var m = {}
for i in [0:200] {
    m["k" + i] = [i, i * 1.5, "v" + i]
}
println fib(20) + s + m.size()
`;

const kWarmUpMaxMs = 2500;
let module: FlyModule | undefined;
let warming = false;      // a warm-up run is under way: its output is dropped
let warmUpOver = false;   // ended, or stopped by a program
const ready = (threaded ? createFlyMtModule : createFlyModule)({
  mainScriptUrlOrBlob: "fly-mt.js",  // what the threads' Web Workers load
  onOutput: (stream: 1 | 2, text: string) => {
    if (!warming) post({ kind: "output", stream, text });
  },
  onAbort: (what: string) => post({ kind: "crashed", message: String(what) }),
  print: (text: string) => post({ kind: "output", stream: 1, text: text + "\n" }),
  printErr: (text: string) => post({ kind: "output", stream: 2, text: text + "\n" }),
}).then((m) => {
  module = m;
  const start = performance.now();
  const first = warmUpRun(m);
  post({ kind: "ready", threads: threaded, channel });
  void warmUp(m, start, first);
});

function warmUpRun(m: FlyModule): number {
  warming = true;
  const t = performance.now();
  m.ccall("volo_playground_run", "number",
          ["string", "string", "string", "string", "string", "string"],
          ["warmup.fly", kWarmUp, "", "1", "", ""]);
  warming = false;
  return performance.now() - t;
}

async function warmUp(m: FlyModule, start: number, first: number) {
  let runs = 1;
  let fast = 0;
  while (fast < 2 && performance.now() - start < kWarmUpMaxMs) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (warmUpOver) return;  // a program came
    fast = warmUpRun(m) <= first / 8 ? fast + 1 : 0;
    ++runs;
  }
  warmUpOver = true;
  post({ kind: "warm", runs, ms: performance.now() - start, optimized: fast >= 2 });
}

const loaded = new Set<string>();

async function run(req: RunRequest) {
  warmUpOver = true;
  await ready;
  const m = module!;
  for (const d of req.data) {
    if (loaded.has(d.path)) continue;
    const res = await fetch(d.url);
    if (!res.ok) continue;  // the program's own open reports the missing file
    const dir = d.path.substring(0, d.path.lastIndexOf("/"));
    if (dir) m.FS.mkdirTree(dir);
    m.FS.writeFile(d.path, new Uint8Array(await res.arrayBuffer()));
    loaded.add(d.path);
  }
  m.fleetClient = req.fleet ? new Fleet(req.fleet.url, req.fleet.api, req.fleet.csrf) : undefined;
  const start = performance.now();
  let code: number;
  try {
    code = m.ccall("volo_playground_run", "number",
                   ["string", "string", "string", "string", "string", "string"],
                   [req.file, req.source, req.bindings.join("\n"), req.seed, req.fleet?.url ?? "",
                    channel]);
  } catch (e) {
    post({ kind: "crashed", message: String(e) });
    return;
  }
  const ms = performance.now() - start;
  post({ kind: "done", code, ms, emitted: m.ccall("volo_playground_emitted", "number", [], []) });
}

self.onmessage = (e: MessageEvent<RunRequest>) => {
  if (e.data.kind === "run") void run(e.data);
};
