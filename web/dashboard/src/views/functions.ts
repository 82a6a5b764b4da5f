// Functions (docs/functions.md): each deployed function with its revision, instances, calls,
// errors, cold starts, latency and usage, refreshed every 2 s; a function's page adds its
// revisions and its usage per caller. Only the documented JSON is read (GET /api/v1/functions,
// /api/v1/functions/NAME, /usage) and the latency histogram of /metrics
// (volo_function_duration_seconds), from which p50 and p99 are estimated as Prometheus'
// histogram_quantile does.
import { api, ApiError, text } from "../api";
import { KeyedRows, fmtSeconds, fmtTime, h, refreshEvery, setText } from "../dom";
import { link } from "../router";

interface Fn {
  name: string;
  revision: string;
  spec?: {
    cmd?: string[]; runner?: string; public?: boolean; min?: number; max?: number;
    fly?: { file?: string; function?: string };
  };
  instances?: { ready: number; starting: number; total: number };
  inflight?: number;
  queued?: number;
  calls?: number;
  errors?: number;
  cold_starts?: number;
  rejected?: number;
  crashes?: number;
  revisions?: { id: string; deployed?: number; current?: boolean }[];
}

interface UsageTotals {
  calls?: number;
  errors?: number;
  cold?: number;
  wall_seconds?: number;
  run_seconds?: number;
  cpu_seconds?: number;
  peak_memory?: number;
}
interface Usage extends UsageTotals {
  callers?: Record<string, UsageTotals>;
}

// ---- latency from /metrics ----

interface Latency {
  p50?: number;
  p99?: number;
  count: number;
}
type Buckets = Map<string, [number, number][]>;  // "fn|cold" -> [upper bound, cumulative count]

export function parseDurationBuckets(metrics: string): Buckets {
  const out: Buckets = new Map();
  const re = /^volo_function_duration_seconds_bucket\{([^}]*)\}\s+(\S+)$/gm;
  for (let m = re.exec(metrics); m; m = re.exec(metrics)) {
    const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    const key = `${labels.function}|${labels.cold}`;
    const le = labels.le === "+Inf" ? Infinity : Number(labels.le);
    if (!out.has(key)) out.set(key, []);
    out.get(key)!.push([le, Number(m[2])]);
  }
  for (const b of out.values()) b.sort((x, y) => x[0] - y[0]);
  return out;
}

// The q-quantile of a cumulative histogram, interpolated linearly inside its bucket; a quantile
// in the +Inf bucket is the largest finite bound.
export function quantile(q: number, buckets: [number, number][]): number | undefined {
  if (!buckets.length) return undefined;
  const total = buckets[buckets.length - 1][1];
  if (total === 0) return undefined;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const [bound, count] of buckets) {
    if (count >= rank) {
      if (bound === Infinity) return prevBound;
      if (count === prevCount) return bound;
      return prevBound + ((bound - prevBound) * (rank - prevCount)) / (count - prevCount);
    }
    prevBound = bound === Infinity ? prevBound : bound;
    prevCount = count;
  }
  return prevBound;
}

function latencyOf(buckets: Buckets, name: string, cold: boolean): Latency {
  const b = buckets.get(`${name}|${cold}`) ?? [];
  return { p50: quantile(0.5, b), p99: quantile(0.99, b), count: b.length ? b[b.length - 1][1] : 0 };
}

async function durationBuckets(): Promise<Buckets> {
  const r = await text("/metrics");
  return r.status === 200 ? parseDurationBuckets(r.body) : new Map();
}

function fmtBytes(n?: number): string {
  if (!n) return "";
  if (n >= 1 << 30) return (n / (1 << 30)).toFixed(1) + " GiB";
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MiB";
  return (n / 1024).toFixed(0) + " KiB";
}

function fmtLatency(l: Latency): string {
  return l.count ? `${fmtSeconds(l.p50)} / ${fmtSeconds(l.p99)}` : "–";
}

function instancesText(f: Fn): string {
  const i = f.instances;
  if (!i) return "";
  return `${i.ready} ready` + (i.starting ? `, ${i.starting} starting` : "");
}

// ---- the list ----

export function functions(root: HTMLElement): () => void {
  const info = h("p", { class: "muted" });
  const body = h("tbody");
  type Row = { f: Fn; warm: Latency; cold: Latency; usage?: Usage };
  const rows = new KeyedRows<Row>(
    body,
    (r) => r.f.name,
    (r) => [
      link(`/functions/${encodeURIComponent(r.f.name)}`, r.f.name),
      h("code", { title: r.f.revision }, r.f.revision.slice(0, 12)),
      instancesText(r.f),
      r.f.inflight ?? 0,
      r.f.queued ?? 0,
      r.f.calls ?? 0,
      r.f.errors ?? 0,
      r.f.cold_starts ?? 0,
      fmtLatency(r.warm),
      r.cold.count ? fmtSeconds(r.cold.p50) : "–",
      r.usage ? fmtSeconds(r.usage.cpu_seconds ?? 0) : "",
      r.usage ? fmtBytes(r.usage.peak_memory) : "",
    ],
    (tr, r) => {
      tr.dataset.function = r.f.name;
      tr.className = r.f.errors ? "has-errors" : "";
    },
  );
  const head = ["Function", "Revision", "Instances", "In flight", "Queued", "Calls", "Errors",
    "Cold starts", "Latency p50 / p99", "Cold start p50", "CPU", "Peak memory"];
  root.append(h("h2", {}, "Functions"), info,
    h("table", { id: "functions" }, h("thead", {}, h("tr", {}, ...head.map((c) => h("th", {}, c)))), body),
    h("p", { class: "muted" }, "Latency: arrival to answer of warm calls since the planner started (from /metrics); usage: every metered call (GET /api/v1/functions/NAME/usage)."));
  return refreshEvery(2000, info, async (stopped) => {
    const [list, buckets] = await Promise.all([
      api<{ functions: Fn[] }>("GET", "/api/v1/functions"), durationBuckets()]);
    const usages = await Promise.all(list.functions.map((f) =>
      api<Usage>("GET", `/api/v1/functions/${encodeURIComponent(f.name)}/usage`).catch(() => undefined)));
    if (stopped()) return;
    rows.update(list.functions.map((f, i) => ({
      f, warm: latencyOf(buckets, f.name, false), cold: latencyOf(buckets, f.name, true), usage: usages[i],
    })));
    setText(info, list.functions.length ? "" : "No functions deployed (volo fn deploy NAME --cmd -- PROGRAM, or --fly FILE --func F).");
  });
}

// ---- one function ----

// What a function runs: its command, or for the fly runner its file and function.
function programOf(f: Fn): string {
  const fly = f.spec?.fly;
  if (f.spec?.runner === "fly" && fly) return `${fly.file ?? ""}: ${fly.function ?? ""}()`;
  return (f.spec?.cmd ?? []).join(" ");
}

function usageRow(who: string, u: UsageTotals): HTMLElement {
  return h("tr", { "data-caller": who },
    h("td", {}, who), h("td", {}, String(u.calls ?? 0)), h("td", {}, String(u.errors ?? 0)),
    h("td", {}, String(u.cold ?? 0)), h("td", {}, fmtSeconds(u.wall_seconds ?? 0)),
    h("td", {}, fmtSeconds(u.run_seconds ?? 0)), h("td", {}, fmtSeconds(u.cpu_seconds ?? 0)),
    h("td", {}, fmtBytes(u.peak_memory)));
}

export function fn(root: HTMLElement, params: string[]): () => void {
  const name = decodeURIComponent(params[0]);
  const message = h("p", { class: "muted" });
  const facts = h("dl", { class: "details", id: "function-facts" });
  const usageBody = h("tbody");
  const hourBody = h("tbody");
  const revisions = h("ul", { id: "function-revisions" });
  const usageHead = () => h("thead", {}, h("tr", {}, ...["Caller", "Calls", "Errors", "Cold", "Wall", "Running", "CPU", "Peak memory"].map((c) => h("th", {}, c))));
  root.append(h("h2", {}, "Function ", h("code", {}, name)), message, facts,
    h("h3", {}, "Usage, all metered calls"), h("table", { id: "function-usage" }, usageHead(), usageBody),
    h("h3", {}, "Usage, the last hour"), h("table", { id: "function-usage-hour" }, usageHead(), hourBody),
    h("h3", {}, "Revisions"), revisions);
  let shownRevisions = "";
  return refreshEvery(2000, message, async (stopped) => {
    const now = Math.floor(Date.now() / 1000);
    const path = `/api/v1/functions/${encodeURIComponent(name)}`;
    // A name that is not deployed: said once, not asked again every 2 s.
    const known = await api<Fn>("GET", path).catch((e) => {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    });
    if (stopped()) return true;
    if (known === null) {
      setText(message, `No function named ${name} is deployed (volo fn deploy ${name} ...; the Functions view lists those that are).`);
      return false;
    }
    const [f, usage, hour, buckets] = await Promise.all([
      Promise.resolve(known), api<Usage>("GET", `${path}/usage`),
      api<Usage>("GET", `${path}/usage?from=${now - 3600}&to=${now + 1}`), durationBuckets()]);
    if (stopped()) return true;
    const warm = latencyOf(buckets, name, false);
    const cold = latencyOf(buckets, name, true);
    const pairs: [string, string][] = [
      ["Revision", f.revision],
      ["Runner", f.spec?.runner ?? "cmd"],
      ["Program", programOf(f)],
      ["Instances", `${instancesText(f)} (min ${f.spec?.min ?? 0}, max ${f.spec?.max ?? ""})`],
      ["In flight / queued", `${f.inflight ?? 0} / ${f.queued ?? 0}`],
      ["Calls", String(f.calls ?? 0)],
      ["Errors", String(f.errors ?? 0)],
      ["Cold starts", String(f.cold_starts ?? 0)],
      ["Rejected (429)", String(f.rejected ?? 0)],
      ["Crashes", String(f.crashes ?? 0)],
      ["Latency p50 / p99", fmtLatency(warm)],
      ["Cold start p50 / p99", fmtLatency(cold)],
      ["Public", f.spec?.public ? "yes" : "no"],
    ];
    facts.replaceChildren(...pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", { "data-fact": k }, v)]));
    usageBody.replaceChildren(usageRow("all", usage),
      ...Object.entries(usage.callers ?? {}).map(([who, u]) => usageRow(who, u)));
    hourBody.replaceChildren(usageRow("all", hour),
      ...Object.entries(hour.callers ?? {}).map(([who, u]) => usageRow(who, u)));
    const key = JSON.stringify(f.revisions);
    if (key !== shownRevisions) {
      shownRevisions = key;
      revisions.replaceChildren(...(f.revisions ?? []).map((r) =>
        h("li", { class: r.current ? "current" : "" }, h("code", {}, r.id.slice(0, 12)),
          ` deployed ${fmtTime(r.deployed)}`, r.current ? " (current)" : "")));
    }
    setText(message, "");
    return true;
  });
}
