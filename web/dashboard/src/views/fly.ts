// FLY runs on the fleet: instances done of total, chunks per worker, output.
import { api } from "../api";
import { h, fmtSeconds, refreshEvery, setText } from "../dom";
import { link } from "../router";

interface FlyRun {
  program: string;
  file: string;
  first_task: number;
  last_task: number;
  instances: number;
  done: number;
  failed: number;
  running: number;
  chunks: number;
  finished: boolean;
  started?: number;
  ended?: number;
  chunks_per_worker: Record<string, number>;
  output: string;
  error?: string;
}

export function fly(root: HTMLElement): () => void {
  const list = h("div", { id: "fly-runs" });
  const info = h("p", { class: "muted" });
  root.append(h("h2", {}, "FLY runs on the fleet"), info, list);
  return refreshEvery(2000, info, async (stopped) => {
    const r = await api<{ runs: FlyRun[] }>("GET", "/api/v1/dashboard/fly");
    if (stopped()) return;
    setText(info, r.runs.length ? "" : "No FLY program has run on this fleet yet (volo run FILE --planner URL, or volo up FILE).");
    list.replaceChildren(...r.runs.map((run) => {
      const pct = run.instances ? (100 * run.done) / run.instances : 0;
      return h("section", { class: "fly-run" },
        h("h3", {}, run.file || run.program.slice(0, 12), " ", h("span", { class: `badge state-${run.failed ? "failed" : run.finished ? "done" : "running"}` }, run.failed ? "failed" : run.finished ? "done" : "running")),
        h("div", { class: "progress" }, h("div", { style: `width:${pct.toFixed(1)}%` })),
        h("p", {}, `${run.done} of ${run.instances} instances done in ${run.chunks} chunks`, run.running ? `, ${run.running} running` : "",
          run.started && run.ended ? `; took ${fmtSeconds(run.ended - run.started)}` : "", "; tasks ",
          link(`/tasks?op=fly`, `#${run.first_task}–#${run.last_task}`)),
        h("p", {}, "Chunks per worker: ", Object.entries(run.chunks_per_worker).map(([w, n]) => `${w} ${n}`).join(", ") || "–"),
        run.error ? h("pre", { class: "error" }, run.error) : null,
        run.output ? h("pre", { class: "logs" }, run.output) : null);
    }));
  });
}
