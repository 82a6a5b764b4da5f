// Workflow runs: the history (GET /api/v1/runs) and a run as a graph of its steps coloured
// by state, with Cancel and Relaunch.
import { api } from "../api";
import { KeyedRows, fmtSeconds, fmtTime, h, refreshEvery, setText } from "../dom";
import { link, navigate } from "../router";

interface Step {
  path: string;
  name: string;
  kind: string;
  state: string;
  depth: number;
  task?: number;
  error?: string;
  started?: number;
  finished?: number;
  elements?: number;
  succeeded?: number;
  failed?: number;
}
interface Run {
  id: number;
  workflow: string;
  state: string;
  trigger: string;
  created?: number;
  started?: number;
  finished?: number;
  failed_step?: string;
  error?: string;
  steps?: Step[];
}

export function runs(root: HTMLElement): () => void {
  const info = h("p", { class: "muted" });
  const body = h("tbody");
  const rows = new KeyedRows<Run>(
    body,
    (r) => String(r.id),
    (r) => [
      link(`/runs/${r.id}`, `#${r.id}`),
      r.workflow,
      r.state,
      r.trigger,
      fmtTime(r.created),
      r.started && r.finished ? fmtSeconds(r.finished - r.started) : "",
      r.error ? `${r.failed_step ?? ""}: ${r.error}` : "",
    ],
    (tr, r) => {
      tr.dataset.run = String(r.id);
      tr.className = `state-${r.state}`;
    },
  );
  root.append(h("h2", {}, "Workflow runs"), info,
    h("table", { id: "runs" }, h("thead", {}, h("tr", {}, ...["Run", "Workflow", "State", "Trigger", "Created", "Took", "Failure"].map((c) => h("th", {}, c)))), body));
  return refreshEvery(2000, info, async (stopped) => {
    const r = await api<{ runs: Run[] }>("GET", "/api/v1/runs?limit=200");
    if (stopped()) return;
    rows.update(r.runs);
    setText(info, r.runs.length ? "" : "No workflow runs yet (volo workflow run NAME).");
  });
}

// Steps laid out as the workflow nests them: the top level left to right (a chain), the
// members of a group or map stacked in their column; edges join each column to the next.
function graph(steps: Step[]): HTMLElement {
  const columns: Step[][] = [];
  for (const s of steps) {
    if (s.depth === 0 || columns.length === 0) columns.push([s]);
    else columns[columns.length - 1].push(s);
  }
  const g = h("div", { class: "graph", id: "run-graph" });
  columns.forEach((col, i) => {
    if (i > 0) g.append(h("div", { class: "edge" }, "→"));
    g.append(h("div", { class: "column" }, ...col.map((s) => {
      const extra = s.elements ? ` ${s.succeeded ?? 0}/${s.elements}` : "";
      const node = h("div", {
        class: `node state-${s.state} kind-${s.kind}`,
        style: `margin-left:${Math.max(0, s.depth - 1) * 12}px`,
        title: s.error ?? `${s.kind} ${s.path}: ${s.state}`,
        "data-step": s.path,
      }, h("b", {}, s.name), h("small", {}, `${s.kind} · ${s.state}${extra}`));
      if (s.task) node.addEventListener("click", () => navigate(`/tasks/${s.task}`));
      return node;
    })));
  });
  return g;
}

export function run(root: HTMLElement, params: string[]): () => void {
  const id = params[0];
  const state = h("span", { id: "run-state", class: "badge" }, "…");
  const message = h("span", { class: "muted" });
  const cancel = h("button", { class: "danger", id: "run-cancel" }, "Cancel") as HTMLButtonElement;
  const relaunch = h("button", { id: "run-relaunch" }, "Relaunch") as HTMLButtonElement;
  const relaunchFailed = h("button", { id: "run-relaunch-failed" }, "Relaunch from failed") as HTMLButtonElement;
  const details = h("p", {});
  const graphBox = h("div", {});
  root.append(h("h2", {}, `Run #${id} `, state, " ", cancel, " ", relaunch, " ", relaunchFailed, " ", message), details, graphBox);
  const act = async (path: string, body?: unknown) => {
    try {
      const r = await api<Run>("POST", path, body);
      if (r.id && String(r.id) !== id) navigate(`/runs/${r.id}`);
      else load();
    } catch (e) {
      setText(message, (e as Error).message);
    }
  };
  cancel.addEventListener("click", () => act(`/api/v1/runs/${id}/cancel`));
  relaunch.addEventListener("click", () => act(`/api/v1/runs/${id}/relaunch`, {}));
  relaunchFailed.addEventListener("click", () => act(`/api/v1/runs/${id}/relaunch`, { from_failed: true }));
  let stopped = false;
  let timer = 0;
  let shown = "";
  async function load() {
    clearTimeout(timer);
    try {
      const r = await api<Run>("GET", `/api/v1/runs/${id}`);
      if (stopped) return;
      setText(state, r.state);
      state.className = `badge state-${r.state}`;
      const open = r.state === "queued" || r.state === "running";
      cancel.disabled = !open;
      relaunch.disabled = open;
      relaunchFailed.disabled = r.state !== "failed";
      setText(details, `${r.workflow}, ${r.trigger}; created ${fmtTime(r.created)}` + (r.finished && r.started ? `, took ${fmtSeconds(r.finished - r.started)}` : "") + (r.error ? `; ${r.failed_step}: ${r.error}` : ""));
      const key = JSON.stringify(r.steps);
      if (key !== shown) {
        shown = key;
        graphBox.replaceChildren(graph(r.steps ?? []));
      }
      if (open && !stopped) timer = window.setTimeout(load, 1000);
    } catch (e) {
      setText(message, (e as Error).message);
    }
  }
  load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
