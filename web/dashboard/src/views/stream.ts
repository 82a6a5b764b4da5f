// Task stream: one lane per worker slot, a bar per task over time, coloured by operation.
import { api } from "../api";
import { feed, Snapshot, TaskRow } from "../feed";
import { h, opColour, setText } from "../dom";

interface Bar {
  id: number;
  op: string;
  worker: string;
  start: number;
  end: number; // 0: still running
  state: string;
  lane: number;
}

export function stream(root: HTMLElement): () => void {
  const windowSel = h("select", { id: "stream-window" }, ...[30, 60, 300, 600].map((s) => h("option", { value: s }, s < 60 ? `${s} s` : `${s / 60} min`))) as HTMLSelectElement;
  windowSel.value = "60";
  const info = h("span", { class: "muted", id: "stream-info" });
  const legend = h("div", { class: "legend" });
  const canvas = h("canvas", { id: "stream" }) as HTMLCanvasElement;
  const wrap = h("div", { class: "stream-wrap" }, canvas);
  root.append(h("h2", {}, "Task stream"), h("div", { class: "filters" }, "Last ", windowSel, " ", info), legend, wrap);
  const bars = new Map<number, Bar>();
  // Lane assignment per worker: each lane remembers when its last bar ends.
  const lanes = new Map<string, number[]>();
  const workerOrder: string[] = [];
  let total = 0;

  function place(t: TaskRow, now: number) {
    if (!t.started || !t.worker) return;
    let b = bars.get(t.id);
    if (!b) {
      let ls = lanes.get(t.worker);
      if (!ls) {
        ls = [];
        lanes.set(t.worker, ls);
        workerOrder.push(t.worker);
      }
      let lane = ls.findIndex((endAt) => endAt <= t.started! + 1e-6);
      if (lane < 0) {
        lane = ls.length;
        ls.push(0);
      }
      b = { id: t.id, op: t.op, worker: t.worker, start: t.started, end: 0, state: t.state, lane };
      bars.set(t.id, b);
      total++;
    }
    b.state = t.state;
    if (t.finished) b.end = t.finished;
    lanes.get(b.worker)![b.lane] = b.end || Math.max(now, b.start) + 3600;
  }

  function ingest(s: Snapshot) {
    if (s.type === "hello") for (const t of s.recent ?? []) place(t, s.t);
    for (const t of s.running) place(t, s.t);
    for (const t of s.finished) place(t, s.t);
    // A bar whose task left the running list without a finished row (skipped under load) is
    // closed at the snapshot's time.
    const runningIds = new Set(s.running.map((t) => t.id));
    for (const b of bars.values()) {
      if (!b.end && !runningIds.has(b.id) && s.t - b.start > 1) {
        b.end = s.t;
        lanes.get(b.worker)![b.lane] = b.end;
      }
    }
    const horizon = s.t - 900;
    for (const [id, b] of bars) if (b.end && b.end < horizon) bars.delete(id);
    draw(s.t);
  }

  function draw(now: number) {
    const span = Number(windowSel.value);
    const from = now - span;
    const laneList: [string, number][] = [];
    for (const w of workerOrder) for (let i = 0; i < (lanes.get(w)?.length ?? 0); i++) laneList.push([w, i]);
    const laneH = 14;
    const left = 110;
    const width = Math.max(400, wrap.clientWidth || 900);
    const height = Math.max(60, laneList.length * laneH + 24);
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== width * dpr || canvas.height !== height * dpr) {
      canvas.width = width * dpr;
      canvas.height = height * dpr;
      canvas.style.width = `${width}px`;
      canvas.style.height = `${height}px`;
    }
    const g = canvas.getContext("2d")!;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, width, height);
    g.font = "11px system-ui, sans-serif";
    const index = new Map<string, number>();
    laneList.forEach(([w, i], k) => {
      index.set(`${w}/${i}`, k);
      g.fillStyle = k % 2 ? "#f6f7f9" : "#fff";
      g.fillRect(left, k * laneH, width - left, laneH);
      if (i === 0) {
        g.fillStyle = "#333";
        g.fillText(w, 4, k * laneH + 11);
      }
    });
    const x = (t: number) => left + ((t - from) / span) * (width - left);
    let drawn = 0;
    const ops = new Set<string>();
    for (const b of bars.values()) {
      const end = b.end || now;
      if (end < from) continue;
      const k = index.get(`${b.worker}/${b.lane}`);
      if (k === undefined) continue;
      const x0 = Math.max(left, x(b.start));
      const x1 = Math.max(x0 + 1, x(end));
      g.fillStyle = b.state === "failed" ? "#d33" : opColour(b.op);
      g.globalAlpha = b.end ? 1 : 0.6;
      g.fillRect(x0, k * laneH + 2, x1 - x0, laneH - 4);
      g.globalAlpha = 1;
      ops.add(b.op);
      drawn++;
    }
    g.fillStyle = "#666";
    for (let i = 0; i <= 6; i++) {
      const t = from + (span * i) / 6;
      g.fillText(`-${Math.round(now - t)} s`, Math.min(width - 30, x(t) - 10), height - 6);
    }
    canvas.dataset.bars = String(drawn);
    canvas.dataset.total = String(total);
    setText(info, `${drawn} tasks shown on ${laneList.length} lanes`);
    const names = [...ops].sort();
    if (legend.dataset.ops !== names.join(",")) {
      legend.dataset.ops = names.join(",");
      legend.replaceChildren(...names.map((op) => h("span", { class: "key" }, h("i", { style: `background:${opColour(op)}` }), op)));
    }
  }

  // The feed has the tasks that finished while a page was open; the ones from before (a fleet
  // that ran before anyone looked) come once from the task list, the newest 1,000. Lanes are
  // assigned in order of start, so both are placed together, oldest first, before the feed's
  // updates are taken.
  let off = () => {};
  let stopped = false;
  api<{ tasks: TaskRow[] }>("GET", "/api/v1/dashboard/tasks?limit=1000")
    .then((page) => page.tasks, () => [] as TaskRow[])
    .then((earlier) => {
      if (stopped) return;
      const seen = new Set(feed.recent.map((t) => t.id));
      const all = [...earlier.filter((t) => !seen.has(t.id)), ...feed.recent];
      all.sort((a, b) => (a.started ?? 0) - (b.started ?? 0));
      for (const t of all) place(t, feed.last?.t ?? 0);
      if (feed.last) draw(feed.last.t);
      off = feed.on(ingest);
    });
  windowSel.addEventListener("change", () => feed.last && draw(feed.last.t));
  return () => {
    stopped = true;
    off();
  };
}
