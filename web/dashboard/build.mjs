// Bundles the dashboard into $VOLO_WEB_OUT (default dist/): index.html, assets/app.js and
// assets/app.css. Run by CMake through `npm run build` (cmake/VoloWeb.cmake).
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const out = process.env.VOLO_WEB_OUT || "dist";
mkdirSync(join(out, "assets"), { recursive: true });
await build({
  entryPoints: { app: "src/main.ts" },
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  outdir: join(out, "assets"),
  legalComments: "none",
  logLevel: "warning",
});
copyFileSync("index.html", join(out, "index.html"));
