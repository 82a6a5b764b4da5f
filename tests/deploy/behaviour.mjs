#!/usr/bin/env node
// Behaviour test of volo's Kubernetes manifests (deploy/k8s/*/): for each folder it runs the
// containers the manifests describe as local processes of the built volo binary, and checks
// what a cluster would show: the planner passes its readiness and liveness probes, refuses the
// API without the token, every worker replica joins with the operations its manifest gives it
// and passes its probes, and the folder's tasks (the planner's TASKS, or a few submitted ones)
// all finish with the right results.
//
// Each container runs with its manifest's args and env, as the kubelet would start it:
//   - $(VAR) in args expanded from the container's env; fieldRef metadata.name is the pod name;
//   - the volo-tokens Secret made here (fresh random tokens) and written where its volumes are
//     mounted; emptyDir volumes are empty folders; a mount path in an argument becomes the local
//     folder;
//   - each container's PORT becomes 0 (pods share this host's network, so the manifests' fixed
//     ports would collide): the process binds a free port itself and writes it to the file of an
//     added --port-file, which the test waits for. A URL naming a Service of the folder (or
//     localhost, within a pod) is pointed at 127.0.0.1 and the port of the container the Service
//     selects, so containers start in order: the planner first, then the workers. (Picking a
//     free port here and handing it over would race with any other process binding one.)
//   - VOLO_DURATION_SCALE is set to --scale (default 0.01) so the seed's 3-12 s tasks take tens of
//     milliseconds. Nothing else changes: binds (0.0.0.0), token files and flags are the manifests'.
// A Deployment with N replicas is N pods (NAME-0 ... NAME-N-1).
//
// usage: node behaviour.mjs --volo PATH [--root DIR] [--only FOLDER] [--scale S] [--keep]
// exit 0 when every folder behaves, 1 otherwise, 2 on a usage error. Processes are killed by pid
// at the end of each folder; logs are printed for a folder that fails.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import crypto from "node:crypto";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");

// ---- arguments ---------------------------------------------------------------------------------
const opts = { volo: null, root: path.join(repo, "deploy/k8s"), only: null, scale: "0.01", keep: false };
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--volo") opts.volo = path.resolve(next());
    else if (a === "--root") opts.root = path.resolve(next());
    else if (a === "--only") opts.only = next();
    else if (a === "--scale") opts.scale = next();
    else if (a === "--keep") opts.keep = true;
    else if (a === "-h" || a === "--help") usage(null);
    else usage(`unknown argument ${a}`);
  }
  if (!opts.volo) usage("--volo PATH is required");
}
function usage(err) {
  const out = err ? process.stderr : process.stdout;
  if (err) out.write(`behaviour.mjs: ${err}\n`);
  out.write("usage: node behaviour.mjs --volo PATH [--root DIR] [--only FOLDER] [--scale S] [--keep]\n");
  process.exit(err ? 2 : 0);
}
if (!fs.existsSync(opts.volo)) {
  console.error(`behaviour.mjs: no volo binary at ${opts.volo}`);
  process.exit(2);
}

// ---- small helpers -----------------------------------------------------------------------------
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls `fn` (async, returns truthy when done) every `every` ms until `timeoutMs`; returns the
// last value (falsy on timeout).
// An error thrown by `fn` counts as "not yet", unless `rethrow` is set.
async function pollUntil(fn, timeoutMs, every = 50, { rethrow = false } = {}) {
  const deadline = Date.now() + timeoutMs;
  let v;
  for (;;) {
    try {
      v = await fn();
    } catch (e) {
      if (rethrow) throw e;
      v = undefined;
    }
    if (v || Date.now() > deadline) return v;
    await sleep(every);
  }
}

async function http(method, url, { token, body } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10000),
  });
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: r.status, text, json };
}

const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const matches = (selector, labels) =>
  isObj(selector) && Object.keys(selector).length > 0 &&
  Object.entries(selector).every(([k, v]) => (labels || {})[k] === v);

// The seed's rule for ADD / MULT, written out again here so the test checks volo's reading of it.
function seedBool(v) {
  if (v === undefined || v === "") return undefined;
  const s = String(v).trim().toLowerCase();
  if (["true", "1", "yes", "on"].includes(s)) return true;
  if (["false", "0", "no", "off"].includes(s)) return false;
  throw new Error(`bad seed boolean ${v}`);
}
function expectedOps(args, env) {
  const i = args.indexOf("--ops");
  if (i >= 0) return args[i + 1].split(",").filter(Boolean).sort();
  const add = seedBool(env.ADD);
  const mult = seedBool(env.MULT);
  if (add === undefined && mult === undefined) return null; // the defaults: not checked
  return [...((add ?? true) ? ["add"] : []), ...((mult ?? true) ? ["mult"] : [])];
}

// ---- a folder as local processes ---------------------------------------------------------------
class Folder {
  constructor(dir) {
    this.dir = dir;
    this.name = path.basename(dir);
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), `volo-k8s-${this.name}-`));
    this.docs = [];
    for (const f of fs.readdirSync(dir).filter((n) => /\.ya?ml$/.test(n)).sort()) {
      for (const d of parseAllDocuments(fs.readFileSync(path.join(dir, f), "utf8"))) {
        const doc = d.toJS();
        if (isObj(doc)) this.docs.push(doc);
      }
    }
    this.tokens = { "api-token": crypto.randomBytes(24).toString("base64url"), "join-token": crypto.randomBytes(24).toString("base64url") };
    this.pods = []; // {name, labels, spec, containers: [{name, role, args, env, ports: Map, proc, log}]}
    this.procs = [];
  }

  // Pods of the folder's workloads, with their replicas.
  plan() {
    for (const doc of this.docs) {
      let template, replicas, base;
      if (doc.kind === "Pod") {
        template = { metadata: doc.metadata, spec: doc.spec };
        replicas = 1;
        base = null;
      } else if (isObj(doc.spec?.template)) {
        template = doc.spec.template;
        replicas = doc.spec.replicas ?? 1;
        base = doc.metadata.name;
      } else continue;
      for (let i = 0; i < replicas; i++) {
        const name = base === null ? doc.metadata.name : `${base}-${i}`;
        this.pods.push({ name, labels: template.metadata?.labels || {}, spec: template.spec, containers: [] });
      }
    }
    this.services = this.docs.filter((d) => d.kind === "Service");
  }

  // Folders for the pod's volumes; Secret volumes hold the tokens.
  volumes(pod) {
    const dirs = new Map();
    for (const v of pod.spec.volumes || []) {
      const dir = path.join(this.tmp, pod.name, "volumes", v.name);
      fs.mkdirSync(dir, { recursive: true });
      if (v.secret) {
        if (v.secret.secretName !== "volo-tokens") throw new Error(`${pod.name}: volume ${v.name} needs Secret ${v.secret.secretName}, which apply.sh does not make`);
        const items = v.secret.items || Object.keys(this.tokens).map((k) => ({ key: k, path: k }));
        for (const it of items) {
          if (!(it.key in this.tokens)) throw new Error(`${pod.name}: Secret volo-tokens has no key ${it.key}`);
          fs.writeFileSync(path.join(dir, it.path), this.tokens[it.key], { mode: 0o440 });
        }
      } else if (!("emptyDir" in v)) {
        throw new Error(`${pod.name}: volume ${v.name} is neither a Secret nor an emptyDir; this test cannot stand it in`);
      }
      dirs.set(v.name, dir);
    }
    return dirs;
  }

  // Env of a container as the kubelet gives it (values, Secret keys, the pod's name).
  env(pod, c) {
    const env = {};
    for (const e of c.env || []) {
      if ("value" in e) env[e.name] = String(e.value).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, k) => (k in env ? env[k] : m));
      else if (e.valueFrom?.secretKeyRef) {
        const ref = e.valueFrom.secretKeyRef;
        if (ref.name !== "volo-tokens" || !(ref.key in this.tokens)) throw new Error(`${pod.name}/${c.name}: env ${e.name} reads Secret ${ref.name} key ${ref.key}, which apply.sh does not make`);
        env[e.name] = this.tokens[ref.key];
      } else if (e.valueFrom?.fieldRef) {
        const f = e.valueFrom.fieldRef.fieldPath;
        env[e.name] = f === "metadata.name" ? pod.name : f === "metadata.namespace" ? "default" : f === "status.podIP" ? "127.0.0.1" : "";
      } else throw new Error(`${pod.name}/${c.name}: env ${e.name} has a source this test cannot stand in`);
    }
    return env;
  }

  // Prepares every container: env, args. Ports and Service URLs are settled in start().
  prepare() {
    for (const pod of this.pods) {
      const vols = this.volumes(pod);
      for (const c of pod.spec.containers) {
        const env = this.env(pod, c);
        const mounts = (c.volumeMounts || []).map((m) => [m.mountPath.replace(/\/$/, ""), vols.get(m.name)]);
        const local = (s) => {
          for (const [mp, dir] of mounts) if (s === mp || s.startsWith(`${mp}/`)) return dir + s.slice(mp.length);
          return s;
        };
        const args = [...(c.command || []), ...(c.args || [])].map((a) =>
          local(String(a).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, k) => (k in env ? env[k] : m))));
        if (args[0] && /(^|\/)volo$/.test(args[0])) args.shift();
        for (const k of Object.keys(env)) env[k] = local(env[k]);
        // The container listens on PORT (its declared containerPort); start() learns the local
        // port it binds and fills `ports` (containerPort and port name -> local port).
        const listens = env.PORT === undefined ? [] : (c.ports || []).filter((p) => p.containerPort === Number(env.PORT));
        if (env.VOLO_DURATION_SCALE !== undefined || args[0] === "planner") env.VOLO_DURATION_SCALE = opts.scale;
        pod.containers.push({ pod, name: c.name, role: args[0], args, env, listens, ports: new Map(), spec: c });
      }
    }
  }

  // The local URL for a URL of the manifests: a Service name or localhost becomes 127.0.0.1 and
  // the selected container's local port.
  resolve(pod, text) {
    return text.replace(/\bhttps?:\/\/([a-z0-9.-]+):([0-9]+)/g, (m, host, port) => {
      if (host === "localhost" || host === "127.0.0.1") {
        for (const c of pod.containers) if (c.ports.has(Number(port))) return `http://127.0.0.1:${c.ports.get(Number(port))}`;
        throw new Error(`${pod.name}: nothing in the pod listens on ${port} (${m})`);
      }
      const svc = this.services.find((s) => s.metadata.name === host.split(".")[0]);
      if (!svc) return m;
      const sp = (svc.spec.ports || []).find((p) => p.port === Number(port));
      if (!sp) throw new Error(`Service ${svc.metadata.name} has no port ${port}`);
      const target = sp.targetPort ?? sp.port;
      for (const p of this.pods) {
        if (!matches(svc.spec.selector, p.labels)) continue;
        for (const c of p.containers) if (c.ports.has(target)) return `http://127.0.0.1:${c.ports.get(target)}`;
      }
      throw new Error(`Service ${svc.metadata.name} selects no container with port ${target}`);
    });
  }

  // Starts the container's process; with a PORT it binds port 0 and this waits (until its
  // process ends or 30 s) for the port it writes to its --port-file.
  async start(c) {
    c.args = c.args.map((a) => this.resolve(c.pod, a));
    for (const k of Object.keys(c.env)) c.env[k] = this.resolve(c.pod, c.env[k]);
    c.log = path.join(this.tmp, `${c.pod.name}.${c.name}.log`);
    const portFile = path.join(this.tmp, `${c.pod.name}.${c.name}.port`);
    if (c.env.PORT !== undefined) {
      c.env.PORT = "0";
      c.args.push("--port-file", portFile);
    }
    const out = fs.openSync(c.log, "w");
    // Only the manifest's environment (and PATH/HOME for the process itself).
    const env = { PATH: process.env.PATH, HOME: this.tmp, ...c.env };
    c.proc = spawn(opts.volo, c.args, { env, stdio: ["ignore", out, out] });
    c.exit = null;
    c.proc.on("exit", (code, sig) => (c.exit = sig ? `signal ${sig}` : `exit ${code}`));
    fs.closeSync(out);
    this.procs.push(c);
    started.push(c);
    if (c.env.PORT === undefined) return;
    const port = await pollUntil(() => {
      if (c.exit !== null) throw new Error(`${c.pod.name}/${c.name} ended before it listened: ${c.exit}`);
      const text = fs.existsSync(portFile) ? fs.readFileSync(portFile, "utf8").trim() : "";
      return /^[0-9]+$/.test(text) && Number(text) > 0 ? Number(text) : undefined;
    }, 30000, 20, { rethrow: true });
    if (!port) throw new Error(`${c.pod.name}/${c.name} wrote no port to ${portFile} within 30 s`);
    for (const p of c.listens) {
      c.ports.set(p.containerPort, port);
      if (p.name) c.ports.set(p.name, port);
    }
  }

  async stop() {
    for (const c of this.procs) if (c.exit === null) c.proc.kill("SIGTERM");
    await pollUntil(() => this.procs.every((c) => c.exit !== null), 10000);
    for (const c of this.procs) if (c.exit === null) c.proc.kill("SIGKILL");
    await pollUntil(() => this.procs.every((c) => c.exit !== null), 5000);
  }

  printLogs() {
    for (const c of this.procs) {
      let text = "";
      try {
        text = fs.readFileSync(c.log, "utf8");
      } catch {}
      if (text.length > 8000) text = `[... ${text.length - 8000} bytes cut ...]\n${text.slice(-8000)}`;
      console.log(`----- ${c.pod.name}/${c.name} (${c.exit ?? "running"}): volo ${c.args.join(" ")}`);
      console.log(text.trimEnd());
    }
  }
}

// Probe of a container as the kubelet runs it: GET path on the (named) port answers 2xx/3xx.
async function probe(c, kind) {
  const p = c.spec[kind]?.httpGet;
  if (!p) return `${c.pod.name}/${c.name} has no ${kind}`;
  const port = c.ports.get(p.port);
  if (!port) return `${c.pod.name}/${c.name}: ${kind} port ${p.port} is not the container's PORT`;
  const ok = await pollUntil(async () => {
    if (c.exit !== null) return "exited";
    const r = await http("GET", `http://127.0.0.1:${port}${p.path}`);
    return r.status >= 200 && r.status < 400 ? "ok" : undefined;
  }, 20000);
  if (ok === "ok") return null;
  return `${c.pod.name}/${c.name}: ${kind} GET ${p.path} did not answer 2xx within 20 s${c.exit ? ` (the process ended: ${c.exit})` : ""}`;
}

// ---- one folder --------------------------------------------------------------------------------
async function runFolder(dir) {
  const f = new Folder(dir);
  const errors = [];
  const fail = (m) => errors.push(m);
  try {
    f.plan();
    f.prepare();
    const all = f.pods.flatMap((p) => p.containers);
    const planners = all.filter((c) => c.role === "planner");
    const workers = all.filter((c) => c.role === "worker");
    if (planners.length !== 1) throw new Error(`expected one planner container, found ${planners.length}`);
    const planner = planners[0];
    await f.start(planner);
    for (const kind of ["readinessProbe", "livenessProbe"]) {
      const e = await probe(planner, kind);
      if (e) throw new Error(e);
    }
    const url = `http://127.0.0.1:${planner.ports.get(Number(planner.spec.ports?.[0]?.containerPort))}`;
    const ready = await http("GET", `${url}/readyz`);
    if (ready.status !== 200) fail(`planner: GET /readyz answered ${ready.status}`);
    const anon = await http("GET", `${url}/api/v1/workers`);
    if (anon.status !== 401) fail(`planner: the API answered ${anon.status} without the token (want 401): the token is not enforced`);
    const api = f.tokens["api-token"];

    for (const w of workers) await f.start(w);
    // Every replica joins, with the operations its manifest gives it.
    const want = new Map(workers.map((w) => [w.pod.name, expectedOps(w.args, w.env)]));
    const listed = await pollUntil(async () => {
      const r = await http("GET", `${url}/api/v1/workers`, { token: api });
      const list = r.json?.workers ?? r.json;
      if (!Array.isArray(list)) return undefined;
      const ids = new Set(list.map((x) => x.id));
      return [...want.keys()].every((id) => ids.has(id)) ? list : undefined;
    }, 30000);
    if (!listed) {
      const r = await http("GET", `${url}/api/v1/workers`, { token: api });
      throw new Error(`not every worker joined within 30 s: want ${[...want.keys()].join(", ")}; the planner lists ${r.text.slice(0, 400)}`);
    }
    for (const w of listed) {
      const ops = want.get(w.id);
      if (ops && JSON.stringify([...w.ops].sort()) !== JSON.stringify(ops))
        fail(`worker ${w.id} runs ${w.ops.join(",")}, but its manifest says ${ops.join(",")}`);
    }
    for (const w of workers)
      for (const kind of ["readinessProbe", "livenessProbe"]) {
        const e = await probe(w, kind);
        if (e) fail(e);
      }

    // The folder's tasks: the planner's TASKS, or a few submitted with the API token.
    let n = Number(planner.env.TASKS || 0);
    if (n === 0) {
      const tasks = [];
      for (let i = 0; i < 8; i++) tasks.push({ op: i % 2 ? "mult" : "add", args: { a: i + 1, b: 2 * i + 3 } });
      const r = await http("POST", `${url}/api/v1/tasks`, { token: api, body: { tasks } });
      if (r.status !== 201) throw new Error(`submitting with the API token answered ${r.status}: ${r.text}`);
      n = tasks.length;
    }
    const status = await pollUntil(async () => {
      const r = await http("GET", `${url}/api/v1/status`, { token: api });
      return r.json && r.json.done + r.json.failed + (r.json.cancelled || 0) >= n ? r.json : undefined;
    }, 120000, 100);
    if (!status) {
      const r = await http("GET", `${url}/api/v1/status`, { token: api });
      throw new Error(`the ${n} tasks did not all finish within 120 s: ${r.text.slice(0, 400)}`);
    }
    if (status.done !== n || status.failed !== 0) fail(`want ${n} tasks done and none failed: ${JSON.stringify(status)}`);
    const list = await http("GET", `${url}/api/v1/tasks?limit=10000`, { token: api });
    const opsOf = new Map(listed.map((w) => [w.id, w.ops]));
    for (const t of list.json?.tasks || []) {
      const want = t.op === "add" ? t.args.a + t.args.b : t.args.a * t.args.b;
      if (t.state !== "done" || t.result !== want) fail(`task ${t.id} ${t.op} ${JSON.stringify(t.args)}: ${t.state} ${JSON.stringify(t.result)} (want ${want})`);
      if (t.worker && opsOf.has(t.worker) && !opsOf.get(t.worker).includes(t.op)) fail(`task ${t.id} ${t.op} ran on ${t.worker}, which does not run ${t.op}`);
    }
    if ((list.json?.tasks || []).length !== n) fail(`the planner lists ${(list.json?.tasks || []).length} tasks, want ${n}`);
    for (const c of f.procs) if (c.exit !== null) fail(`${c.pod.name}/${c.name} ended early: ${c.exit}`);
    return { f, errors, workers: workers.length, tasks: n };
  } catch (e) {
    errors.push(e.message);
    return { f, errors };
  } finally {
    await f.stop();
  }
}

// ---- run ---------------------------------------------------------------------------------------
// Whatever way this script ends (an uncaught error, a signal from CTest), no volo outlives it.
const started = [];
process.on("exit", () => {
  for (const c of started) if (c.exit === null) c.proc.kill("SIGKILL");
});
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => process.exit(128 + os.constants.signals[sig]));
const folders = fs.readdirSync(opts.root, { withFileTypes: true })
  .filter((e) => e.isDirectory() && (!opts.only || e.name === opts.only))
  .map((e) => path.join(opts.root, e.name))
  .sort();
if (folders.length === 0) {
  console.error(`behaviour.mjs: no folder${opts.only ? ` ${opts.only}` : ""} under ${opts.root}`);
  process.exit(2);
}
let failed = 0;
for (const dir of folders) {
  const t0 = Date.now();
  const { f, errors, workers, tasks } = await runFolder(dir);
  const took = ((Date.now() - t0) / 1000).toFixed(1);
  if (errors.length === 0) {
    console.log(`ok   ${f.name}: planner ready, ${workers} workers joined, ${tasks} tasks done (${took} s)`);
  } else {
    failed++;
    console.log(`FAIL ${f.name} (${took} s)`);
    for (const e of errors) console.log(`       ${e}`);
    f.printLogs();
  }
  if (!opts.keep && errors.length === 0) fs.rmSync(f.tmp, { recursive: true, force: true });
  else console.log(`       files kept in ${f.tmp}`);
}
console.log(`${folders.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
