// Client-side routes over the History API; the planner serves index.html for each.
import { h } from "./dom";

type View = (root: HTMLElement, params: string[]) => (() => void) | void;
const routes: [RegExp, View][] = [];
let current: (() => void) | void;
let root: HTMLElement;

export function route(pattern: RegExp, view: View): void {
  routes.push([pattern, view]);
}

export function navigate(path: string): void {
  history.pushState(null, "", path);
  render();
}

export function link(path: string, text: string, cls = ""): HTMLElement {
  return h("a", {
    href: path,
    class: cls,
    onclick: (e: Event) => {
      const me = e as MouseEvent;
      if (me.ctrlKey || me.metaKey || me.shiftKey || me.button !== 0) return;
      e.preventDefault();
      navigate(path);
    },
  }, text);
}

export function render(): void {
  if (current) current();
  current = undefined;
  root.replaceChildren();
  const path = location.pathname;
  for (const [re, view] of routes) {
    const m = re.exec(path);
    if (m) {
      current = view(root, m.slice(1));
      for (const a of document.querySelectorAll("nav a")) {
        const href = a.getAttribute("href") ?? "";
        a.classList.toggle("active", href === "/" ? path === "/" : path.startsWith(href));
      }
      return;
    }
  }
  root.append(h("p", {}, `Nothing at ${path}.`));
}

let listening = false;
// Draws the current path's view into `el` (again after a new login, into the new page body).
export function startRouter(el: HTMLElement): void {
  root = el;
  if (!listening) window.addEventListener("popstate", render);
  listening = true;
  render();
}
