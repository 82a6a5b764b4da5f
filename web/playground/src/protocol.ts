// Messages between the page (main.ts) and the interpreter's Web Worker (worker.ts).
export interface RunRequest {
  kind: "run";
  file: string;                     // the name errors carry ("main.fly")
  source: string;
  seed: string;                     // decimal, "" for a fresh one
  bindings: string[];               // --env NAME=smp:N
  data: { path: string; url: string }[];  // files the program may read, fetched into its FS
  // Run every environment on the fleet of the planner at `base` (fleet.ts); null: in the tab.
  fleet: { base: string; token: string } | null;
}

export type WorkerMessage =
  | { kind: "ready" }
  | { kind: "output"; stream: 1 | 2; text: string }
  | { kind: "done"; code: number; ms: number }
  | { kind: "fleet-tasks"; ids: number[] }  // tasks submitted to the fleet (Stop cancels them)
  | { kind: "crashed"; message: string };
