// Talking to the planner: fetch with the session's CSRF token on actions, and the login.
let csrf = "";
let onUnauthorized: (message: string) => void = () => {};

export function setCsrf(token: string): void {
  csrf = token;
}
export function whenUnauthorized(fn: (message: string) => void): void {
  onUnauthorized = fn;
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (method !== "GET" && csrf) headers["X-Volo-CSRF"] = csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const text = await r.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!r.ok) {
    const message = data && typeof data === "object" && data.error ? data.error : `HTTP ${r.status}`;
    if (r.status === 401) onUnauthorized(message);
    throw new ApiError(r.status, message);
  }
  return data as T;
}

export async function text(path: string): Promise<{ status: number; body: string }> {
  const r = await fetch(path, { credentials: "same-origin" });
  return { status: r.status, body: await r.text() };
}

export interface SessionInfo {
  token_required: boolean;
  authenticated: boolean;
  csrf?: string;
}
