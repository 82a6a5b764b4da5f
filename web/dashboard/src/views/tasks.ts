// Tasks: a filtered, paginated list (newest first, paged on the planner with a cursor) and a
// task's own page (args, result or error, attempts, timeline, live logs, Cancel).
import { api, ApiError, text } from "../api";
import { TaskRow } from "../feed";
import { KeyedRows, fmtSeconds, fmtTime, h, setText } from "../dom";
import { link, navigate } from "../router";

interface Page {
  tasks: TaskRow[];
  next_cursor: number | null;
  scanned: number;
}

export function tasks(root: HTMLElement): () => void {
  const q = new URLSearchParams(location.search);
  const states = ["", "queued", "running", "done", "failed", "cancelled"];
  const state = h("select", { id: "filter-state" }, ...states.map((s) => h("option", { value: s }, s || "any state"))) as HTMLSelectElement;
  state.value = q.get("state") ?? "";
  const op = h("input", { id: "filter-op", placeholder: "operation", value: q.get("op") ?? "" }) as HTMLInputElement;
  const worker = h("input", { id: "filter-worker", placeholder: "worker", value: q.get("worker") ?? "" }) as HTMLInputElement;
  // A link's parameters the list cannot take are said, not silently dropped.
  const ignored: string[] = [];
  if (!states.includes(q.get("state") ?? "")) ignored.push(`state=${q.get("state")} (not a task state)`);
  const cursorParam = q.get("cursor") ?? "";
  if (cursorParam && !/^\d+$/.test(cursorParam)) ignored.push(`cursor=${cursorParam} (not a task id)`);
  const cursors: (number | null)[] = [/^\d+$/.test(cursorParam) ? Number(cursorParam) : null];
  const info = h("span", { class: "muted", id: "tasks-info" });
  const warning = h("p", { class: "error", id: "tasks-warning" }, ignored.length ? `Ignored in the link: ${ignored.join("; ")}.` : "");
  const newer = h("button", { class: "small", id: "newer" }, "← Newer") as HTMLButtonElement;
  const older = h("button", { class: "small", id: "older" }, "Older →") as HTMLButtonElement;
  const body = h("tbody");
  const rows = new KeyedRows<TaskRow>(
    body,
    (t) => String(t.id),
    (t) => [
      link(`/tasks/${t.id}`, `#${t.id}`),
      t.op,
      t.state,
      t.worker ?? "",
      fmtTime(t.submitted),
      t.started && t.finished ? fmtSeconds(t.finished - t.started) : "",
      t.attempts ?? 0,
      t.error ?? "",
    ],
    (tr, t) => {
      tr.dataset.task = String(t.id);
      tr.className = `state-${t.state}`;
    },
  );
  const form = h("form", {
    class: "filters",
    onsubmit: (e: Event) => {
      e.preventDefault();
      cursors.length = 1;
      cursors[0] = null;
      setText(warning, "");
      const p = new URLSearchParams();
      if (state.value) p.set("state", state.value);
      if (op.value) p.set("op", op.value);
      if (worker.value) p.set("worker", worker.value);
      history.replaceState(null, "", "/tasks" + (p.toString() ? "?" + p : ""));
      load();
    },
  }, state, op, worker, h("button", { type: "submit" }, "Filter"), newer, older, info);
  state.addEventListener("change", () => (form as HTMLFormElement).requestSubmit());
  root.append(h("h2", {}, "Tasks"), form, warning,
    h("table", { id: "tasks" }, h("thead", {}, h("tr", {}, ...["Task", "Operation", "State", "Worker", "Submitted", "Took", "Attempts", "Error"].map((c) => h("th", {}, c)))), body));

  let next: number | null = null;
  let stopped = false;
  let timer = 0;
  async function load() {
    clearTimeout(timer);
    const p = new URLSearchParams({ limit: "50" });
    if (state.value) p.set("state", state.value);
    if (op.value) p.set("op", op.value);
    if (worker.value) p.set("worker", worker.value);
    const cursor = cursors[cursors.length - 1];
    if (cursor !== null) p.set("cursor", String(cursor));
    try {
      const page = await api<Page>("GET", "/api/v1/dashboard/tasks?" + p);
      if (stopped) return;
      rows.update(page.tasks);
      next = page.next_cursor;
      setText(info, `${page.tasks.length} shown` + (page.tasks.length === 0 && next ? " (none in the newest scanned; Older → looks further)" : ""));
    } catch (e) {
      setText(info, (e as Error).message);
    }
    older.disabled = next === null;
    newer.disabled = cursors.length <= 1;
    // The newest page follows the planner; older pages stay put.
    if (cursors.length === 1 && cursors[0] === null && !stopped) timer = window.setTimeout(load, 1000);
  }
  older.addEventListener("click", (e) => {
    e.preventDefault();
    if (next !== null) cursors.push(next);
    load();
  });
  newer.addEventListener("click", (e) => {
    e.preventDefault();
    if (cursors.length > 1) cursors.pop();
    load();
  });
  load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

interface TaskView {
  id: number;
  op: string;
  state: string;
  args: unknown;
  result?: unknown;
  error?: string;
  worker?: string;
  attempts: number;
  retries: number;
  priority: number;
  submitted?: number;
  started?: number;
  finished?: number;
  waiting?: string;
  labels?: Record<string, string>;
}

export function task(root: HTMLElement, params: string[]): () => void {
  const id = params[0];
  const state = h("span", { id: "task-state", class: "badge" }, "…");
  const cancel = h("button", { id: "cancel", class: "danger" }, "Cancel") as HTMLButtonElement;
  const message = h("span", { class: "muted", id: "task-message" });
  const details = h("dl", { class: "details" });
  const args = h("pre", { id: "task-args" });
  const outcome = h("pre", { id: "task-result" });
  const logs = h("pre", { id: "task-logs", class: "logs" });
  const errLogs = h("pre", { id: "task-stderr", class: "logs stderr" });
  const errSection = h("section", { hidden: true }, h("h3", {}, "Standard error"), errLogs);
  root.append(
    h("h2", {}, `Task #${id} `, state, " ", cancel, " ", message),
    details,
    h("h3", {}, "Arguments"), args,
    h("h3", {}, "Result"), outcome,
    h("h3", {}, "Output"), logs,
    errSection,
  );
  let stopped = false;
  let timer = 0;
  // A command task's stdout and stderr, each read on from where the last read ended.
  const streams = [
    { name: "stdout", el: logs, offset: 0, done: false },
    { name: "stderr", el: errLogs, offset: 0, done: false },
  ];
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      await api("POST", `/api/v1/tasks/${id}/cancel`);
      setText(message, "cancelled");
    } catch (e) {
      setText(message, (e as Error).message);
    }
    refresh();
  });
  function row(k: string, v: string) {
    return [h("dt", {}, k), h("dd", {}, v)];
  }
  async function fetchLogs(finished: boolean) {
    for (const s of streams) {
      if (s.done) continue;
      const r = await text(`/api/v1/tasks/${id}/logs?stream=${s.name}&offset=${s.offset}`);
      if (r.status === 200) {
        s.el.textContent += r.body;
        s.offset += new TextEncoder().encode(r.body).length;
      } else if (r.status === 404 || r.status === 400) {
        s.done = true;
      }
      if (finished) s.done = true;
    }
    errSection.hidden = !errLogs.textContent;
    if (streams[0].done && !logs.textContent) logs.textContent = finished ? "(no output)" : "(no output recorded for this task)";
  }
  async function refresh() {
    clearTimeout(timer);
    try {
      const t = await api<TaskView>("GET", `/api/v1/tasks/${id}`);
      if (stopped) return;
      setText(state, t.state);
      state.className = `badge state-${t.state}`;
      const fin = ["done", "failed", "cancelled", "pruned"].includes(t.state);
      cancel.disabled = fin;
      details.replaceChildren(
        ...row("Operation", t.op),
        ...row("Worker", t.worker ?? "–"),
        ...row("Attempts", `${t.attempts} (retries allowed: ${t.retries})`),
        ...row("Priority", String(t.priority)),
        ...row("Submitted", fmtTime(t.submitted)),
        ...row("Started", t.started ? `${fmtTime(t.started)} (+${fmtSeconds(t.started - (t.submitted ?? t.started))})` : "–"),
        ...row("Finished", t.finished ? `${fmtTime(t.finished)} (ran ${fmtSeconds(t.finished - (t.started ?? t.finished))})` : "–"),
        ...(t.waiting ? row("Waiting because", t.waiting) : []),
        ...(t.labels && Object.keys(t.labels).length ? row("Labels", Object.entries(t.labels).map(([k, v]) => `${k}=${v}`).join(", ")) : []),
      );
      setText(args, JSON.stringify(t.args, null, 2));
      setText(outcome, t.state === "done" ? JSON.stringify(t.result, null, 2) : t.error ?? (fin ? "" : "(not finished)"));
      outcome.className = t.error && t.state !== "done" ? "error" : "";
      await fetchLogs(fin);
      if (!fin && !stopped) timer = window.setTimeout(refresh, 500);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) setText(state, "unknown");
      setText(message, (e as Error).message);
    }
  }
  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

export function goTask(id: number): void {
  navigate(`/tasks/${id}`);
}
