// The call page's markup: the one status line, the controls, the conversation, the composer.

import { h, retranslate, tr } from "../dom.js";

/** The text key of each state of the status line (CallActivity's states). */
const STATE_KEYS = {
  connecting: "call.state.connecting",
  listening: "call.activity.listening",
  thinking: "call.activity.thinking",
  speaking: "call.activity.speaking",
  interrupted: "call.activity.interrupted",
  reconnecting: "call.state.disconnected",
  ended: "call.state.closed",
  failed: "call.state.failed",
};

function hidden(el) {
  el.hidden = true;
  return el;
}

export function buildCallView(tutor) {
  const ui = {};
  buildStatus(ui, tutor);
  buildControls(ui);
  buildConversation(ui);
  buildComposer(ui);
  ui.audio = h("audio", { id: "tutor-audio", autoplay: true });
  ui.root = h(
    "section",
    { class: "view view--call", "aria-labelledby": "call-heading" },
    h("div", { class: "call__header" }, ui.heading, ui.state),
    ui.controls,
    ui.mutedNote,
    ui.transport,
    ui.micMessage,
    ui.notice,
    ui.after,
    ui.scroller,
    ui.composer,
    ui.audio,
  );
  return ui;
}

/** Heading, the call's one state (indicator, words, microphone level), and the notices. */
function buildStatus(ui, tutor) {
  ui.heading = tr("h1", "call.heading", { name: tutor.name }, { id: "call-heading", tabindex: "-1" });
  ui.stateText = tr("span", "call.state.connecting", { name: tutor.name }, { id: "call-state-text" });
  ui.levelBar = h("span", { class: "call__level-bar" });
  ui.level = h("span", { class: "call__level", "aria-hidden": "true" }, ui.levelBar);
  ui.state = h(
    "p",
    // A status region: each change of state is announced, politely, once.
    { class: "call__state", role: "status", "aria-live": "polite", dataset: { state: "connecting" } },
    h(
      "span",
      { class: "call__indicator", "aria-hidden": "true" },
      h("span", { class: "call__dot" }),
      h("span", { class: "call__dot" }),
      h("span", { class: "call__dot" }),
    ),
    ui.stateText,
    ui.level,
  );
  ui.transport = hidden(h("p", { class: "message", id: "call-transport", role: "status" }));
  ui.mutedNote = hidden(tr("p", "call.mutedNote", null, { class: "call__muted", role: "status" }));
  ui.micMessage = hidden(
    h("p", { class: "message message--warning", id: "mic-message", role: "alert" }),
  );
  ui.notice = hidden(h("p", { class: "message message--error", id: "call-notice", role: "alert" }));
}

/** Show `state` ("listening", "speaking", …) in the status line. */
export function showState(ui, state) {
  if (ui.state.dataset.state === state) return;
  ui.state.dataset.state = state;
  retranslate(ui.stateText, STATE_KEYS[state] || "call.state.connecting");
}

/**
 * The microphone's level, 0..1 RMS, in ten steps on a scale where speech fills most of the bar.
 * A data attribute the stylesheet draws, not an inline style, which the CSP forbids.
 */
export function showLevel(ui, level) {
  const step = String(Math.round(Math.min(1, Math.sqrt(level / 0.15)) * 10));
  if (ui.level.dataset.level !== step) ui.level.dataset.level = step;
}

/** Mute, stop the tutor, hang up, turn on sound; once the call has ended, where to go next. */
function buildControls(ui) {
  ui.muteText = tr("span", "call.mute");
  ui.mute = h(
    "button",
    { type: "button", class: "button", id: "mute", "aria-pressed": "false" },
    h("span", { class: "icon icon--mic", "aria-hidden": "true" }),
    ui.muteText,
  );
  ui.stop = tr("button", "call.stop", null, {
    type: "button",
    class: "button",
    id: "stop",
    "aria-keyshortcuts": "Escape",
  });
  ui.stop.disabled = true;
  ui.hangupText = tr("span", "call.hangup");
  ui.hangup = h(
    "button",
    { type: "button", class: "button danger", id: "hangup" },
    h("span", { class: "icon icon--hangup", "aria-hidden": "true" }),
    ui.hangupText,
  );
  ui.sound = hidden(tr("button", "call.enableSound", null, { type: "button", class: "button" }));
  ui.controls = h("div", { class: "call__controls" }, ui.mute, ui.stop, ui.hangup, ui.sound);
  // Offered when the server ended the call (its engine stopped), not when the student did.
  ui.again = hidden(tr("button", "call.again", null, { type: "button", class: "button primary" }));
  ui.after = hidden(
    h(
      "nav",
      { class: "call__after" },
      ui.again,
      tr("a", "call.backToTutors", null, { class: "button primary", href: "#/tutors" }),
      tr("a", "nav.history", null, { class: "button", href: "#/history" }),
    ),
  );
}

/** The mute button says what pressing it does ("Unmute" while muted) and whether it is on. */
export function showMuted(ui, muted) {
  ui.mute.setAttribute("aria-pressed", String(muted));
  retranslate(ui.muteText, muted ? "call.unmute" : "call.mute");
  ui.mute.classList.toggle("button--on", muted);
  ui.mutedNote.hidden = !muted;
}

function buildConversation(ui) {
  ui.list = h("ol", {
    class: "conversation__list",
    id: "conversation",
    role: "log",
    "aria-live": "polite",
    "aria-labelledby": "conversation-heading",
  });
  ui.scroller = h(
    "div",
    { class: "conversation" },
    tr("h2", "call.conversation", null, { id: "conversation-heading", class: "visually-hidden" }),
    ui.list,
  );
}

function buildComposer(ui) {
  ui.input = h("input", {
    id: "chat-input",
    name: "message",
    type: "text",
    autocomplete: "off",
    maxlength: "4000",
    dataset: { i18nAttr: "placeholder:call.typePlaceholder" },
  });
  ui.send = tr("button", "call.send", null, { type: "submit", class: "button primary", id: "send" });
  ui.send.disabled = true;
  ui.composer = h(
    "form",
    { class: "composer" },
    // A visible label: a placeholder alone disappears as soon as one types.
    tr("label", "call.typeLabel", null, { for: "chat-input", class: "composer__label" }),
    h("div", { class: "composer__row" }, ui.input, ui.send),
  );
}

export function showEnded(ui, { keepNotice = false, again = false } = {}) {
  showState(ui, "ended");
  ui.controls.hidden = true;
  ui.composer.hidden = true;
  ui.mutedNote.hidden = true;
  ui.level.hidden = true;
  if (!keepNotice) ui.notice.hidden = true;
  ui.after.hidden = false;
  ui.again.hidden = !again;
  (again ? ui.again : ui.after.querySelector("a")).focus();
}
