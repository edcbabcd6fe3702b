// The dashboard's only way out: the durable management API and the host's /admin endpoints.
// Paths are relative to the page (/runtime/dashboard/), so a reverse proxy that mounts the
// host under a prefix keeps working.
//
// The key (when the host enforces keys) lives in sessionStorage: it lasts as long as the tab,
// is never written to localStorage or a cookie, and travels only in the x-functions-key
// header, never in a URL (URLs end up in logs, history and Referer headers).

const KEY_ITEM = "funcpy.dashboard.key";
const DURABLE = new URL("../webhooks/durabletask/", location.href).pathname;
const ADMIN = new URL("../../admin/", location.href).pathname;

export class ApiError extends Error {
  // kind: "auth" (401), "unavailable" (503: the store is busy or unreachable), "network"
  // (no answer at all) or "http" (any other refusal: the message is the API's reason).
  constructor(status, message, kind) {
    super(message);
    this.status = status;
    this.kind = kind;
  }
}

export const key = {
  get: () => sessionStorage.getItem(KEY_ITEM) || "",
  set: (value) => sessionStorage.setItem(KEY_ITEM, value),
  clear: () => sessionStorage.removeItem(KEY_ITEM),
};

// Health of the last answer, for the banner: listeners get (problem | null).
const listeners = new Set();
export function onHealth(fn) { listeners.add(fn); }
function health(problem) { for (const fn of listeners) fn(problem); }

function reasonOf(data, text, status) {
  if (data && typeof data === "object") {
    const reason = data.Message || data.ExceptionMessage || data.error || data.reason;
    if (reason) return String(reason);
  }
  if (text && text.length < 500) return text;
  return status === 404 ? "not found" : `the host answered ${status}`;
}

async function call(path, { method = "GET", params, body, headers = {} } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const h = { Accept: "application/json", ...headers };
  const stored = key.get();
  if (stored) h["x-functions-key"] = stored;
  let response;
  try {
    response = await fetch(url.pathname + url.search, { method, headers: h, body,
                                                        cache: "no-store" });
  } catch (err) {
    const problem = "The host does not answer (stopped, or the network is down). The page "
      + "retries on its own.";
    health(problem);
    throw new ApiError(0, problem, "network");
  }
  const text = await response.text();
  let data = null;
  if (text && (response.headers.get("content-type") || "").includes("json")) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (response.status === 401) {
    throw new ApiError(401, reasonOf(data, text, 401), "auth");
  }
  if (response.status === 503 || response.status === 502 || response.status === 504) {
    const reason = reasonOf(data, text, response.status);
    health(`The task hub store does not answer: ${reason}`);
    throw new ApiError(response.status, reason, "unavailable");
  }
  health(null);
  if (!response.ok) {
    throw new ApiError(response.status, reasonOf(data, text, response.status), "http");
  }
  return { status: response.status, data, headers: response.headers };
}

// The API treats a JSON string whose content is JSON text as that text (the SDK's double
// encoding), so a value is sent double-encoded: what the user typed is stored exactly, even
// a string that happens to look like JSON.
function jsonBody(value) {
  return value === undefined ? undefined : JSON.stringify(JSON.stringify(value));
}
const JSON_HEADERS = { "Content-Type": "application/json" };
const seg = encodeURIComponent;

export const api = {
  hostStatus: () => call(`${ADMIN}host/status`).then((r) => r.data),
  functions: () => call(`${ADMIN}functions`).then((r) => r.data),
  // Instances by status under the list's filters: { counts: {status: n}, total } (one query).
  counts: (query) => call(`${ADMIN}taskhub/counts`, { params: query }).then((r) => r.data),
  // What a running instance has scheduled and not seen finish ([] once it is gone).
  pending: (id) => call(`${ADMIN}taskhub/instances/${seg(id)}/pending`)
    .then((r) => r.data.pending || [], (err) => { if (err.status === 404) return []; throw err; }),

  // One page of instances: { rows, token } (token: the next page's, or null).
  async instances(query, token) {
    const r = await call(`${DURABLE}instances`, {
      params: query, headers: token ? { "x-ms-continuation-token": token } : {},
    });
    return { rows: r.data || [], token: r.headers.get("x-ms-continuation-token") };
  },
  async instance(id) {
    try {
      const r = await call(`${DURABLE}instances/${seg(id)}`, {
        params: { showHistory: "true", showHistoryOutput: "true", showInput: "true" },
      });
      return r.data;
    } catch (err) {
      if (err.status === 404) return null;
      throw err;
    }
  },
  start: (name, id, input) => call(
    `${DURABLE}orchestrators/${seg(name)}${id ? `/${seg(id)}` : ""}`,
    { method: "POST", body: jsonBody(input), headers: JSON_HEADERS }).then((r) => r.data),
  operation: (id, op, params) => call(`${DURABLE}instances/${seg(id)}/${op}`,
    { method: "POST", params }),
  raiseEvent: (id, name, payload) => call(
    `${DURABLE}instances/${seg(id)}/raiseEvent/${seg(name)}`,
    { method: "POST", body: jsonBody(payload === undefined ? null : payload),
      headers: JSON_HEADERS }),
  purge: (id) => call(`${DURABLE}instances/${seg(id)}`, { method: "DELETE" })
    .then((r) => r.data),

  async entities(name, token, top) {
    const path = name ? `${DURABLE}entities/${seg(name)}` : `${DURABLE}entities`;
    const r = await call(path, {
      params: { fetchState: "true", top },
      headers: token ? { "x-ms-continuation-token": token } : {},
    });
    return { rows: r.data || [], token: r.headers.get("x-ms-continuation-token") };
  },
  async entity(name, entityKey) {
    try {
      const r = await call(`${DURABLE}entities/${seg(name)}/${seg(entityKey || "$")}`);
      return { exists: true, state: r.data };
    } catch (err) {
      if (err.status === 404) return { exists: false, state: null };
      throw err;
    }
  },
  signal: (name, entityKey, op, input) => call(
    `${DURABLE}entities/${seg(name)}/${seg(entityKey || "$")}`,
    { method: "POST", params: { op }, body: jsonBody(input), headers: JSON_HEADERS }),
};
