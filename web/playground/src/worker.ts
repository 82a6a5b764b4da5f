// The interpreter's Web Worker: loads fly.js/fly.wasm (the FLY interpreter built from src/fly)
// once, then runs each program it is sent. The program runs synchronously here, off the page's
// thread; every flush of its output is posted at once, so the page shows lines as they are
// printed. Stop is the page terminating this worker (and starting a fresh one).
//
// worker.js?fleet=1 loads the fly_fleet build instead (the same interpreter with Asyncify), in
// which the program's flies run on the planner's fleet (fleet.ts) while its top level runs here.
import { Fleet } from "./fleet";
import type { RunRequest, WorkerMessage } from "./protocol";

declare function importScripts(...urls: string[]): void;
declare function createFlyModule(options: object): Promise<FlyModule>;

interface FlyModule {
  ccall(name: string, ret: string | null, types: string[], args: unknown[], opts?: object): any;
  fleet?: Fleet;
  FS: {
    mkdirTree(path: string): void;
    writeFile(path: string, data: Uint8Array): void;
  };
}

const post = (m: WorkerMessage) => (self as unknown as Worker).postMessage(m);

const fleetBuild = new URLSearchParams(self.location.search).get("fleet") === "1";
importScripts(fleetBuild ? "fly_fleet.js" : "fly.js");

// Run once, silently, before the first program: V8 first compiles WebAssembly with its
// baseline compiler and optimizes a function only once it is hot, for its next call; the
// interpreter's dispatch loop is called once per program, so without this the first program
// a visitor runs would run on baseline code throughout (about 2x slower).
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

let module: FlyModule | undefined;
let warming = false;
const ready = createFlyModule({
  onOutput: (stream: 1 | 2, text: string) => {
    if (!warming) post({ kind: "output", stream, text });
  },
  onAbort: (what: string) => post({ kind: "crashed", message: String(what) }),
  print: (text: string) => post({ kind: "output", stream: 1, text: text + "\n" }),
  printErr: (text: string) => post({ kind: "output", stream: 2, text: text + "\n" }),
}).then((m) => {
  module = m;
  warming = true;
  for (let k = 0; k < 2; ++k) {
    m.ccall("volo_playground_run", "number", ["string", "string", "string", "string", "number"],
            ["warmup.fly", kWarmUp, "", "1", 0]);
  }
  warming = false;
  post({ kind: "ready" });
});

const loaded = new Set<string>();

async function run(req: RunRequest) {
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
  const start = performance.now();
  let code: number;
  try {
    const fleet = req.fleet !== null && fleetBuild;
    if (fleet) {
      m.fleet = new Fleet(m, req.fleet!.base, req.fleet!.token,
                          (ids) => post({ kind: "fleet-tasks", ids }));
      await m.fleet.refreshSlots();
    }
    code = await m.ccall("volo_playground_run", "number",
                         ["string", "string", "string", "string", "number"],
                         [req.file, req.source, req.bindings.join("\n"), req.seed, fleet ? 1 : 0],
                         { async: fleet });
  } catch (e) {
    post({ kind: "crashed", message: String(e) });
    return;
  }
  post({ kind: "done", code, ms: performance.now() - start });
}

self.onmessage = (e: MessageEvent<RunRequest>) => {
  if (e.data.kind === "run") void run(e.data);
};
