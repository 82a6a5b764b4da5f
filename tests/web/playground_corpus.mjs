// The FLY corpus (tests/fly/**/*.fly) through the playground's interpreter: fly.js + fly.wasm,
// the WebAssembly build the browser runs, here in Node. Each file's expectations are the ones
// tests/fly/corpus_test.cc checks natively (its header lists them); the corpus tree is copied
// into the module's in-memory file system at the same absolute path, so programs that read
// files find them. A failure prints the file, what differed, and the program's output.
//
//   node tests/web/playground_corpus.mjs WASM_DIR [CORPUS_DIR...]
//
// By default the corpus is tests/fly plus tests/web/playground_corpus, which holds the cases
// that only the playground's one-thread smp shows (native volo runs them differently).
//
// What the playground cannot do by design is skipped and counted, never hidden: --timeout
// (the page's Stop ends a program instead) and --max-memory (the tab's limit is fixed).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative, resolve } from "node:path";

const [wasmArg, ...corpusArgs] = process.argv.slice(2);
if (!wasmArg) {
  console.error("usage: node playground_corpus.mjs WASM_DIR [CORPUS_DIR]");
  process.exit(2);
}
const wasmDir = resolve(wasmArg);
const here = new URL(".", import.meta.url).pathname;
const corpora = corpusArgs.length > 0 ? corpusArgs
  : [join(here, "..", "fly"), join(here, "playground_corpus")];

function walk(dir, out = []) {
  for (const e of readdirSync(dir).sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

function expectations(source) {
  const x = { out: [], compile: [], runtime: [], stderr: [], exit: -1, args: [] };
  for (const line of source.split("\n")) {
    let m;
    if ((m = /\/\/ expect: (.*)$/.exec(line))) x.out.push({ text: m[1], regex: false });
    else if (/\/\/ expect:$/.test(line)) x.out.push({ text: "", regex: false });
    else if ((m = /\/\/ expect-regex: (.*)$/.exec(line))) x.out.push({ text: m[1], regex: true });
    else if ((m = /\/\/ expect-error: (.*)$/.exec(line))) x.compile.push(m[1]);
    else if ((m = /\/\/ expect-runtime-error: (.*)$/.exec(line))) x.runtime.push(m[1]);
    else if ((m = /\/\/ expect-stderr: (.*)$/.exec(line))) x.stderr.push(m[1]);
    else if ((m = /\/\/ expect-exit: (.*)$/.exec(line))) x.exit = Number(m[1]);
    else if ((m = /\/\/ args: (.*)$/.exec(line))) x.args.push(...m[1].trim().split(/\s+/));
  }
  if (x.exit < 0) x.exit = x.compile.length === 0 && x.runtime.length === 0 ? 0 : 1;
  return x;
}

const require = createRequire(import.meta.url);
const createFlyModule = require(join(wasmDir, "fly.js"));
let out = "", err = "";
const module = await createFlyModule({
  wasmBinary: readFileSync(join(wasmDir, "fly.wasm")),
  onOutput: (stream, text) => {
    if (stream === 1) out += text;
    else err += text;
  },
});

const all = corpora.flatMap((c) => walk(c).map((f) => ({ corpus: c, f })));
for (const { f } of all) {
  const dir = f.substring(0, f.lastIndexOf("/"));
  module.FS.mkdirTree(dir);
  module.FS.writeFile(f, readFileSync(f));
}

let passed = 0, failed = 0;
const skipped = [];
for (const { corpus, f } of all.filter((e) => e.f.endsWith(".fly"))) {
  const name = relative(join(corpus, ".."), f);
  const source = readFileSync(f, "utf8");
  const x = expectations(source);
  if (x.args.includes("--timeout") || x.args.includes("--max-memory")) {
    skipped.push(`${name}: ${x.args.includes("--timeout") ? "--timeout" : "--max-memory"}`);
    continue;
  }
  const bindings = [];
  let seed = "";
  for (let k = 0; k < x.args.length; ++k) {
    if (x.args[k] === "--env") bindings.push(x.args[++k]);
    else if (x.args[k] === "--seed") seed = x.args[++k];
  }
  out = "";
  err = "";
  const code = module.ccall("volo_playground_run", "number",
                            ["string", "string", "string", "string", "string", "string"],
                            [f, source, bindings.join("\n"), seed, "", ""]);
  const problems = [];
  if (code !== x.exit) problems.push(`exit ${code}, expected ${x.exit}`);
  for (const e of x.compile) if (!err.includes(`${f}:${e}`)) problems.push(`missing compile error '${e}'`);
  if (x.compile.length > 0) {
    const reported = err.split("\n").filter((l) => l.startsWith(`${f}:`) && !l.includes(": warning: ")).length;
    if (reported !== x.compile.length) problems.push(`${reported} errors reported, expected ${x.compile.length}`);
  }
  for (const e of x.runtime) if (!err.includes(e)) problems.push(`missing runtime error '${e}'`);
  for (const e of x.stderr) if (!err.includes(e)) problems.push(`missing on stderr '${e}'`);
  const lines = out.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  if (lines.length !== x.out.length) {
    problems.push(`${lines.length} lines of output, expected ${x.out.length}`);
  } else {
    x.out.forEach((e, k) => {
      const ok = e.regex ? new RegExp(`^(?:${e.text})$`).test(lines[k]) : lines[k] === e.text;
      if (!ok) problems.push(`line ${k + 1}: '${lines[k]}', expected ${e.regex ? "/" + e.text + "/" : "'" + e.text + "'"}`);
    });
  }
  if (problems.length === 0) {
    ++passed;
  } else {
    ++failed;
    console.log(`FAIL ${name}\n  ${problems.join("\n  ")}\n--- stdout ---\n${out}--- stderr ---\n${err}`);
  }
}
console.log(`${passed} passed, ${failed} failed, ${skipped.length} skipped`);
for (const s of skipped) console.log(`  skipped ${s}`);
process.exit(failed === 0 ? 0 : 1);
