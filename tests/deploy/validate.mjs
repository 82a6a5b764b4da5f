#!/usr/bin/env node
// Offline validation of volo's Kubernetes manifests (deploy/k8s/**/*.yaml) and its Containerfile.
//
// For every YAML document it checks, in order:
//   1. schema: the Kubernetes OpenAPI schema of its apiVersion/kind, from the `kubernetes-models`
//      package (compiled ajv validators; nothing is downloaded at run time);
//   2. unknown fields: a field the schema does not know (a typo such as `contianers`) is an
//      error, as `kubectl apply --validate=strict` would make it. The schema validators read
//      exactly the fields they know, so a field that no validator read is unknown;
//   3. what the API server checks beyond the schema (names, Deployment selector vs template
//      labels, unique container and port names, probes naming declared ports, mounts naming
//      declared volumes);
//   4. volo's policy: image + imagePullPolicy, requests and limits, readiness and liveness
//      probes, non-root, and every folder applies on its own (a PLANNER=http://NAME:PORT has a
//      Service NAME with that port in the same folder that selects a pod listening on it);
//   5. tokens: a planner that listens beyond loopback gets the API and join tokens (volo refuses
//      to start without them), every token file lies in a mounted volume of the Secret that
//      deploy/k8s/apply.sh creates, and workers get the join token when their planner asks.
// It checks deploy/Containerfile too (Debian 12 stages, non-root USER, EXPOSE 3000, ...).
// Then it checks that every manifest (and *.Containerfile) under tests/deploy/fixtures/invalid/
// FAILS with the message its `# expect:` comments name, so a validator that accepts everything
// cannot pass.
//
// usage: node validate.mjs [--root DIR] [--fixtures DIR] [--containerfile FILE] [-q]
// exit 0 when everything is valid, 1 otherwise (2 on a usage error).

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createRequire } from "node:module";
import { parseAllDocuments } from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");

// ---- arguments ---------------------------------------------------------------------------------
const opts = {
  root: path.join(repo, "deploy/k8s"),
  fixtures: path.join(here, "fixtures/invalid"),
  containerfile: path.join(repo, "deploy/Containerfile"),
  quiet: false,
};
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return path.resolve(argv[++i]);
    };
    if (a === "--root") opts.root = next();
    else if (a === "--fixtures") opts.fixtures = next();
    else if (a === "--containerfile") opts.containerfile = next();
    else if (a === "-q" || a === "--quiet") opts.quiet = true;
    else if (a === "-h" || a === "--help") usage(null);
    else usage(`unknown argument ${a}`);
  }
}
function usage(err) {
  const out = err ? process.stderr : process.stdout;
  if (err) out.write(`validate.mjs: ${err}\n`);
  out.write("usage: node validate.mjs [--root DIR] [--fixtures DIR] [--containerfile FILE] [-q]\n");
  process.exit(err ? 2 : 0);
}

// ---- files -------------------------------------------------------------------------------------
function yamlFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(e.name)) out.push(p);
    }
  };
  walk(dir);
  return out;
}
const rel = (p) => path.relative(repo, p) || p;

// ---- schema lookup -----------------------------------------------------------------------------
const require = createRequire(import.meta.url);
const modelsDir = path.dirname(require.resolve("kubernetes-models/package.json"));
const modelCache = new Map();

// The model class for apiVersion/kind ("v1"/"Pod" -> kubernetes-models/v1/Pod,
// "apps/v1"/"Deployment" -> kubernetes-models/apps/v1/Deployment), or null if none exists.
async function modelFor(apiVersion, kind) {
  const key = `${apiVersion}/${kind}`;
  if (modelCache.has(key)) return modelCache.get(key);
  let model = null;
  if (/^([a-z0-9.-]+\/)?v[0-9]+((alpha|beta)[0-9]+)?$/.test(apiVersion) && /^[A-Z][A-Za-z0-9]*$/.test(kind)) {
    const file = path.join(modelsDir, apiVersion, `${kind}.mjs`);
    if (fs.existsSync(file)) {
      const mod = await import(pathToFileURL(file).href);
      model = mod[kind] ?? null;
    }
  }
  modelCache.set(key, model);
  return model;
}

// Runs the schema validator on `data` and returns [schemaErrors, unknownFieldPaths].
function schemaCheck(model, data) {
  const read = new Map(); // JSON pointer of an object -> keys a validator read from it
  const proxies = new WeakMap();
  const wrap = (v, ptr) => {
    if (v === null || typeof v !== "object") return v;
    if (proxies.has(v)) return proxies.get(v);
    const keys = new Set();
    read.set(ptr, keys);
    const p = new Proxy(v, {
      get(t, k, r) {
        const val = Reflect.get(t, k, r);
        if (typeof k !== "string" || !Object.prototype.hasOwnProperty.call(t, k)) return val;
        keys.add(k);
        return wrap(val, `${ptr}/${k}`);
      },
    });
    proxies.set(v, p);
    return p;
  };
  const errors = [];
  try {
    model.prototype.validate.call(wrap(data, ""));
  } catch (e) {
    if (Array.isArray(e.errors)) {
      for (const err of e.errors) errors.push(`${err.instancePath || "/"} ${err.message}${paramsText(err)}`);
    } else {
      errors.push(String(e.message || e));
    }
  }
  const unknown = [];
  const walk = (v, ptr) => {
    if (v === null || typeof v !== "object") return;
    const keys = read.get(ptr);
    for (const k of Object.keys(v)) {
      if (!Array.isArray(v) && keys && !keys.has(k)) unknown.push(`${ptr}/${k}`);
      else walk(v[k], `${ptr}/${k}`);
    }
  };
  walk(data, "");
  return [errors, unknown];
}
function paramsText(err) {
  const p = err.params || {};
  return p.allowedValues ? ` (one of ${p.allowedValues.join(", ")})` : "";
}

// ---- tokens ------------------------------------------------------------------------------------
// The Secret deploy/k8s/apply.sh creates (and deploy/k8s/README.md's `kubectl create secret` line).
const TOKEN_SECRET = "volo-tokens";
const TOKEN_KEYS = new Set(["api-token", "join-token"]);
const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

// What a container runs: {role: "planner" | "worker" | null, flag(name), env: Map}.
function voloCommand(c) {
  const args = [...(c.command || []), ...(c.args || [])].map(String);
  if (args.length && /(^|\/)volo$/.test(args[0])) args.shift();
  const env = new Map((c.env || []).map((e) => [e.name, e]));
  const flag = (name) => {
    const i = args.indexOf(name);
    if (i >= 0 && i + 1 < args.length) return args[i + 1];
    const eq = args.find((a) => a.startsWith(`${name}=`));
    return eq === undefined ? undefined : eq.slice(name.length + 1);
  };
  const role = args[0] === "planner" || args[0] === "worker" ? args[0] : null;
  return { role, flag, env };
}

// Errors of one container's tokens (`pod`: its pod spec, for the volumes).
function tokenCheck(c, pod, at) {
  const errs = [];
  const { role, flag, env } = voloCommand(c);
  const volumes = new Map((pod.volumes || []).map((v) => [v.name, v]));
  for (const e of c.env || []) {
    const ref = e.valueFrom?.secretKeyRef;
    if (ref && (ref.name !== TOKEN_SECRET || !TOKEN_KEYS.has(ref.key)))
      errs.push(`${at}: env ${e.name} reads Secret ${ref.name} key ${ref.key}; deploy/k8s/apply.sh creates only ${TOKEN_SECRET} with keys ${[...TOKEN_KEYS].join(", ")}`);
  }
  for (const name of ["--token-file", "--join-token-file"]) {
    const file = flag(name);
    if (file === undefined) continue;
    const mount = (c.volumeMounts || []).find((m) => file.startsWith(`${m.mountPath.replace(/\/$/, "")}/`));
    const vol = mount && volumes.get(mount.name);
    const base = mount && file.slice(mount.mountPath.replace(/\/$/, "").length + 1);
    const secret = vol?.secret;
    const files = secret && (secret.items ? secret.items.map((i) => i.path) : [...TOKEN_KEYS]);
    if (!secret || secret.secretName !== TOKEN_SECRET || !files.includes(base))
      errs.push(`${at}: ${name} ${file} is not a file of a mounted ${TOKEN_SECRET} Secret volume`);
  }
  for (const v of pod.volumes || []) {
    const secret = v.secret;
    if (!secret) continue;
    if (secret.secretName !== TOKEN_SECRET || (secret.items || []).some((i) => !TOKEN_KEYS.has(i.key)))
      errs.push(`volume ${v.name}: Secret ${secret.secretName} (${(secret.items || []).map((i) => i.key).join(", ")}); deploy/k8s/apply.sh creates only ${TOKEN_SECRET} with keys ${[...TOKEN_KEYS].join(", ")}`);
  }
  if (role === "planner") {
    const bind = flag("--bind") ?? env.get("VOLO_BIND")?.value ?? "127.0.0.1";
    const api = flag("--token-file") !== undefined || env.has("VOLO_TOKEN");
    const join = flag("--join-token-file") !== undefined || env.has("VOLO_JOIN_TOKEN");
    if (!LOOPBACK.has(bind) && (!api || !join))
      errs.push(`${at}: the planner listens on ${bind} without ${!api ? "an API token" : "a join token"}, so it refuses to start; give --token-file and --join-token-file from the ${TOKEN_SECRET} Secret`);
  }
  return errs;
}
const hasJoinToken = (c) => {
  const { flag, env } = voloCommand(c);
  return flag("--join-token-file") !== undefined || env.has("VOLO_JOIN_TOKEN");
};

// ---- checks beyond the schema ------------------------------------------------------------------
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const IANA_SVC_NAME = /^(?=.*[a-z])[a-z0-9]([a-z0-9]|-(?!-))*[a-z0-9]$|^[a-z]$/;

const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const matches = (selector, labels) =>
  isObj(selector) && Object.keys(selector).length > 0 &&
  Object.entries(selector).every(([k, v]) => (labels || {})[k] === v);

// The pod spec and pod labels inside a workload (Pod, Deployment, StatefulSet, Job, ...).
function podOf(doc) {
  if (doc.kind === "Pod") return { spec: doc.spec, labels: doc.metadata?.labels || {} };
  if (doc.kind === "CronJob") {
    const t = doc.spec?.jobTemplate?.spec?.template;
    return t ? { spec: t.spec, labels: t.metadata?.labels || {} } : null;
  }
  const t = doc.spec?.template;
  return t && isObj(t.spec) ? { spec: t.spec, labels: t.metadata?.labels || {} } : null;
}

function semanticCheck(doc) {
  const errs = [];
  const name = doc.metadata?.name;
  if (typeof name !== "string" || name === "") errs.push("/metadata/name is required");
  else if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name))
    errs.push(`/metadata/name "${name}" is not a lowercase RFC 1123 name`);
  if (["Service", "Namespace"].includes(doc.kind) && typeof name === "string" && (name.length > 63 || !DNS1123_LABEL.test(name)))
    errs.push(`/metadata/name "${name}" must be an RFC 1123 label (no dots, at most 63 characters) for a ${doc.kind}`);

  if (doc.kind === "Deployment" || doc.kind === "StatefulSet" || doc.kind === "DaemonSet" || doc.kind === "ReplicaSet") {
    const sel = doc.spec?.selector?.matchLabels;
    const labels = doc.spec?.template?.metadata?.labels;
    if (!matches(sel, labels))
      errs.push("/spec/selector/matchLabels must be non-empty and match /spec/template/metadata/labels");
  }
  if (doc.kind === "Service") {
    for (const [i, p] of (doc.spec?.ports || []).entries()) {
      if ((doc.spec.ports.length > 1) && !p.name) errs.push(`/spec/ports/${i}/name is required when a Service has several ports`);
    }
  }

  const pod = podOf(doc);
  if (pod && isObj(pod.spec)) {
    const base = doc.kind === "Pod" ? "/spec" : "/spec/template/spec";
    const containers = [...(pod.spec.initContainers || []), ...(pod.spec.containers || [])];
    const volumes = new Set((pod.spec.volumes || []).map((v) => v.name));
    const containerNames = new Set();
    const portNames = new Set();
    const portNumbers = new Set();
    for (const [i, c] of (pod.spec.containers || []).entries()) {
      const at = `${base}/containers/${i} (${c.name})`;
      if (!isObj(c)) continue;
      if (containerNames.has(c.name)) errs.push(`${at}: duplicate container name`);
      containerNames.add(c.name);
      if (typeof c.name === "string" && !DNS1123_LABEL.test(c.name)) errs.push(`${at}: name is not an RFC 1123 label`);
      const own = new Map();
      for (const p of c.ports || []) {
        if (p.name !== undefined) {
          if (!IANA_SVC_NAME.test(p.name) || p.name.length > 15) errs.push(`${at}: port name "${p.name}" is not a valid IANA service name (at most 15 characters)`);
          if (portNames.has(p.name)) errs.push(`${at}: port name "${p.name}" is used twice in the pod`);
          portNames.add(p.name);
          own.set(p.name, p.containerPort);
        }
        const key = `${p.containerPort}/${p.protocol || "TCP"}`;
        if (portNumbers.has(key)) errs.push(`${at}: containerPort ${key} is used twice in the pod`);
        portNumbers.add(key);
        if (!(p.containerPort > 0 && p.containerPort < 65536)) errs.push(`${at}: containerPort ${p.containerPort} is out of range`);
      }
      for (const probe of ["readinessProbe", "livenessProbe", "startupProbe"]) {
        const port = c[probe]?.httpGet?.port ?? c[probe]?.tcpSocket?.port;
        if (typeof port === "string" && !/^[0-9]+$/.test(port) && !own.has(port))
          errs.push(`${at}: ${probe} uses port "${port}" that the container does not declare`);
      }
      for (const m of c.volumeMounts || [])
        if (!volumes.has(m.name)) errs.push(`${at}: volumeMount "${m.name}" names no volume of the pod`);
      const envNames = new Set((c.env || []).map((e) => e.name));
      for (const arg of [...(c.command || []), ...(c.args || [])])
        for (const m of String(arg).matchAll(/(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g))
          if (!envNames.has(m[1])) errs.push(`${at}: argument "${arg}" refers to $(${m[1]}) that is not in env`);

      // volo policy
      if (!c.image) errs.push(`${at}: image is required`);
      if (!c.imagePullPolicy) errs.push(`${at}: set imagePullPolicy (with a :latest tag the default is Always, which cannot use a locally loaded image)`);
      for (const kind of ["requests", "limits"])
        for (const r of ["cpu", "memory"])
          if (c.resources?.[kind]?.[r] === undefined) errs.push(`${at}: resources.${kind}.${r} is required`);
      if (!c.readinessProbe) errs.push(`${at}: readinessProbe is required`);
      if (!c.livenessProbe) errs.push(`${at}: livenessProbe is required`);
      const nonRoot = c.securityContext?.runAsNonRoot ?? pod.spec.securityContext?.runAsNonRoot;
      if (nonRoot !== true) errs.push(`${at}: must run as non-root (securityContext.runAsNonRoot: true)`);
      errs.push(...tokenCheck(c, pod.spec, at));
    }
    if ((pod.spec.containers || []).length === 0) errs.push(`${base}/containers must not be empty`);
  }
  return errs;
}

// A folder applies on its own (`kubectl apply -f FOLDER/`): every PLANNER=http://HOST:PORT that
// a container uses names a Service in the same folder (or, for localhost, a container of the same
// pod) that listens on PORT and selects a pod that declares the target port.
function folderCheck(docs) {
  const errs = [];
  const services = new Map(docs.filter((d) => d.doc.kind === "Service").map((d) => [d.doc.metadata?.name, d]));
  const pods = docs.map((d) => ({ d, pod: podOf(d.doc) })).filter((x) => x.pod && isObj(x.pod.spec));
  const seen = new Map();
  for (const { doc, file } of docs) {
    const key = `${doc.kind}/${doc.metadata?.name}`;
    if (seen.has(key)) errs.push(`${rel(file)}: ${key} is also defined in ${rel(seen.get(key))}`);
    else seen.set(key, file);
  }
  // Two controllers whose selectors overlap fight over the same pods.
  const controllers = docs.filter((d) => d.doc.spec?.selector?.matchLabels && d.doc.spec?.template);
  for (const a of controllers)
    for (const b of controllers)
      if (a !== b && matches(a.doc.spec.selector.matchLabels, b.doc.spec.template.metadata?.labels))
        errs.push(`${rel(a.file)}: the selector of ${a.doc.kind}/${a.doc.metadata.name} also selects the pods of ${b.doc.kind}/${b.doc.metadata.name}`);
  const containerPort = (pod, target) =>
    (pod.spec.containers || []).some((c) => (c.ports || []).some((p) => p.name === target || p.containerPort === Number(target)));
  for (const [name, svc] of services) {
    if (!svc.doc.spec?.selector) continue;
    const selected = pods.filter((x) => matches(svc.doc.spec.selector, x.pod.labels));
    if (selected.length === 0) errs.push(`${rel(svc.file)}: Service/${name} selects no pod of this folder`);
    for (const p of svc.doc.spec?.ports || []) {
      const target = p.targetPort ?? p.port;
      if (selected.length && !selected.some((x) => containerPort(x.pod, target)))
        errs.push(`${rel(svc.file)}: Service/${name} port ${p.port} targets "${target}", which no selected pod declares`);
    }
  }
  // A planner that asks for a join token: every worker of the folder must bring it.
  const joinTokenAsked = pods.some(({ pod }) =>
    (pod.spec.containers || []).some((c) => voloCommand(c).role === "planner" && hasJoinToken(c)));
  for (const { d, pod } of pods) {
    for (const c of pod.spec.containers || []) {
      if (joinTokenAsked && voloCommand(c).role === "worker" && !hasJoinToken(c))
        errs.push(`${rel(d.file)}: ${d.doc.kind}/${d.doc.metadata?.name} container ${c.name}: the planner asks workers for a join token, but this worker gets none (--join-token-file)`);
      for (const e of c.env || []) {
        if (e.name !== "PLANNER" || typeof e.value !== "string") continue;
        let url;
        try {
          url = new URL(e.value);
        } catch {
          errs.push(`${rel(d.file)}: ${d.doc.kind}/${d.doc.metadata?.name} container ${c.name}: PLANNER "${e.value}" is not a URL`);
          continue;
        }
        const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
        const where = `${rel(d.file)}: ${d.doc.kind}/${d.doc.metadata?.name} container ${c.name}: PLANNER ${e.value}`;
        if (url.hostname === "localhost" || url.hostname === "127.0.0.1") {
          if (!containerPort(pod, port)) errs.push(`${where}: no container of the same pod declares port ${port}`);
          continue;
        }
        const svcName = url.hostname.split(".")[0];
        const svc = services.get(svcName);
        if (!svc) {
          errs.push(`${where}: no Service "${svcName}" in this folder`);
          continue;
        }
        if (!(svc.doc.spec?.ports || []).some((p) => p.port === port))
          errs.push(`${where}: Service/${svcName} has no port ${port}`);
      }
    }
  }
  return errs;
}

// ---- one set of files --------------------------------------------------------------------------
// Returns {docs: [{file, doc}], results: [{file, label, errors}]}.
async function validateFiles(files) {
  const docs = [];
  const results = [];
  for (const file of files) {
    const text = fs.readFileSync(file, "utf8");
    const parsed = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
    const list = Array.isArray(parsed) ? parsed : [parsed];
    let n = 0;
    for (const ydoc of list) {
      n++;
      const errors = [...ydoc.errors.map((e) => `YAML: ${e.message}`), ...ydoc.warnings.map((w) => `YAML: ${w.message}`)];
      const doc = errors.length ? null : ydoc.toJS();
      if (doc === null && errors.length === 0) continue; // an empty document (a trailing ---)
      let label = `document ${n}`;
      if (doc !== null) {
        if (!isObj(doc)) errors.push("a manifest must be a mapping");
        else {
          label = `${doc.kind ?? "?"}/${doc.metadata?.name ?? "?"}`;
          if (typeof doc.apiVersion !== "string") errors.push("/apiVersion is required");
          if (typeof doc.kind !== "string") errors.push("/kind is required");
          if (!errors.length) {
            const model = await modelFor(doc.apiVersion, doc.kind);
            if (!model) errors.push(`unknown apiVersion/kind ${doc.apiVersion} ${doc.kind} (no such Kubernetes schema)`);
            else {
              const [schemaErrors, unknown] = schemaCheck(model, doc);
              errors.push(...schemaErrors.map((e) => `schema: ${e}`));
              errors.push(...unknown.map((u) => `schema: ${u} is not a field of ${doc.apiVersion} ${doc.kind}`));
              errors.push(...semanticCheck(doc));
            }
          }
          if (!errors.length) docs.push({ file, doc });
        }
      }
      results.push({ file, label, errors });
    }
    if (n === 0 || list.every((d) => d.contents === null)) results.push({ file, label: "(empty)", errors: ["the file holds no manifest"] });
  }
  // Folder checks once every document of the folder parsed.
  const byDir = new Map();
  for (const d of docs) {
    const dir = path.dirname(d.file);
    if (!byDir.has(dir)) byDir.set(dir, []);
    byDir.get(dir).push(d);
  }
  for (const [dir, list] of byDir) {
    const errors = folderCheck(list);
    results.push({ file: dir, label: "folder applies on its own", errors });
  }
  return { docs, results };
}

// ---- the Containerfile (no engine here to build it: check what can be read) -------------------
function containerfileCheck(file) {
  const errs = [];
  if (!fs.existsSync(file)) return [`${rel(file)} is missing`];
  const lines = fs.readFileSync(file, "utf8").replace(/\\\n/g, " ").split("\n")
    .map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const stages = [];
  const args = new Map();
  for (const l of lines) {
    const [ins, ...rest] = l.split(/\s+/);
    const I = ins.toUpperCase();
    if (I === "ARG" && stages.length === 0) {
      const [k, v] = rest.join(" ").split("=");
      args.set(k, v);
    } else if (I === "FROM") {
      const image = rest[0].replace(/^\$\{(\w+)\}$/, (_, k) => args.get(k) ?? "");
      const as = rest[1]?.toUpperCase() === "AS" ? rest[2] : null;
      stages.push({ image, as, lines: [] });
    } else if (stages.length) stages.at(-1).lines.push([I, rest.join(" ")]);
    if (I !== "FROM" && I !== "ARG" && stages.length === 0) errs.push(`${ins} before the first FROM`);
  }
  if (stages.length < 2) errs.push("must be a multi-stage build (a build stage and a runtime stage)");
  for (const s of stages) if (!/^debian:bookworm/.test(s.image)) errs.push(`FROM ${s.image}: stages must be Debian 12 (debian:bookworm...)`);
  const names = new Set(stages.map((s) => s.as).filter(Boolean));
  for (const s of stages)
    for (const [I, rest] of s.lines) {
      const m = I === "COPY" && rest.match(/--from=(\S+)/);
      if (m && !names.has(m[1])) errs.push(`COPY --from=${m[1]} names no stage`);
    }
  const last = stages.at(-1);
  if (last) {
    const get = (I) => last.lines.filter(([i]) => i === I).map(([, r]) => r);
    const user = get("USER").at(-1);
    if (!user || /^(root|0)(:|$)/.test(user)) errs.push("the runtime stage must end with a non-root USER");
    if (!get("EXPOSE").some((r) => r.split(/\s+/).includes("3000"))) errs.push("the runtime stage must EXPOSE 3000");
    if (!get("COPY").some((r) => /\/usr\/local\/bin\/volo\b/.test(r))) errs.push("the runtime stage must install /usr/local/bin/volo");
    const ep = [...get("ENTRYPOINT"), ...get("CMD")].join(" ");
    if (!ep.includes("volo")) errs.push("ENTRYPOINT/CMD must run volo");
    for (const r of get("RUN"))
      if (/apt-get install/.test(r) && (!/--no-install-recommends/.test(r) || !/rm -rf \/var\/lib\/apt\/lists/.test(r)))
        errs.push("apt-get install in the runtime stage needs --no-install-recommends and rm -rf /var/lib/apt/lists/*");
  }
  for (const s of stages)
    for (const [I, r] of s.lines)
      if (I === "RUN" && /apt-get install/.test(r) && !/-y\b/.test(r)) errs.push("apt-get install needs -y");
  return errs;
}

// ---- run ---------------------------------------------------------------------------------------
let passed = 0;
let failed = 0;
const say = (s) => { if (!opts.quiet) console.log(s); };

if (!fs.existsSync(opts.root)) {
  console.error(`validate.mjs: ${rel(opts.root)} does not exist`);
  process.exit(1);
}
const files = yamlFiles(opts.root);
if (files.length === 0) {
  console.error(`validate.mjs: no .yaml files under ${rel(opts.root)}`);
  process.exit(1);
}
console.log(`== manifests under ${rel(opts.root)} (${files.length} files)`);
const { results } = await validateFiles(files);
for (const r of results) {
  if (r.errors.length === 0) {
    passed++;
    say(`ok   ${rel(r.file)}  ${r.label}`);
  } else {
    failed++;
    console.log(`FAIL ${rel(r.file)}  ${r.label}`);
    for (const e of r.errors) console.log(`       ${e}`);
  }
}

console.log(`== ${rel(opts.containerfile)}`);
{
  const errs = containerfileCheck(opts.containerfile);
  if (errs.length === 0) {
    passed++;
    say(`ok   ${rel(opts.containerfile)}`);
  } else {
    failed++;
    console.log(`FAIL ${rel(opts.containerfile)}`);
    for (const e of errs) console.log(`       ${e}`);
  }
}

// Negative fixtures: each must fail, with the message its `# expect:` lines name.
if (fs.existsSync(opts.fixtures)) {
  const fixtures = yamlFiles(opts.fixtures);
  console.log(`== invalid fixtures under ${rel(opts.fixtures)} (each must be rejected)`);
  if (fixtures.length === 0) {
    failed++;
    console.log(`FAIL ${rel(opts.fixtures)} holds no fixture`);
  }
  for (const f of fixtures) {
    const expects = [...fs.readFileSync(f, "utf8").matchAll(/^#\s*expect:\s*(.+?)\s*$/gm)].map((m) => m[1]);
    const { results: fr } = await validateFiles([f]);
    const errors = fr.flatMap((r) => r.errors);
    const missing = expects.filter((x) => !errors.some((e) => e.includes(x)));
    if (expects.length === 0) {
      failed++;
      console.log(`FAIL ${rel(f)}: a fixture needs at least one '# expect: <part of the error>' line`);
    } else if (errors.length === 0) {
      failed++;
      console.log(`FAIL ${rel(f)} was accepted, but it is invalid (expected: ${expects.join("; ")})`);
    } else if (missing.length) {
      failed++;
      console.log(`FAIL ${rel(f)} was rejected, but not for the expected reason`);
      for (const m of missing) console.log(`       expected an error containing: ${m}`);
      for (const e of errors) console.log(`       got: ${e}`);
    } else {
      passed++;
      say(`ok   ${rel(f)} rejected: ${errors[0]}${errors.length > 1 ? ` (+${errors.length - 1} more)` : ""}`);
    }
  }
}

// Negative Containerfile fixtures (*.Containerfile): each must fail with its `# expect:` messages.
if (fs.existsSync(opts.fixtures)) {
  for (const f of fs.readdirSync(opts.fixtures).filter((n) => n.endsWith(".Containerfile")).sort()) {
    const file = path.join(opts.fixtures, f);
    const expects = [...fs.readFileSync(file, "utf8").matchAll(/^#\s*expect:\s*(.+?)\s*$/gm)].map((m) => m[1]);
    const errors = containerfileCheck(file);
    const missing = expects.filter((x) => !errors.some((e) => e.includes(x)));
    if (expects.length && errors.length && !missing.length) {
      passed++;
      say(`ok   ${rel(file)} rejected: ${errors.join("; ")}`);
    } else {
      failed++;
      console.log(`FAIL ${rel(file)}: expected errors containing: ${expects.join("; ") || "(no '# expect:' line)"}`);
      for (const e of errors) console.log(`       got: ${e}`);
    }
  }
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
