// The playground page: a CodeMirror editor for FLY, Run and Stop, the program's output as it is
// printed, its errors as marks on their lines, the examples one click away, and a link that
// carries the program in the URL fragment.
import { EditorState, StateEffect, StateField, RangeSetBuilder } from "@codemirror/state";
import {
  Decoration, DecorationSet, EditorView, highlightActiveLine, keymap, lineNumbers,
} from "@codemirror/view";
import { defaultKeymap, history as editHistory, historyKeymap, indentWithTab } from "@codemirror/commands";
import { bracketMatching, defaultHighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { fly } from "./fly_mode";
import type { OutputPiece, RunRequest, WorkerMessage } from "./protocol";

const FILE = "main.fly";

interface Example {
  name: string;
  file: string;
  title: string;
}
interface ExampleIndex {
  examples: Example[];
  data: string[];  // data files the examples read, relative to examples/
}

// ---- error marks ----

export interface Diagnostic {
  line: number;
  col: number;
  message: string;
}

const setDiagnostics = StateEffect.define<Diagnostic[]>();

const diagnosticsField = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(marks, tr) {
    marks = marks.map(tr.changes);
    for (const e of tr.effects) {
      if (!e.is(setDiagnostics)) continue;
      const builder = new RangeSetBuilder<Decoration>();
      const doc = tr.state.doc;
      const sorted = [...e.value].sort((a, b) => a.line - b.line || a.col - b.col);
      let lastLine = -1;
      for (const d of sorted) {
        if (d.line < 1 || d.line > doc.lines || d.line === lastLine) continue;
        lastLine = d.line;
        const line = doc.line(d.line);
        builder.add(line.from, line.from, Decoration.line({
          class: "cm-fly-error-line",
          attributes: { "data-error-line": String(d.line), title: d.message },
        }));
        const from = Math.min(line.from + Math.max(d.col - 1, 0), line.to);
        const to = Math.min(from + Math.max(1, wordLength(line.text, from - line.from)), line.to);
        if (to > from) {
          builder.add(from, to, Decoration.mark({
            class: "cm-fly-error", attributes: { title: `${d.line}:${d.col}: ${d.message}` },
          }));
        }
      }
      marks = builder.finish();
    }
    return marks;
  },
  provide: (f) => EditorView.decorations.from(f),
});

function wordLength(text: string, at: number): number {
  const m = /^[A-Za-z0-9_$]+/.exec(text.substring(at));
  return m ? m[0].length : 1;
}

// `main.fly:3:17: message` lines of what the interpreter wrote to stderr (indented: a fly
// instance's error inside the fly's).
export function parseDiagnostics(stderr: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  const re = /^\s*main\.fly:(\d+):(\d+): (.*)$/gm;
  for (let m = re.exec(stderr); m; m = re.exec(stderr)) {
    out.push({ line: Number(m[1]), col: Number(m[2]), message: m[3] });
  }
  return out;
}

// ---- the program in the URL fragment ----

function encodeProgram(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodeProgram(code: string): string | null {
  try {
    const bin = atob(code.replace(/-/g, "+").replace(/_/g, "/"));
    return new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(bin, (c) => c.charCodeAt(0)));
  } catch {
    return null;
  }
}

function fragmentParams(): URLSearchParams {
  return new URLSearchParams(location.hash.replace(/^#/, ""));
}

// ---- the page ----

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const output = $<HTMLPreElement>("output");
const status = $<HTMLSpanElement>("status");
const runButton = $<HTMLButtonElement>("run");
const stopButton = $<HTMLButtonElement>("stop");
const examples = $<HTMLSelectElement>("examples");
const seedInput = $<HTMLInputElement>("seed");
const envInput = $<HTMLInputElement>("env");
const diagList = $<HTMLUListElement>("diagnostics");
const fleetSwitch = $<HTMLLabelElement>("fleet-switch");
const fleetBox = $<HTMLInputElement>("fleet");
const loginForm = $<HTMLFormElement>("login");
const loginError = $<HTMLSpanElement>("login-error");

const view = new EditorView({
  parent: $("editor"),
  state: EditorState.create({
    doc: "",
    extensions: [
      lineNumbers(), editHistory(), highlightActiveLine(), bracketMatching(),
      syntaxHighlighting(defaultHighlightStyle), fly, diagnosticsField,
      keymap.of([
        { key: "Mod-Enter", run: () => (start(), true) },
        indentWithTab, ...defaultKeymap, ...historyKeymap,
      ]),
      EditorView.updateListener.of((u) => {
        if (u.docChanged) view.dispatch({ effects: setDiagnostics.of([]) });
      }),
    ],
  }),
});

function setProgram(text: string) {
  view.dispatch({
    changes: { from: 0, to: view.state.doc.length, insert: text },
    effects: setDiagnostics.of([]),
  });
}

let index: ExampleIndex = { examples: [], data: [] };
let worker: Worker | null = null;
let workerReady = false;
let running = false;
let pendingRun: RunRequest | null = null;
let stderrText = "";

// ---- "run on this fleet" (only on the page a planner serves at /playground/) ----

// The planner's API beside the page, and the session the dashboard's login makes: with tokens
// configured, requests carry the session cookie, and the ones that change something its CSRF
// token (docs/dashboard.md, Security).
const api = new URL("../api/v1/", location.href).href;
const fleet = { available: false, tokenRequired: false, authenticated: false, csrf: "" };
// The chunks (task ids) of the running program still out on the fleet, for Stop to cancel.
const openChunks = new Set<number>();
let chunksSubmitted = 0;
let chunksEnded = 0;

async function probeFleet() {
  try {
    // A planner marks the pages it serves; a static host has no API to ask (and would answer
    // the probe with a 404 the console reports).
    const page = await fetch(location.href.split("#")[0], { method: "HEAD", credentials: "same-origin" });
    if (!page.headers.get("X-Volo-Planner")) return;
    const res = await fetch(api + "session", { credentials: "same-origin" });
    if (!res.ok) return;
    const s = await res.json() as { token_required?: boolean; authenticated?: boolean; csrf?: string };
    if (typeof s.token_required !== "boolean") return;
    fleet.available = true;
    fleet.tokenRequired = s.token_required;
    fleet.authenticated = !!s.authenticated;
    fleet.csrf = s.csrf ?? "";
  } catch {
    return;  // a static host: no planner behind the page
  }
  fleetSwitch.hidden = false;
  $("footer-fleet").hidden = false;
  $("footer-tab").hidden = true;
  fleetBox.onchange = () => {
    if (!running && fleetWorkerWanted() !== workerForFleet) restartWorker();
    loginForm.hidden = !(fleetBox.checked && needsLogin());
    if (!loginForm.hidden) $<HTMLInputElement>("token").focus();
  };
  loginForm.onsubmit = (e) => {
    e.preventDefault();
    void login();
  };
}

function needsLogin(): boolean {
  return fleet.tokenRequired && !fleet.authenticated;
}

async function login() {
  loginError.textContent = "";
  const token = $<HTMLInputElement>("token").value;
  let res: Response;
  try {
    res = await fetch(api + "session", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token }),
    });
  } catch (e) {
    loginError.textContent = `cannot reach the planner: ${(e as Error).message}`;
    return;
  }
  const body = await res.json().catch(() => ({})) as { csrf?: string; error?: string };
  if (!res.ok) {
    loginError.textContent = body.error ?? `HTTP ${res.status}`;
    return;
  }
  fleet.authenticated = true;
  fleet.csrf = body.csrf ?? "";
  loginForm.hidden = true;
  $<HTMLInputElement>("token").value = "";
}

function onFleet(m: { submitted?: [number, number]; ended?: number[] }) {
  if (m.submitted) {
    const [first, count] = m.submitted;
    for (let k = 0; k < count; ++k) openChunks.add(first + k);
    chunksSubmitted += count;
  }
  for (const id of m.ended ?? []) {
    if (openChunks.delete(id)) ++chunksEnded;
  }
  if (running) {
    status.textContent = `running on the fleet · ${chunksEnded} of ${chunksSubmitted} chunks done`;
  }
  status.dataset.chunks = String(chunksSubmitted);
}

// Stop ends the interpreter's worker; its chunks still on the fleet are cancelled there.
function cancelOpenChunks() {
  const headers: Record<string, string> = fleet.csrf ? { "X-Volo-CSRF": fleet.csrf } : {};
  for (const id of openChunks) {
    void fetch(`${api}tasks/${id}/cancel`, { method: "POST", credentials: "same-origin", headers })
      .catch(() => undefined);
  }
  openChunks.clear();
}

function append(text: string, stream: 1 | 2) {
  const atBottom = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
  if (stream === 1) {
    output.append(text);
  } else {
    const span = document.createElement("span");
    span.className = "stderr";
    span.textContent = text;
    output.append(span);
    stderrText += text;
  }
  if (atBottom) output.scrollTop = output.scrollHeight;
}

function showDiagnostics() {
  const diags = parseDiagnostics(stderrText);
  view.dispatch({ effects: setDiagnostics.of(diags) });
  diagList.replaceChildren(...diags.map((d) => {
    const li = document.createElement("li");
    li.className = "diagnostic";
    li.dataset.line = String(d.line);
    li.dataset.col = String(d.col);
    li.textContent = `${d.line}:${d.col}: ${d.message}`;
    li.onclick = () => {
      const line = view.state.doc.line(Math.min(d.line, view.state.doc.lines));
      const pos = Math.min(line.from + d.col - 1, line.to);
      view.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
      view.focus();
    };
    return li;
  }));
}

function setRunning(on: boolean, text: string) {
  running = on;
  runButton.disabled = on;
  stopButton.disabled = !on;
  status.textContent = text;
  document.body.dataset.state = on ? "running" : "idle";
}

// The threaded build's output (BroadcastChannel pieces, numbered): shown in order; a run's end
// waits for its last piece.
let outputChannel: BroadcastChannel | null = null;
let nextPiece = 0;
const earlyPieces = new Map<number, OutputPiece>();
let endWaiting: Extract<WorkerMessage, { kind: "done" }> | null = null;

function onPiece(p: OutputPiece) {
  earlyPieces.set(p.seq, p);
  for (let q = earlyPieces.get(nextPiece); q; q = earlyPieces.get(nextPiece)) {
    earlyPieces.delete(nextPiece++);
    append(q.text, q.stream);
  }
  if (endWaiting && nextPiece >= endWaiting.emitted) finish(endWaiting);
}

function finish(m: Extract<WorkerMessage, { kind: "done" }>) {
  endWaiting = null;
  openChunks.clear();
  showDiagnostics();
  const suggested = m.code !== 0 ? suggestBinding() : null;
  setRunning(false, `exit ${m.code} · ${(m.ms / 1000).toFixed(2)} s` +
    (suggested ? ` · Env set to ${suggested} (as volo run --env): Run again` : ""));
  status.dataset.ms = m.ms.toFixed(1);  // the run alone, without loading (bench/playground)
  status.dataset.exit = String(m.code);
}

// Whether the worker runs the one-thread build for the fleet (a cross-origin isolated page
// otherwise gets the threaded one; fleet.cc waits on the one thread).
let workerForFleet = false;
function fleetWorkerWanted(): boolean {
  return crossOriginIsolated && fleet.available && fleetBox.checked;
}

function startWorker() {
  workerReady = false;
  delete document.body.dataset.warm;
  workerForFleet = fleetWorkerWanted();
  outputChannel?.close();
  outputChannel = null;
  worker = new Worker(workerForFleet ? "worker.js?fleet=1" : "worker.js");
  worker.onmessage = (e: MessageEvent<WorkerMessage>) => {
    const m = e.data;
    if (m.kind === "ready") {
      workerReady = true;
      document.body.dataset.threads = m.threads ? "web-workers" : "one-thread";
      // (With the fleet switch on, a program's environments are the fleet's, not smp.)
      $("smp-mode").textContent = workerForFleet ? ""
        : m.threads ? "smp runs on Web Workers (this page is cross-origin isolated)."
        : "smp runs one instance at a time on one thread.";
      if (m.channel) {
        outputChannel = new BroadcastChannel(m.channel);
        outputChannel.onmessage = (ev: MessageEvent<OutputPiece>) => onPiece(ev.data);
      }
      if (pendingRun) {
        worker!.postMessage(pendingRun);
        pendingRun = null;
      }
    } else if (m.kind === "warm") {
      // bench/playground reads these: the first run it times starts on warmed code.
      document.body.dataset.warm = m.optimized ? "optimized" : "time-limit";
      document.body.dataset.warmMs = m.ms.toFixed(0);
    } else if (m.kind === "output") {
      append(m.text, m.stream);
    } else if (m.kind === "fleet") {
      onFleet(m);
    } else if (m.kind === "done") {
      if (outputChannel && nextPiece < m.emitted) endWaiting = m;
      else finish(m);
    } else if (m.kind === "crashed") {
      append(`playground: the interpreter stopped: ${m.message}\n`, 2);
      setRunning(false, "crashed");
      status.dataset.exit = "crashed";
      restartWorker();
    }
  };
  worker.onerror = (e) => {
    append(`playground: ${e.message}\n`, 2);
    setRunning(false, "crashed");
    status.dataset.exit = "crashed";
    restartWorker();
  };
}

function restartWorker() {
  worker?.terminate();
  startWorker();
}

// The Env box: `volo run --env` bindings (NAME=smp:N), separated by spaces or commas.
function bindings(): string[] {
  return envInput.value.split(/[\s,]+/).filter((b) => b !== "");
}

// A program whose environment volo cannot run directly (pi_slides' "azure") says to bind it
// with --env NAME=smp:N: here that is the Env box, so fill it in for the next Run.
function suggestBinding(): string | null {
  const m = /bind it at launch with --env ([A-Za-z_][A-Za-z0-9_]*)=smp:N/.exec(stderrText);
  if (!m || envInput.value.trim() !== "") return null;
  envInput.value = `${m[1]}=smp:4`;
  return envInput.value;
}

function start() {
  if (running) return;
  output.textContent = "";
  stderrText = "";
  diagList.replaceChildren();
  delete status.dataset.exit;
  delete status.dataset.ms;
  view.dispatch({ effects: setDiagnostics.of([]) });
  const source = view.state.doc.toString();
  const useFleet = fleet.available && fleetBox.checked;
  if (useFleet && needsLogin()) {
    loginForm.hidden = false;
    $<HTMLInputElement>("token").focus();
    status.textContent = "log in to run on this fleet";
    return;
  }
  openChunks.clear();
  chunksSubmitted = 0;
  chunksEnded = 0;
  nextPiece = 0;
  earlyPieces.clear();
  endWaiting = null;
  delete status.dataset.chunks;
  setRunning(true, useFleet ? "running on the fleet…" : "running…");
  const req: RunRequest = {
    kind: "run", file: FILE, source, seed: seedInput.value.trim(), bindings: bindings(),
    data: index.data.map((p) => ({ path: p, url: `examples/${p}` })),
    fleet: useFleet ? { url: location.origin, api, csrf: fleet.csrf } : undefined,
  };
  if (fleetWorkerWanted() !== workerForFleet) {
    pendingRun = req;
    restartWorker();
  } else if (workerReady) {
    worker!.postMessage(req);
  } else {
    pendingRun = req;
  }
}

function stop() {
  if (!running) return;
  pendingRun = null;
  restartWorker();
  cancelOpenChunks();
  append("stopped\n", 2);
  setRunning(false, "stopped");
  status.dataset.exit = "stopped";
}

async function loadExample(name: string): Promise<boolean> {
  const ex = index.examples.find((e) => e.name === name);
  if (!ex) return false;
  const res = await fetch(`examples/${ex.file}`);
  setProgram(await res.text());
  history.replaceState(null, "", `#example=${encodeURIComponent(name)}`);
  return true;
}

// The program the URL fragment names (#code=... or #example=NAME, else pi); what it cannot
// read it says in the status line rather than opening an empty editor.
async function loadFragment(): Promise<string> {
  const params = fragmentParams();
  if (params.has("seed")) seedInput.value = params.get("seed") ?? "";
  if (params.has("env")) envInput.value = params.get("env") ?? "";
  const code = params.get("code");
  if (code !== null) {
    const program = decodeProgram(code);
    if (program !== null) {
      setProgram(program);
      examples.value = "";
      return "ready";
    }
  }
  const name = params.get("example") ?? "pi";
  const found = await loadExample(name);
  examples.value = found ? name : "pi";
  if (!found) await loadExample("pi");
  if (code !== null) return "the link's program is not base64url UTF-8 (a cut link?): showing pi";
  return found ? "ready" : `no example named '${name}' (the Example menu lists them): showing pi`;
}

function share() {
  // The program, and the seed and bindings that give its answer when set.
  const params = new URLSearchParams();
  if (seedInput.value.trim()) params.set("seed", seedInput.value.trim());
  if (envInput.value.trim()) params.set("env", envInput.value.trim());
  const extra = params.toString();
  const link = `${location.origin}${location.pathname}#code=${encodeProgram(view.state.doc.toString())}` +
    (extra ? `&${extra}` : "");
  history.replaceState(null, "", link);
  const shareBox = $<HTMLInputElement>("share-link");
  shareBox.value = link;
  shareBox.hidden = false;
  shareBox.select();
  void navigator.clipboard?.writeText(link).catch(() => undefined);
}

async function init() {
  startWorker();
  runButton.onclick = start;
  stopButton.onclick = stop;
  $<HTMLButtonElement>("share").onclick = share;
  examples.onchange = () => void loadExample(examples.value);
  try {
    index = await (await fetch("examples/index.json")).json();
  } catch {
    index = { examples: [], data: [] };
  }
  const none = document.createElement("option");
  none.value = "";
  none.textContent = "—";
  examples.append(none);
  for (const ex of index.examples) {
    const opt = document.createElement("option");
    opt.value = ex.name;
    opt.textContent = ex.name;
    opt.title = ex.title;
    examples.append(opt);
  }
  const loaded = await loadFragment();
  await probeFleet();
  setRunning(false, loaded);
  document.body.dataset.loaded = "true";
  // A link pasted into this tab's address bar changes only the fragment: no page load, so the
  // program is read again here. (Share and the Example menu replace the fragment, which fires
  // no hashchange.)
  window.addEventListener("hashchange", () => {
    if (running) stop();
    void loadFragment().then((text) => {
      output.textContent = "";
      diagList.replaceChildren();
      delete status.dataset.exit;
      status.textContent = text;
    });
  });
}

void init();
