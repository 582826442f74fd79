// The gateway's HTTP JSON API (docs/gateway-api.md): POST api/dispatch/{Method} with proto3
// JSON, GET the task's audio, POST api/quality/linguists. Paths are relative so the page works
// under any prefix the gateway is mounted at.
//
// Every failure becomes an ApiError {code, message}: the gateway's own {code, message} body for a
// refusal, code "NETWORK" when nothing answered. Callers branch on the code, never on HTTP status.

/** HTTP statuses the gateway answers for gRPC codes, for bodies that are not its JSON. */
const CODE_OF_STATUS = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ABORTED",
  412: "FAILED_PRECONDITION",
  429: "RESOURCE_EXHAUSTED",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

/** The codes that mean "the connection, not the request": the work is kept and retried. */
export const OFFLINE_CODES = new Set(["NETWORK", "UNAVAILABLE"]);

export class ApiError extends Error {
  constructor(code, message, status = 0) {
    super(`${code}: ${message}`);
    this.code = code;
    this.detail = message;
    this.status = status;
  }

  /** As the page shows a refusal: `CODE: message`. */
  get text() {
    return `${this.code}: ${this.detail}`;
  }

  get offline() {
    return OFFLINE_CODES.has(this.code);
  }
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    /* not the gateway's JSON (a proxy's page): fall back to the status */
  }
  const code = body?.code || CODE_OF_STATUS[response.status] || "INTERNAL";
  const message = body?.message || response.statusText || `HTTP ${response.status}`;
  return new ApiError(code, message, response.status);
}

/**
 * A client bound to the stored token.
 * @param {{token: () => string, onOnline?: () => void, onOffline?: (e: ApiError) => void,
 *          onUnauthenticated?: (e: ApiError) => void}} hooks
 *   onOffline/onOnline keep the connection indicator true to the last call;
 *   onUnauthenticated lets the page go back to the login screen on an expired or revoked token.
 */
export function createApi(hooks) {
  /** `ownService`: an UNAVAILABLE here is the quality service's, not the connection's. */
  async function request(path, init, ownService = false) {
    let response;
    try {
      response = await fetch(path, {
        ...init,
        cache: "no-store",
        headers: { Authorization: `Bearer ${hooks.token()}`, ...(init.headers || {}) },
      });
    } catch (exc) {
      const error = new ApiError("NETWORK", `the gateway cannot be reached (${exc.message || exc})`);
      hooks.onOffline?.(error);
      throw error;
    }
    if (!response.ok) {
      const error = await errorOf(response);
      if (error.code === "UNAUTHENTICATED") hooks.onUnauthenticated?.(error);
      else if (error.offline && !ownService) hooks.onOffline?.(error);
      else hooks.onOnline?.();
      throw error;
    }
    hooks.onOnline?.();
    return response;
  }

  async function json(path, body, ownService = false) {
    const init = { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body ?? {}) };
    const response = await request(path, init, ownService);
    const text = await response.text();
    return text ? JSON.parse(text) : {};
  }

  return {
    /** One unary dispatch call; the answer is the response message as proto3 JSON. */
    call: (method, body = {}) => json(`api/dispatch/${encodeURIComponent(method)}`, body),

    /** The quality service's linguist figures (QA leads and admins). */
    linguists: (body = {}) => json("api/quality/linguists", body, true),

    /**
     * The task's audio span as a WAV blob, with the recording times of its first and last sample
     * (X-Audio-Start-S / X-Audio-End-S) that map audio time onto word times.
     */
    async audio(taskId, contextS) {
      const path = `api/dispatch/tasks/${encodeURIComponent(taskId)}/audio?context_s=${contextS}`;
      const response = await request(path, { method: "GET" });
      const blob = await response.blob();
      const startS = parseFloat(response.headers.get("X-Audio-Start-S") || "0") || 0;
      const endS = parseFloat(response.headers.get("X-Audio-End-S") || "NaN");
      return { blob, startS, endS };
    },
  };
}
