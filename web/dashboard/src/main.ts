// The volo dashboard: the page shell, the login when the planner has an API token, and the
// views (docs/dashboard.md).
import "./style.css";
import { api, ApiError, SessionInfo, setCsrf, whenUnauthorized } from "./api";
import { feed } from "./feed";
import { h } from "./dom";
import { link, route, startRouter } from "./router";
import { overview } from "./views/overview";
import { task, tasks } from "./views/tasks";
import { stream } from "./views/stream";
import { fly } from "./views/fly";
import { run, runs } from "./views/runs";
import { fn, functions } from "./views/functions";

const app = document.getElementById("app")!;

function login(message = ""): void {
  // Already asking (views still polling get 401s too): keep what is being typed.
  const shown = document.getElementById("login-error");
  if (shown) {
    if (message) shown.textContent = message;
    return;
  }
  const input = h("input", { type: "password", id: "token", placeholder: "API token", autocomplete: "current-password" }) as HTMLInputElement;
  // A password field wants a user name beside it (for password managers); the token has none.
  const user = h("input", { type: "text", name: "username", autocomplete: "username", value: "volo", hidden: true });
  const error = h("p", { class: "error", id: "login-error" }, message);
  const form = h("form", {
    class: "login",
    id: "login",
    onsubmit: async (e: Event) => {
      e.preventDefault();
      error.textContent = "";
      try {
        const r = await api<{ csrf: string }>("POST", "/api/v1/session", { token: input.value });
        setCsrf(r.csrf ?? "");
        start(true);
      } catch (err) {
        error.textContent = err instanceof ApiError ? err.message : String(err);
        input.select();
      }
    },
  },
  h("h1", {}, "volo"),
  h("p", {}, "This planner asks for its API token (the contents of its --token-file). The page keeps a session; the token is not stored."),
  user,
  input,
  h("button", { type: "submit", id: "login-button" }, "Log in"),
  error);
  app.replaceChildren(form);
  input.focus();
}

let started = false;
function start(withSession: boolean): void {
  const status = h("span", { class: "live", id: "live" }, "connecting…");
  feed.onStatus((up) => {
    status.textContent = up ? "live" : "reconnecting…";
    status.className = up ? "live up" : "live";
  });
  const logout = withSession
    ? h("button", {
        class: "small",
        id: "logout",
        onclick: async () => {
          await api("DELETE", "/api/v1/session").catch(() => {});
          location.reload();
        },
      }, "Log out")
    : null;
  const main = h("main", {});
  const nav = h("nav", {},
    link("/", "Overview"), link("/tasks", "Tasks"), link("/stream", "Task stream"),
    link("/fly", "FLY runs"), link("/runs", "Workflow runs"), link("/functions", "Functions"));
  app.replaceChildren(h("header", {}, h("b", { class: "brand" }, "volo"), nav, status, logout), main);
  // The FLY playground the planner serves beside the dashboard (a page of its own), when this
  // volo was built with it.
  fetch("/playground/", { method: "HEAD" })
    .then((r) => r.ok && nav.append(h("a", { href: "/playground/", id: "playground-link", title: "FLY in the browser; Run on this fleet sends its flies here" }, "Playground")))
    .catch(() => undefined);
  if (!started) {
    started = true;
    route(/^\/$/, overview);
    route(/^\/tasks\/?$/, tasks);
    route(/^\/tasks\/(\d+)$/, task);
    route(/^\/stream\/?$/, stream);
    route(/^\/fly\/?$/, fly);
    route(/^\/runs\/?$/, runs);
    route(/^\/runs\/(\d+)$/, run);
    route(/^\/functions\/?$/, functions);
    route(/^\/functions\/([^/]+)$/, fn);
    // The bench (bench/dashboard) reads when the first live data was on the page.
    const off = feed.on(() => {
      requestAnimationFrame(() => performance.mark("volo-first-data"));
      setTimeout(() => off(), 0);
    });
    feed.start();
    startRouter(main);
  } else {
    // Logged in again (the session had ended): the views draw into the new page body.
    feed.start();
    startRouter(main);
  }
}

async function boot(): Promise<void> {
  whenUnauthorized((message) => login(message));
  feed.whenRefused(async () => {
    const s = await api<SessionInfo>("GET", "/api/v1/session");
    if (!s.token_required || s.authenticated) return true;
    login("The planner restarted or the session ended: log in again.");
    return false;
  });
  try {
    const s = await api<SessionInfo>("GET", "/api/v1/session");
    if (s.csrf) setCsrf(s.csrf);
    if (s.token_required && !s.authenticated) login();
    else start(s.token_required);
  } catch (e) {
    app.replaceChildren(h("p", { class: "error" }, `The planner did not answer: ${(e as Error).message}`));
  }
}

boot();
