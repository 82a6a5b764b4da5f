// Messages between the page (main.ts) and the interpreter's Web Worker (worker.ts).
export interface RunRequest {
  kind: "run";
  file: string;                     // the name errors carry ("main.fly")
  source: string;
  seed: string;                     // decimal, "" for a fresh one
  bindings: string[];               // --env NAME=smp:N
  data: { path: string; url: string }[];  // files the program may read, fetched into its FS
  // "Run on this fleet": the planner that serves the page (its API at `api`, the session's
  // CSRF token for requests that change something); absent: flies run in the tab.
  fleet?: { url: string; api: string; csrf: string };
}

export type WorkerMessage =
  // `threads`: smp runs on Web Workers (the threaded build, on a cross-origin isolated page);
  // then the output comes on the BroadcastChannel `channel`, as {seq, stream, text} numbered
  // from 0 per run, and `done` says how many pieces there were.
  | { kind: "ready"; threads: boolean; channel: string }
  // The warm-up ended after `runs` runs and `ms` since the module was loaded; `optimized`: its
  // runs reached the optimized code's speed (else it stopped at its time limit).
  | { kind: "warm"; runs: number; ms: number; optimized: boolean }
  | { kind: "output"; stream: 1 | 2; text: string }
  | { kind: "done"; code: number; ms: number; emitted: number }
  | { kind: "crashed"; message: string }
  // Fly chunks submitted to the fleet (task ids first .. first+count-1), and chunks that ended:
  // the page counts them and cancels the open ones when Stop ends the worker.
  | { kind: "fleet"; submitted?: [number, number]; ended?: number[] };

export interface OutputPiece {
  seq: number;
  stream: 1 | 2;
  text: string;
}
