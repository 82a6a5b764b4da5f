// A few DOM helpers: the dashboard has no framework, only these.
type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | ((e: Event) => void) | undefined>;

export function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (k === "class") el.className = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
  }
}

export function clear(el: Node): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

// Sets a node's text only when it changed (keeps selections and avoids layout work).
export function setText(el: Node, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

// A view's refresh: runs `load` now and again `ms` after each run ends, until the function it
// returns (the view's cleanup) is called or `load` returns false (nothing left to follow).
// `load` checks `stopped()` after each await; what it throws is shown in `info`.
export function refreshEvery(ms: number, info: Node, load: (stopped: () => boolean) => Promise<void | boolean>): () => void {
  let stopped = false;
  let timer = 0;
  async function run() {
    let again = true;
    try {
      again = (await load(() => stopped)) !== false;
    } catch (e) {
      setText(info, (e as Error).message);
    }
    if (!stopped && again) timer = window.setTimeout(run, ms);
  }
  run();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// A table body whose rows are kept by key: rows are added, updated in place or removed, so a
// button in a row stays the same element while the data under it changes.
export class KeyedRows<T> {
  private rows = new Map<string, { tr: HTMLTableRowElement; cells: HTMLTableCellElement[] }>();
  constructor(
    readonly tbody: HTMLElement,
    private key: (t: T) => string,
    private cells: (t: T) => Child[],
    private decorate?: (tr: HTMLTableRowElement, t: T) => void,
  ) {}
  update(items: T[]): void {
    const seen = new Set<string>();
    let prev: HTMLTableRowElement | null = null;
    for (const item of items) {
      const k = this.key(item);
      seen.add(k);
      let row = this.rows.get(k);
      const values = this.cells(item);
      if (!row) {
        const tr = document.createElement("tr");
        tr.dataset.key = k;
        row = { tr, cells: values.map(() => document.createElement("td")) };
        row.cells.forEach((td) => tr.appendChild(td));
        this.rows.set(k, row);
      }
      values.forEach((v, i) => {
        const td = row!.cells[i];
        if (v instanceof Node) {
          if (td.firstChild !== v) {
            if (!(td.firstChild instanceof HTMLElement && td.firstChild.dataset.keep === "1")) {
              clear(td);
              td.appendChild(v);
            }
          }
        } else {
          setText(td, v === null || v === undefined || v === false ? "" : String(v));
        }
      });
      if (this.decorate) this.decorate(row.tr, item);
      const want: ChildNode | null = prev ? prev.nextSibling : this.tbody.firstChild;
      if (want !== row.tr) this.tbody.insertBefore(row.tr, want);
      prev = row.tr;
    }
    for (const [k, row] of this.rows) {
      if (!seen.has(k)) {
        row.tr.remove();
        this.rows.delete(k);
      }
    }
  }
}

export function fmtTime(unix?: number): string {
  if (!unix) return "";
  const d = new Date(unix * 1000);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

export function fmtSeconds(s?: number): string {
  if (s === undefined || s === null || !isFinite(s)) return "";
  if (s < 1e-3) return (s * 1e6).toFixed(0) + " µs";
  if (s < 1) return (s * 1e3).toFixed(s < 0.01 ? 2 : 1) + " ms";
  if (s < 120) return s.toFixed(2) + " s";
  if (s < 7200) return (s / 60).toFixed(1) + " min";
  return (s / 3600).toFixed(1) + " h";
}

export function fmtCount(n: number): string {
  if (n >= 1e6) return (n / 1e6).toFixed(n >= 1e7 ? 0 : 1) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(0) + "k";
  return String(Math.round(n));
}

// A stable colour per operation name.
export function opColour(op: string): string {
  let x = 2166136261;
  for (let i = 0; i < op.length; i++) x = Math.imul(x ^ op.charCodeAt(i), 16777619);
  const hue = ((x >>> 0) % 360);
  return `hsl(${hue} 62% 52%)`;
}
