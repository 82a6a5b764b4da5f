// Messages between the page (main.ts) and the interpreter's Web Worker (worker.ts).
export interface RunRequest {
  kind: "run";
  file: string;                     // the name errors carry ("main.fly")
  source: string;
  seed: string;                     // decimal, "" for a fresh one
  bindings: string[];               // --env NAME=smp:N
  data: { path: string; url: string }[];  // files the program may read, fetched into its FS
}

export type WorkerMessage =
  | { kind: "ready" }
  | { kind: "output"; stream: 1 | 2; text: string }
  | { kind: "done"; code: number; ms: number }
  | { kind: "crashed"; message: string };
