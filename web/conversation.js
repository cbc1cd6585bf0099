// The conversation list: live engine events or a stored transcript, rendered as turns.

import { h, retranslate, tr } from "./dom.js";
import { formatTime, parseDate, t } from "./i18n.js";

/**
 * Renders turns into an element with role="log". Live events go through `handle(message)`;
 * a stored transcript through `showTurns(turns)`.
 */
export class Conversation {
  constructor(list, { scroller = list, emptyKey = null, userKey = "turn.you" } = {}) {
    this.list = list;
    this.scroller = scroller;
    /** Who the student's turns are from: "You" for the student, the student for a teacher. */
    this.userKey = userKey;
    this.turns = new Map();
    this.pendingPartial = null;
    /** Spoken replies are shown as they are heard (captions), not as they are written. */
    this.spoken = false;
    /** turn id → the whole reply as written, shown once it has been heard. */
    this.written = new Map();
    this.empty = emptyKey ? tr("li", emptyKey, null, { class: "conversation__empty" }) : null;
    if (this.empty) this.list.append(this.empty);
  }

  /** Apply one engine event; unknown types are ignored. */
  handle(message) {
    switch (message.type) {
      case "vad":
        if (message.state === "speech_start") this.dropStalePartials(message.turn_id);
        else this.stopListening(message.turn_id);
        return undefined;
      case "transcription":
        return this.transcription(message);
      case "text_delta":
        return this.replyText(message.turn_id, message.content || "", { delta: true });
      case "text":
        if (message.role === "assistant" || message.role === undefined) {
          return this.replyText(message.turn_id, message.content || "", { delta: false });
        }
        return undefined;
      case "tts":
        if (message.state === "interrupted") this.interrupted(message);
        return undefined;
      case "metrics":
        return this.latency(message.turn_id, message.total_ms);
      case "sources":
        return this.sources(message.turn_id, message.items || []);
      case "error":
        return this.error(message);
      default:
        return undefined;
    }
  }

  /** A message the student typed, shown at once. */
  addTyped(text) {
    this.add("user", null, { text, source: "typed" });
  }

  /** A stored transcript (the API's `turns`). */
  showTurns(turns) {
    for (const turn of turns) {
      const item = this.add(turn.role === "user" ? "user" : "assistant", turn.turn_id, {
        text: turn.text || "",
        source: turn.source,
        at: turn.created_at,
      });
      if (turn.interrupted) this.markInterrupted(turn.turn_id, item);
      if (turn.role !== "assistant") continue;
      const totalMs = turn.timings && turn.timings.total_ms;
      if (Number.isFinite(totalMs)) this.latency(turn.turn_id, totalMs);
      if (Array.isArray(turn.sources)) this.sources(turn.turn_id, turn.sources);
    }
  }

  /** The student's turn is over: its transcript is no longer "still listening". */
  stopListening(turnId) {
    const item = this.find("user", turnId);
    if (item) this.setBusyBadge(item, false);
  }

  /** A chunk of a spoken reply, now heard. */
  caption(turnId, text) {
    const item = this.find("assistant", turnId) || this.add("assistant", turnId, { text: "" });
    const el = item.querySelector(".turn__text");
    const before = el.textContent;
    // Chinese runs on without spaces; other languages' chunks are words apart.
    const gap = before && !/^[\u3000-\u9fff\uff00-\uffef]/.test(text) ? " " : "";
    el.textContent = before + gap + text;
    this.scroll();
  }

  /** A spoken reply was heard to its end: the whole of it, as written, stays. */
  replyHeard(turnId) {
    const item = this.find("assistant", turnId);
    if (!item) return;
    const written = this.written.get(turnId);
    if (written) item.querySelector(".turn__text").textContent = written;
    this.written.delete(turnId);
    item.classList.remove("turn--streaming");
    this.updateBusy();
  }

  /** The reply was cut short: it shows what was heard, as it is stored. */
  interrupted({ turn_id: turnId, heard }) {
    const item = this.find("assistant", turnId);
    if (item && typeof heard === "string") item.querySelector(".turn__text").textContent = heard;
    this.written.delete(turnId);
    this.markInterrupted(turnId, item);
  }

  transcription({ turn_id: turnId, content = "", partial }) {
    let item = this.find("user", turnId);
    if (!item && this.pendingPartial) {
      item = this.pendingPartial;
      if (turnId !== undefined) this.remember("user", turnId, item);
    }
    if (!item) item = this.add("user", turnId, { text: "", source: "spoken" });
    item.querySelector(".turn__text").textContent = content;
    item.classList.toggle("turn--partial", Boolean(partial));
    this.setBusyBadge(item, Boolean(partial));
    this.pendingPartial = partial ? item : null;
    this.updateBusy();
    this.scroll();
  }

  /** A turn whose speech gave no words gets no final transcript: its partial goes away. */
  dropStalePartials(currentTurnId) {
    for (const item of this.list.querySelectorAll(".turn--partial")) {
      if (item.dataset.turnId === String(currentTurnId)) continue;
      this.turns.delete(`user:${item.dataset.turnId}`);
      if (this.pendingPartial === item) this.pendingPartial = null;
      item.remove();
    }
    this.updateBusy();
  }

  replyText(turnId, content, { delta }) {
    const item = this.find("assistant", turnId) || this.add("assistant", turnId, { text: "" });
    if (this.spoken) {
      // Held until heard: captions show it as it is spoken.
      this.written.set(turnId, delta ? (this.written.get(turnId) || "") + content : content);
      item.classList.add("turn--streaming");
      this.updateBusy();
      return;
    }
    const text = item.querySelector(".turn__text");
    text.textContent = delta ? text.textContent + content : content;
    item.classList.toggle("turn--streaming", delta);
    this.updateBusy();
    this.scroll();
  }

  markInterrupted(turnId, item = this.find("assistant", turnId)) {
    if (!item || item.querySelector(".badge--interrupted")) return;
    item.classList.add("turn--interrupted");
    item.classList.remove("turn--streaming");
    item
      .querySelector(".turn__meta")
      .append(tr("span", "turn.interrupted", null, { class: "badge badge--interrupted" }));
    this.updateBusy();
  }

  latency(turnId, totalMs) {
    if (!Number.isFinite(totalMs)) return;
    const item = this.find("assistant", turnId) || this.add("assistant", turnId, { text: "" });
    let label = item.querySelector(".turn__latency");
    if (!label) {
      label = h(
        "span",
        { class: "turn__latency", title: t("turn.latencyTitle") },
        tr("span", "turn.latencyLabel", null, { class: "visually-hidden" }),
        h("span", { class: "turn__latency-value" }),
      );
      label.dataset.i18nAttr = "title:turn.latencyTitle";
      item.querySelector(".turn__meta").append(label);
    }
    const value = label.querySelector(".turn__latency-value");
    if (totalMs < 1000) retranslate(value, "turn.latency", { ms: Math.round(totalMs) });
    else retranslate(value, "turn.latencySeconds", { seconds: (totalMs / 1000).toFixed(1) });
  }

  sources(turnId, items) {
    if (items.length === 0) return;
    let item = this.find("assistant", turnId);
    if (!item) {
      // Sources are found before the reply is written: its place shows the reply is coming.
      item = this.add("assistant", turnId, { text: "" });
      item.classList.add("turn--streaming");
      this.updateBusy();
    }
    item.querySelector(".sources")?.remove();
    const list = h(
      "ul",
      { class: "sources__list" },
      items.map((source) =>
        h(
          "li",
          {},
          // `document` is an id; the title and the place within it are what a student reads.
          h("span", { class: "sources__title" }, source.title || String(source.document ?? "")),
          source.location ? h("span", { class: "sources__location" }, ` · ${source.location}`) : null,
          source.snippet ? h("q", { class: "sources__snippet" }, source.snippet) : null,
        ),
      ),
    );
    item.append(
      h(
        "details",
        { class: "sources" },
        tr("summary", "turn.sources", { count: items.length }),
        list,
      ),
    );
    this.scroll();
  }

  error({ turn_id: turnId, content, code }) {
    const message = content || code || "";
    const line = tr("p", "turn.error", { message }, { class: "turn__error" });
    const item = turnId !== undefined ? this.find("assistant", turnId) : null;
    if (item) {
      item.classList.remove("turn--streaming");
      item.append(line);
    } else {
      this.list.append(h("li", { class: "turn turn--error" }, line));
      this.dropEmpty();
    }
    this.updateBusy();
    this.scroll();
  }

  add(role, turnId, { text, source = null, at = new Date() }) {
    const when = parseDate(at);
    const meta = h(
      "div",
      { class: "turn__meta" },
      tr("span", role === "user" ? this.userKey : "turn.tutor", null, { class: "turn__who" }),
      h("time", { datetime: when.toISOString() }, formatTime(when)),
      source === "typed" || source === "spoken"
        ? tr("span", `turn.${source}`, null, { class: "badge" })
        : null,
    );
    const item = h(
      "li",
      { class: `turn turn--${role}` },
      meta,
      h("p", { class: "turn__text", dir: "auto" }, text),
    );
    if (turnId !== undefined && turnId !== null) {
      item.dataset.turnId = String(turnId);
      this.remember(role, turnId, item);
    }
    this.dropEmpty();
    this.list.append(item);
    this.scroll();
    return item;
  }

  setBusyBadge(item, partial) {
    const badge = item.querySelector(".badge--partial");
    if (partial && !badge) {
      item
        .querySelector(".turn__meta")
        .append(tr("span", "turn.partial", null, { class: "badge badge--partial" }));
    } else if (!partial && badge) {
      badge.remove();
    }
  }

  /** Screen readers wait for a streaming reply or a partial transcript to settle. */
  updateBusy() {
    const busy = this.list.querySelector(".turn--streaming, .turn--partial") !== null;
    this.list.setAttribute("aria-busy", String(busy));
  }

  find(role, turnId) {
    if (turnId === undefined || turnId === null) return null;
    return this.turns.get(`${role}:${turnId}`) || null;
  }

  remember(role, turnId, item) {
    this.turns.set(`${role}:${turnId}`, item);
  }

  dropEmpty() {
    if (this.empty) this.empty.remove();
  }

  scroll() {
    const el = this.scroller;
    el.scrollTop = el.scrollHeight;
  }
}
