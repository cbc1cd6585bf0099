// The client's entry point: routes between views, owns the API client, the header and the
// `window.__tutor` hook that browser tests read.

import { ApiClient, loadToken, tokenExpired } from "./api.js";
import { AudioMeter } from "./audio-meter.js";
import { h, retranslate } from "./dom.js";
import {
  formatDateTime,
  formatTime,
  LANGUAGES,
  language,
  locale,
  onLanguageChange,
  setLanguage,
  t,
  translate,
} from "./i18n.js";
import { openPasswordDialog } from "./password-dialog.js";
import { renderCall } from "./views/call.js";
import { isStaff, renderConsole } from "./views/console.js";
import { renderHistory, renderTranscript } from "./views/history.js";
import { renderLogin } from "./views/login.js";
import { renderTutors } from "./views/tutors.js";

class App {
  constructor() {
    this.main = document.getElementById("main");
    this.nav = document.getElementById("nav");
    this.user = document.getElementById("user");
    this.api = new ApiClient({ onUnauthorized: () => this.sessionExpired() });
    this.me = null;
    this.activeCall = null;
    this.call = null;
    this.audioContext = null;
    this.meter = null;
    this.activity = null;
    this.captions = null;
    this.eventCounts = {};
    this.cleanup = null;
    this.loginNotice = null;
    this.expiryTimer = null;
    this.t = t;
  }

  start() {
    this.setupLanguage();
    document.getElementById("logout").addEventListener("click", () => this.logout());
    const password = document.getElementById("change-password");
    password.addEventListener("click", () => openPasswordDialog(this, password));
    // The skip link moves focus itself: following "#main" would leave the view's route.
    document.querySelector(".skip-link").addEventListener("click", (event) => {
      event.preventDefault();
      this.main.focus();
    });
    window.addEventListener("hashchange", () => this.route());
    if (tokenExpired()) {
      this.api.logout();
      this.loginNotice = "login.expired";
    }
    this.route();
  }

  setupLanguage() {
    const select = document.getElementById("language");
    for (const { code, name } of LANGUAGES) {
      select.append(h("option", { value: code, lang: code }, name));
    }
    select.value = language();
    select.addEventListener("change", () => setLanguage(select.value));
    onLanguageChange(() => {
      select.value = language();
      this.applyLanguage();
    });
    this.applyLanguage();
  }

  applyLanguage() {
    document.documentElement.lang = locale();
    document.title = t("app.title");
    translate(document);
    // Dates and times are formatted per language too.
    for (const time of document.querySelectorAll("time[datetime]")) {
      const value = time.getAttribute("datetime");
      time.textContent =
        time.dataset.format === "datetime" ? formatDateTime(value) : formatTime(value);
    }
  }

  route() {
    const hash = window.location.hash || "#/";
    const [, page = "", arg = ""] = hash.split("/");
    if (!this.api.loggedIn) return this.show("login", renderLogin, { notice: this.takeNotice() });
    if (!this.me) return this.loadMe();
    switch (page) {
      case "call":
        if (this.activeCall) return this.show("call", renderCall);
        return this.go("#/tutors");
      case "history":
        if (arg) return this.show("transcript", renderTranscript, { sessionId: decodeURIComponent(arg) });
        return this.show("history", renderHistory);
      case "tutors":
        return this.show("tutors", renderTutors);
      case "console": {
        if (!isStaff(this.me)) return this.go("#/tutors");
        const [, , sub = "tutors", more = ""] = hash.split("/");
        return this.show("console", renderConsole, { page: sub, arg: more });
      }
      default:
        return this.go("#/tutors");
    }
  }

  go(hash) {
    if (window.location.hash === hash) this.route();
    else window.location.hash = hash;
  }

  show(view, render, extra = {}) {
    if (this.cleanup) this.cleanup();
    this.cleanup = null;
    if (view !== "call") this.detachCall();
    this.view = view;
    document.body.dataset.view = view;
    this.nav.hidden = view === "login";
    for (const link of this.nav.querySelectorAll("a")) {
      const current = link.getAttribute("href") === `#/${view === "transcript" ? "history" : view}`;
      if (current) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    this.main.replaceChildren();
    const result = render(this.main, { app: this, ...extra });
    if (typeof result === "function") this.cleanup = result;
    translate(this.main);
    if (view !== "call" && view !== "login") this.focusHeading();
  }

  focusHeading() {
    // Views that load data render their heading at once; move focus there for screen readers.
    const heading = this.main.querySelector("h1");
    if (heading) heading.focus({ preventScroll: true });
  }

  async loadMe() {
    try {
      this.me = await this.api.me();
    } catch (failure) {
      if (failure.status === 401) return;
      this.main.replaceChildren(h("p", { class: "message message--error", role: "alert" }));
      this.showFailure(this.main.firstChild, failure);
      return;
    }
    const name = this.me.display_name || this.me.email;
    retranslate(this.user, "nav.signedInAs", { name });
    document.getElementById("nav-console").hidden = !isStaff(this.me);
    this.scheduleExpiry();
    this.route();
  }

  afterLogin() {
    this.loginNotice = null;
    this.me = null;
    this.go("#/tutors");
  }

  scheduleExpiry() {
    clearTimeout(this.expiryTimer);
    const saved = loadToken();
    if (!saved) return;
    // Past the token's lifetime every API call would fail: say so now, not at the next click.
    // A call in progress keeps going; its own token was checked when it connected.
    const delay = Math.min(saved.expiresAt - Date.now(), 2 ** 31 - 1);
    this.expiryTimer = setTimeout(() => {
      if (this.view !== "call") this.sessionExpired();
    }, delay);
  }

  sessionExpired() {
    this.api.logout();
    // Several requests may fail at once; the login page is shown once, keeping what was typed.
    if (this.view === "login") return;
    this.me = null;
    this.loginNotice = "login.expired";
    this.activeCall = null;
    this.go("#/login");
  }

  logout() {
    clearTimeout(this.expiryTimer);
    this.api.logout();
    this.me = null;
    this.activeCall = null;
    this.loginNotice = "login.loggedOut";
    this.go("#/login");
  }

  takeNotice() {
    const notice = this.loginNotice;
    this.loginNotice = null;
    return notice;
  }

  /** Create a session with `tutor` and open the call page; API errors propagate to the caller. */
  async startCall(tutor) {
    // Created during the click, so the browser lets it (and the tutor's audio) play.
    this.resumeAudio();
    const session = await this.api.startSession(tutor.id);
    this.activeCall = { session, tutor };
    this.go(`#/call/${encodeURIComponent(session.session_id)}`);
  }

  resumeAudio() {
    if (!this.audioContext) this.audioContext = new AudioContext();
    if (this.audioContext.state === "suspended") this.audioContext.resume().catch(() => {});
  }

  /** The call view's call, and its activity and captions (what the browser tests read). */
  attachCall(call, { activity = null, captions = null } = {}) {
    this.call = call;
    this.activity = activity;
    this.captions = captions;
    this.eventCounts = {};
    this.lastTts = null;
    call.addEventListener("message", ({ detail }) => {
      this.eventCounts[detail.type] = (this.eventCounts[detail.type] || 0) + 1;
      if (detail.type === "tts") this.lastTts = detail.state;
    });
  }

  detachCall() {
    this.call = null;
    this.activity = null;
    this.captions = null;
    this.activeCall = null;
    if (this.meter) this.meter.close();
    this.meter = null;
  }

  /** RMS of the tutor's audio as this page plays it now (0 without any). */
  remoteLevel() {
    return this.meter ? this.meter.energy() : 0;
  }

  meterRemote(stream) {
    this.resumeAudio();
    if (!this.meter) this.meter = new AudioMeter(this.audioContext);
    this.meter.attach(stream);
  }

  /** Say `key` in the page's status line for a few seconds ("Your password was changed."). */
  notify(key) {
    const notice = document.getElementById("notice");
    retranslate(notice, key);
    clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => retranslate(notice, "app.empty"), 8000);
  }

  /** Show an API failure in `element` (network, or the server's own message). */
  showFailure(element, failure) {
    if (failure.status === 0) retranslate(element, "error.network");
    else retranslate(element, "error.generic", { message: failure.message });
    element.hidden = false;
  }

  /** What the browser tests read. */
  snapshot() {
    const call = this.call;
    return {
      view: this.view,
      language: language(),
      connection: call ? call.state : null,
      transport: call ? call.transport : null,
      chatOpen: call ? call.chatOpen : false,
      microphone: call ? (call.microphone ? "live" : "none") : null,
      muted: call ? call.muted : false,
      sessionId: this.activeCall ? this.activeCall.session.session_id : null,
      remoteTrack: Boolean(call && call.remoteStream),
      /** How many engine events of each type this call received (types only, no content). */
      eventCounts: { ...this.eventCounts },
      /** The last speech state of the tutor: null, "start", "end" or "interrupted". */
      lastTts: call ? this.lastTts : null,
      /** What the call is doing now, as the status line shows it. */
      activity: this.activity ? this.activity.state : null,
      /** The microphone's level (RMS) as the status line shows it. */
      micLevel: this.activity ? this.activity.micLevel : 0,
    };
  }
}

const app = new App();
window.__tutor = {
  get state() {
    return app.snapshot();
  },
  /** RMS energy of the tutor's audio right now (0 when there is none). */
  remoteAudioEnergy() {
    return app.meter ? app.meter.energy() : 0;
  },
  /**
   * The call's record, with performance.now() times: each state the status line showed,
   * each sample of the tutor's audio level, and each caption as it was revealed.
   */
  timeline() {
    const { activity, captions } = app;
    return {
      states: activity ? activity.states : [],
      levels: activity ? activity.levels : [],
      captions: captions ? captions.shown : [],
      firstSound: activity ? Object.fromEntries(activity.firstSound) : {},
    };
  },
  /** The loudest RMS energy of the tutor's audio since the call started. */
  remoteAudioPeak() {
    return app.meter ? app.meter.peak : 0;
  },
};
app.start();
