// Builds the playground's static site:
//   node build.mjs --node-modules DIR --wasm DIR --examples DIR --out DIR
//   DIR/index.html, style.css, app.js (page + CodeMirror), worker.js (the interpreter's Web
//   Worker), fly.js + fly.wasm and the threaded fly-mt.js + fly-mt.wasm + fly-mt.worker.js
//   (from --wasm), examples/*.fly + examples/data/* and
//   examples/index.json (the example list and the data files they read).
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
for (const k of ["wasm", "examples", "out"]) {
  if (!args[k]) {
    console.error(`build.mjs: --${k} DIR is required`);
    process.exit(2);
  }
}
const modules = args["node-modules"] ?? join(here, "node_modules");
const esbuild = await import(join(modules, "esbuild", "lib", "main.js"));
const build = esbuild.build ?? esbuild.default.build;
const out = args.out;
mkdirSync(join(out, "examples", "data"), { recursive: true });

const common = { nodePaths: [modules], bundle: true, minify: true, target: "es2020", logLevel: "warning", legalComments: "none" };
await build({ ...common, entryPoints: [join(here, "src/main.ts")], outfile: join(out, "app.js"), format: "iife" });
await build({ ...common, entryPoints: [join(here, "src/worker.ts")], outfile: join(out, "worker.js"), format: "iife" });
for (const f of ["index.html", "style.css"]) copyFileSync(join(here, f), join(out, f));
for (const f of ["fly.js", "fly.wasm", "fly-mt.js", "fly-mt.wasm", "fly-mt.worker.js"]) {
  copyFileSync(join(args.wasm, f), join(out, f));
}

// The examples: every examples/*.fly, pi first; its title is the first comment line.
const examples = [];
for (const f of readdirSync(args.examples).filter((f) => f.endsWith(".fly")).sort()) {
  const text = readFileSync(join(args.examples, f), "utf8");
  copyFileSync(join(args.examples, f), join(out, "examples", f));
  const first = /^\/\/\s*(.*)$/m.exec(text);
  examples.push({ name: f.replace(/\.fly$/, ""), file: f, title: first ? first[1] : f });
}
examples.sort((a, b) => (a.name === "pi" ? -1 : b.name === "pi" ? 1 : a.name.localeCompare(b.name)));
const data = [];
for (const f of readdirSync(join(args.examples, "data")).sort()) {
  copyFileSync(join(args.examples, "data", f), join(out, "examples", "data", f));
  data.push(`data/${f}`);
}
writeFileSync(join(out, "examples", "index.json"), JSON.stringify({ examples, data }, null, 1) + "\n");
