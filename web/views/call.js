// The call page: connection state, microphone notice, mute, hang up, conversation and composer.

import { TutorCall } from "../call.js";
import { Conversation } from "../conversation.js";
import { h, retranslate, tr } from "../dom.js";

const MIC_MESSAGES = {
  denied: "call.mic.denied",
  missing: "call.mic.missing",
  unavailable: "call.mic.unavailable",
  error: "call.mic.error",
};

/** Render the call with `app.activeCall` ({session, tutor}); returns the view's cleanup. */
export function renderCall(main, { app }) {
  const { session, tutor } = app.activeCall;
  const ui = buildCallView(tutor);
  main.append(ui.root);

  const call = new TutorCall(session);
  const conversation = new Conversation(ui.list, { scroller: ui.scroller, emptyKey: "call.empty" });
  app.attachCall(call);
  showCallEvents(call, { ui, conversation, app, tutor });
  wireComposer(call, ui, conversation);

  let ending = null;
  const end = () => {
    ending ??= call.hangUp(() =>
      app.api.endSession(session.session_id).catch((failure) => {
        console.warn("ending the session failed:", failure.message);
      }),
    );
    return ending;
  };
  wireControls(call, { ui, app, end });

  // Closing the tab ends the call and the session instead of leaving a slot taken.
  const onPageHide = () => {
    if (call.state === "closed") return;
    call.hangUpOnUnload();
    app.api.endSession(session.session_id, { keepalive: true }).catch(() => {});
  };
  window.addEventListener("pagehide", onPageHide);

  call.start().catch((failure) => {
    if (call.state === "closed") return; // hung up or left while connecting
    console.warn("the call could not be started:", failure.message);
    showState(ui, "failed");
    retranslate(ui.notice, "call.failed", { message: failure.message });
    ui.notice.hidden = false;
    end().then(() => showEnded(ui, { keepNotice: true }));
  });
  ui.heading.focus();

  return () => {
    window.removeEventListener("pagehide", onPageHide);
    if (call.state !== "closed") end();
  };
}

/** Reflect the call's events in the page. */
function showCallEvents(call, { ui, conversation, app, tutor }) {
  call.addEventListener("state", ({ detail }) => showState(ui, detail.state));
  call.addEventListener("microphone", ({ detail }) => showMicrophone(ui, detail.problem));
  call.addEventListener("transport", () => {
    retranslate(ui.transport, "call.transport.websocket");
    ui.transport.hidden = false;
  });
  call.addEventListener("chat", ({ detail }) => {
    ui.send.disabled = !detail.open;
    if (detail.open) ui.notice.hidden = true;
  });
  call.addEventListener("track", ({ detail }) => playRemote(app, ui, detail.stream));
  call.addEventListener("message", ({ detail }) => {
    showActivity(ui, detail, tutor);
    conversation.handle(detail);
  });
}

function wireControls(call, { ui, app, end }) {
  ui.mute.addEventListener("click", () => {
    const muted = !call.muted;
    call.setMuted(muted);
    // The name stays "Mute"; aria-pressed says whether it is on, for every user the same way.
    ui.mute.setAttribute("aria-pressed", String(muted));
    ui.mutedNote.hidden = !muted;
  });
  ui.sound.addEventListener("click", () => {
    app.resumeAudio();
    ui.audio.play().then(
      () => (ui.sound.hidden = true),
      (error) => console.warn("the tutor's audio cannot play:", error.message),
    );
  });
  ui.hangup.addEventListener("click", async () => {
    ui.hangup.disabled = true;
    retranslate(ui.hangupText, "call.hangingUp");
    await end();
    showEnded(ui);
  });
}

function wireComposer(call, ui, conversation) {
  ui.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = ui.input.value.trim();
    if (!text) return;
    if (!call.sendText(text)) {
      retranslate(ui.notice, "call.notReady");
      ui.notice.hidden = false;
      return;
    }
    conversation.addTyped(text);
    ui.input.value = "";
    ui.input.focus();
  });
}

function hidden(el) {
  el.hidden = true;
  return el;
}

function buildCallView(tutor) {
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
    ui.activity,
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

/** Heading, connection state, what is happening now, and the notices. */
function buildStatus(ui, tutor) {
  ui.heading = tr("h1", "call.heading", { name: tutor.name }, { id: "call-heading", tabindex: "-1" });
  ui.stateText = tr("span", "call.state.new", null, { id: "call-state-text" });
  ui.state = h(
    "p",
    { class: "call__state", role: "status", dataset: { state: "new" } },
    h("span", { class: "call__dot", "aria-hidden": "true" }),
    ui.stateText,
  );
  ui.activity = h("p", { class: "call__activity", "aria-live": "polite" });
  ui.transport = hidden(h("p", { class: "message", id: "call-transport", role: "status" }));
  ui.mutedNote = hidden(tr("p", "call.mutedNote", null, { class: "call__muted", role: "status" }));
  ui.micMessage = hidden(
    h("p", { class: "message message--warning", id: "mic-message", role: "alert" }),
  );
  ui.notice = hidden(h("p", { class: "message message--error", id: "call-notice", role: "alert" }));
}

/** Mute, hang up, turn on sound; and, once the call has ended, where to go next. */
function buildControls(ui) {
  ui.mute = h(
    "button",
    { type: "button", class: "button", id: "mute", "aria-pressed": "false" },
    h("span", { class: "icon icon--mic", "aria-hidden": "true" }),
    tr("span", "call.mute"),
  );
  ui.hangupText = tr("span", "call.hangup");
  ui.hangup = h(
    "button",
    { type: "button", class: "button danger", id: "hangup" },
    h("span", { class: "icon icon--hangup", "aria-hidden": "true" }),
    ui.hangupText,
  );
  ui.sound = hidden(tr("button", "call.enableSound", null, { type: "button", class: "button" }));
  ui.controls = h("div", { class: "call__controls" }, ui.mute, ui.hangup, ui.sound);
  ui.after = hidden(
    h(
      "nav",
      { class: "call__after" },
      tr("a", "call.backToTutors", null, { class: "button primary", href: "#/tutors" }),
      tr("a", "nav.history", null, { class: "button", href: "#/history" }),
    ),
  );
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
    tr("label", "call.typeLabel", null, { for: "chat-input", class: "visually-hidden" }),
    ui.input,
    ui.send,
  );
}

function showState(ui, state) {
  ui.state.dataset.state = state;
  retranslate(ui.stateText, `call.state.${state}`);
}

function showMicrophone(ui, problem) {
  if (!problem) return;
  retranslate(ui.micMessage, MIC_MESSAGES[problem] || MIC_MESSAGES.error);
  ui.micMessage.hidden = false;
  ui.mute.hidden = true;
}

function showActivity(ui, message, tutor) {
  const show = (key, params) => ui.activity.replaceChildren(key ? tr("span", key, params) : "");
  if (message.type === "vad") {
    show(message.state === "speech_start" ? "call.activity.listening" : null);
  } else if (message.type === "tts") {
    show(message.state === "start" ? "call.activity.speaking" : null, { name: tutor.name });
  }
}

function playRemote(app, ui, stream) {
  ui.audio.srcObject = stream;
  ui.audio.muted = false;
  app.meterRemote(stream);
  ui.audio.play().catch(() => {
    // Autoplay was refused (no user gesture yet): let the student turn the sound on.
    ui.sound.hidden = false;
  });
}

function showEnded(ui, { keepNotice = false } = {}) {
  showState(ui, "closed");
  ui.controls.hidden = true;
  ui.composer.hidden = true;
  ui.activity.replaceChildren();
  if (!keepNotice) ui.notice.hidden = true;
  ui.after.hidden = false;
  ui.after.querySelector("a").focus();
}
