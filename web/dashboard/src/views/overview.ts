// Overview: counts, workers (with Drain), queues with the reason they wait, throughput and
// dispatch-latency charts over the last minutes, recent failures.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { api } from "../api";
import { feed, Snapshot, TaskRow, WorkerRow } from "../feed";
import { KeyedRows, fmtCount, fmtSeconds, fmtTime, h, setText } from "../dom";
import { link } from "../router";

function resources(r: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(r ?? {})) parts.push(`${k} ${typeof v === "object" ? JSON.stringify(v) : v}`);
  return parts.join(", ");
}

export function overview(root: HTMLElement): () => void {
  const cards: Record<string, HTMLElement> = {};
  const cardRow = h("div", { class: "cards" });
  for (const k of ["workers", "queued", "running", "done", "failed", "cancelled", "rate"]) {
    cards[k] = h("b", {}, "–");
    cardRow.appendChild(h("div", { class: `card card-${k}`, id: `count-${k}` }, cards[k], h("span", {}, k === "rate" ? "tasks/s" : k)));
  }
  const charts = h("div", { class: "charts" });
  const tput = h("div", { class: "chart" });
  const lat = h("div", { class: "chart" });
  charts.append(h("section", {}, h("h3", {}, "Throughput"), tput), h("section", {}, h("h3", {}, "Dispatch latency"), lat));

  const workersBody = h("tbody");
  const workers = new KeyedRows<WorkerRow>(
    workersBody,
    (w) => w.id,
    (w) => [
      w.id,
      w.state,
      w.kind,
      w.ops.join(", "),
      `${w.running} / ${w.slots}`,
      resources(w.resources_used) || "",
      fmtCount(w.done),
      fmtSeconds(w.busy_seconds),
      drainButton(w),
    ],
    (tr, w) => {
      tr.dataset.worker = w.id;
      tr.className = `worker-${w.state}`;
    },
  );
  const queuesBody = h("tbody");
  const queues = new KeyedRows<{ op: string; queued: number; reason?: string }>(
    queuesBody,
    (q) => q.op,
    (q) => [q.op, fmtCount(q.queued), q.reason ?? ""],
  );
  const failBody = h("tbody");
  const failures = new KeyedRows<TaskRow>(
    failBody,
    (t) => String(t.id),
    (t) => [link(`/tasks/${t.id}`, `#${t.id}`), t.op, t.worker ?? "", fmtTime(t.finished), t.error ?? ""],
  );
  const noWorkers = h("p", { class: "empty" }, "No workers yet: start one with `volo worker --planner URL`.");

  root.append(
    cardRow,
    charts,
    h("section", {}, h("h2", {}, "Workers"), noWorkers,
      h("table", { id: "workers" }, h("thead", {}, h("tr", {}, ...["Worker", "State", "Kind", "Operations", "Running / slots", "Resources in use", "Done", "Busy", ""].map((c) => h("th", {}, c)))), workersBody)),
    h("section", {}, h("h2", {}, "Queues"),
      h("table", { id: "queues" }, h("thead", {}, h("tr", {}, h("th", {}, "Operation"), h("th", {}, "Queued"), h("th", {}, "Waiting because"))), queuesBody)),
    h("section", {}, h("h2", {}, "Recent failures"),
      h("table", { id: "failures" }, h("thead", {}, h("tr", {}, ...["Task", "Operation", "Worker", "Finished", "Error"].map((c) => h("th", {}, c)))), failBody)),
  );

  const buttons = new Map<string, HTMLElement>();
  function drainButton(w: WorkerRow): HTMLElement {
    let b = buttons.get(w.id);
    if (!b) {
      b = h("button", {
        class: "small",
        "data-keep": "1",
        "data-drain": w.id,
        title: "No new tasks for this worker; it finishes the ones it has",
        onclick: async () => {
          b!.setAttribute("disabled", "");
          try {
            await api("POST", `/api/v1/workers/${encodeURIComponent(w.id)}/drain`);
          } catch (e) {
            alert(`drain ${w.id}: ${(e as Error).message}`);
          }
        },
      }, "Drain");
      buttons.set(w.id, b);
    }
    if (w.state !== "live") b.setAttribute("disabled", "");
    return b;
  }

  const opts = (title: string, series: uPlot.Series[], fmt: (v: number) => string): uPlot.Options => ({
    width: 520,
    height: 200,
    title: "",
    series: [{}, ...series],
    axes: [{}, { values: (_u, vals) => vals.map((v) => fmt(v)), size: 70 }],
    legend: { show: true },
    scales: { x: { time: true } },
    cursor: { drag: { x: false, y: false } },
    plugins: [],
    id: title,
  });
  const tputPlot = new uPlot(
    opts("throughput", [
      { label: "finished/s", stroke: "#2a7", width: 2 },
      { label: "submitted/s", stroke: "#57c", width: 1 },
    ], (v) => fmtCount(v)),
    [[], [], []],
    tput,
  );
  const latPlot = new uPlot(
    opts("latency", [
      { label: "p50", stroke: "#c83", width: 2 },
      { label: "p99", stroke: "#b33", width: 1 },
    ], (v) => fmtSeconds(v)),
    [[], [], []],
    lat,
  );
  const resize = () => {
    // Each chart fills its grid column (two side by side, one under the other when narrow).
    const w = Math.max(260, Math.min(900, (tput.parentElement?.clientWidth ?? 600) - 20));
    tputPlot.setSize({ width: w, height: 200 });
    latPlot.setSize({ width: w, height: 200 });
  };
  window.addEventListener("resize", resize);
  resize();

  // The feed's tasks are the ones that finished while a page was open: the failures from
  // before come once from the task list, then both together, the latest to fail first.
  let earlier: TaskRow[] = [];
  let stopped = false;
  function showFailures() {
    const byId = new Map<number, TaskRow>();
    for (const t of earlier) byId.set(t.id, t);
    for (const t of feed.recent) if (t.state === "failed") byId.set(t.id, t);
    failures.update([...byId.values()].sort((a, b) => (b.finished ?? 0) - (a.finished ?? 0) || b.id - a.id).slice(0, 20));
  }
  api<{ tasks: TaskRow[] }>("GET", "/api/v1/dashboard/tasks?state=failed&limit=20")
    .then((page) => {
      if (stopped) return;
      earlier = page.tasks;
      showFailures();
    })
    .catch(() => undefined);  // the feed's failures still show

  let lastChart = 0;
  const off = feed.on((s: Snapshot) => {
    setText(cards.workers, String(s.workers.length));
    for (const k of ["queued", "running", "done", "failed", "cancelled"] as const) setText(cards[k], fmtCount(s.counts[k]));
    const hist = feed.history;
    const last = hist[hist.length - 1];
    setText(cards.rate, last ? fmtCount(last[1]) : "0");
    workers.update(s.workers);
    noWorkers.style.display = s.workers.length ? "none" : "";
    queues.update(s.queues);
    showFailures();
    if (last && last[0] !== lastChart) {
      lastChart = last[0];
      const x = hist.map((p) => p[0]);
      tputPlot.setData([x, hist.map((p) => p[1]), hist.map((p) => p[2])]);
      latPlot.setData([x, hist.map((p) => (p[3] > 0 ? p[3] : null) as number), hist.map((p) => (p[4] > 0 ? p[4] : null) as number)]);
    }
  });
  return () => {
    stopped = true;
    off();
    window.removeEventListener("resize", resize);
    tputPlot.destroy();
    latPlot.destroy();
  };
}
