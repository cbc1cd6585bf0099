// The signaling server's JSON API, and the login token kept in localStorage.

const TOKEN_KEY = "vt.token";

/** An API call that failed; `status` is 0 when the server could not be reached. */
export class ApiError extends Error {
  constructor(status, code, message, { retryAfter = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** The stored login token, or null when there is none or it has expired. */
export function loadToken(now = Date.now()) {
  try {
    const saved = JSON.parse(localStorage.getItem(TOKEN_KEY) || "null");
    if (saved && typeof saved.token === "string" && saved.expiresAt > now) return saved;
  } catch {
    // A malformed entry is treated like no entry, and replaced at the next login.
  }
  return null;
}

/** True when a token was stored but its time has passed (as opposed to never logged in). */
export function tokenExpired(now = Date.now()) {
  const raw = localStorage.getItem(TOKEN_KEY);
  return raw !== null && loadToken(now) === null;
}

function saveToken(token, expiresInSeconds) {
  const entry = { token, expiresAt: Date.now() + expiresInSeconds * 1000 };
  localStorage.setItem(TOKEN_KEY, JSON.stringify(entry));
  return entry;
}

export function clearToken() {
  localStorage.removeItem(TOKEN_KEY);
}

async function errorFrom(response) {
  let code = "error";
  let message = response.statusText || `HTTP ${response.status}`;
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch {
    // Not a JSON body (a proxy's error page): keep the status text.
  }
  const retry = Number.parseInt(response.headers.get("Retry-After") || "", 10);
  return new ApiError(response.status, code, message, {
    retryAfter: Number.isFinite(retry) ? retry : null,
  });
}

/**
 * Calls the API with the stored token. Any 401 on an authenticated call is reported once through
 * `onUnauthorized` (the app returns to the login page) and rethrown.
 */
export class ApiClient {
  constructor({ baseUrl = "", onUnauthorized = () => {} } = {}) {
    this.baseUrl = baseUrl;
    this.onUnauthorized = onUnauthorized;
  }

  get loggedIn() {
    return loadToken() !== null;
  }

  async login(email, password) {
    const body = await this.request("POST", "/api/auth/login", {
      body: { email, password },
      auth: false,
    });
    return saveToken(body.access_token, Number(body.expires_in) || 0);
  }

  logout() {
    clearToken();
  }

  /** Keep the fresh token an answer carries (a password change ends every older token). */
  adoptToken(body) {
    if (body && typeof body.access_token === "string") {
      saveToken(body.access_token, Number(body.expires_in) || 0);
    }
  }

  me() {
    return this.request("GET", "/api/auth/me");
  }

  tutors() {
    return this.request("GET", "/api/tutors");
  }

  startSession(tutorId) {
    return this.request("POST", "/api/student/sessions", { body: { tutor_id: tutorId } });
  }

  sessions() {
    return this.request("GET", "/api/student/sessions");
  }

  session(sessionId) {
    return this.request("GET", `/api/student/sessions/${encodeURIComponent(sessionId)}`);
  }

  /** `keepalive` lets the request finish after the page is closed. */
  endSession(sessionId, { keepalive = false } = {}) {
    const path = `/api/student/sessions/${encodeURIComponent(sessionId)}/end`;
    return this.request("POST", path, { keepalive });
  }

  /**
   * `form`: a FormData body (multipart, for uploads) instead of JSON; `text`: a plain body
   * of `contentType` (a CSV). `raw`: return the Response itself (audio, CSV) once it is ok.
   */
  async request(
    method,
    path,
    {
      body,
      form,
      text,
      contentType = "text/plain",
      auth = true,
      keepalive = false,
      raw = false,
      // A 401 that means "wrong current password" rather than "logged out" keeps the session.
      expires = true,
    } = {},
  ) {
    const headers = { Accept: raw ? "*/*" : "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (text !== undefined) headers["Content-Type"] = contentType;
    if (auth) {
      const saved = loadToken();
      if (!saved) {
        this.onUnauthorized();
        throw new ApiError(401, "unauthorized", "not logged in");
      }
      headers.Authorization = `Bearer ${saved.token}`;
    }
    let response;
    try {
      response = await fetch(this.baseUrl + path, {
        method,
        headers,
        body: form ?? text ?? (body === undefined ? undefined : JSON.stringify(body)),
        keepalive,
      });
    } catch (cause) {
      throw new ApiError(0, "network", cause.message || "network error");
    }
    if (!response.ok) {
      const error = await errorFrom(response);
      if (auth && expires && response.status === 401) {
        clearToken();
        this.onUnauthorized();
      }
      throw error;
    }
    if (raw) return response;
    if (response.status === 204) return null;
    return response.json();
  }
}
