// The call page: what the call is doing now, microphone notice, mute, stop, hang up, the
// conversation (with captions in step with the tutor's voice) and the composer.

import { AudioMeter } from "../audio-meter.js";
import { TutorCall } from "../call.js";
import { CallActivity } from "../call-activity.js";
import { Captions } from "../captions.js";
import { Conversation } from "../conversation.js";
import { retranslate } from "../dom.js";
import { buildCallView, showEnded, showLevel, showMuted, showState } from "./call-parts.js";

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
  app.resumeAudio();
  const micMeter = new AudioMeter(app.audioContext);
  const activity = new CallActivity({
    remoteLevel: () => app.remoteLevel(),
    localLevel: () => (call.muted ? 0 : micMeter.energy()),
  });
  const captions = new Captions(activity, (turnId, text) => conversation.caption(turnId, text));
  app.attachCall(call, { activity, captions });
  showCallEvents(call, { ui, conversation, app, activity, captions, micMeter });
  wireComposer(call, { ui, conversation, activity });

  let ending = null;
  const end = () => {
    ending ??= call.hangUp(() =>
      app.api.endSession(session.session_id).catch((failure) => {
        console.warn("ending the session failed:", failure.message);
      }),
    );
    return ending;
  };
  wireControls(call, { ui, app, end, activity });
  const unwatch = watchSession(call, { ui, app, session, tutor });

  // Esc stops the tutor talking, wherever the focus is (as the Stop button does).
  const onKey = (event) => {
    if (event.key === "Escape" && call.state !== "closed") stopTutor(call, ui, activity);
  };
  document.addEventListener("keydown", onKey);

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
    activity.setConnection("failed");
    retranslate(ui.notice, "call.failed", { message: failure.message });
    ui.notice.hidden = false;
    end().then(() => showEnded(ui, { keepNotice: true }));
  });
  ui.heading.focus();

  return () => {
    unwatch();
    window.removeEventListener("pagehide", onPageHide);
    document.removeEventListener("keydown", onKey);
    captions.close();
    activity.close();
    micMeter.close();
    if (call.state !== "closed") end();
  };
}

/** Reflect the call's events in the page. */
function showCallEvents(call, { ui, conversation, app, activity, captions, micMeter }) {
  call.addEventListener("state", ({ detail }) => activity.setConnection(detail.state));
  call.addEventListener("microphone", ({ detail }) => {
    if (!detail.problem && call.microphone) micMeter.attach(call.microphone);
    showMicrophone(ui, detail.problem);
  });
  call.addEventListener("transport", () => {
    retranslate(ui.transport, "call.transport.websocket");
    ui.transport.hidden = false;
  });
  call.addEventListener("chat", ({ detail }) => {
    ui.send.disabled = !detail.open;
    if (detail.open) ui.notice.hidden = true;
  });
  call.addEventListener("track", ({ detail }) => {
    // With the tutor's voice, replies are shown as they are heard.
    conversation.spoken = true;
    activity.spoken = true;
    playRemote(app, ui, detail.stream);
  });
  call.addEventListener("message", ({ detail }) => {
    activity.message(detail);
    if (detail.type === "reply_chunk") captions.add(detail);
    if (detail.type === "tts" && detail.state === "interrupted") captions.cancel(detail.turn_id);
    conversation.handle(detail);
  });
  activity.addEventListener("heard", ({ detail }) => conversation.replyHeard(detail.turnId));
  activity.addEventListener("level", ({ detail }) => showLevel(ui, detail.level));
  activity.addEventListener("change", ({ detail }) => {
    showState(ui, detail.state);
    // The engine ended the call (or the connection closed): say so and offer what is next.
    if (detail.state === "ended" && ui.after.hidden) showEnded(ui, { keepNotice: true });
    // Stopping makes sense while the tutor has the floor.
    ui.stop.disabled = !(detail.state === "thinking" || detail.state === "speaking");
  });
}

// While the connection is down, how often the server is asked whether the call still exists.
const SESSION_CHECK_MS = 3000;

/**
 * While the connection is down, ask the server whether the session is still on. An engine
 * that stopped ends its sessions (reason `engine_lost`): then the call is over, the student is
 * told why and offered a new call with the same tutor. Returns the watcher's cleanup.
 */
function watchSession(call, { ui, app, session, tutor }) {
  let timer = null;
  const stop = () => {
    clearInterval(timer);
    timer = null;
  };
  const check = async () => {
    let detail;
    try {
      detail = await app.api.session(session.session_id);
    } catch {
      return; // the server itself may be restarting: ask again at the next tick
    }
    if (detail.status !== "ended" || call.state === "closed") return;
    stop();
    call.close();
    const reason = detail.end_reason || "";
    if (reason === "engine_lost") retranslate(ui.notice, "call.engineLost");
    else retranslate(ui.notice, "call.endedBy", { reason: app.t(`reason.${reason}`) });
    ui.notice.hidden = false;
    showEnded(ui, { keepNotice: true, again: true });
  };
  call.addEventListener("state", ({ detail }) => {
    if (detail.state === "disconnected" || detail.state === "failed") {
      if (timer === null) {
        check();
        timer = setInterval(check, SESSION_CHECK_MS);
      }
    } else {
      stop();
    }
  });
  ui.again.addEventListener("click", async () => {
    ui.again.disabled = true;
    try {
      await app.startCall(tutor);
    } catch (failure) {
      ui.again.disabled = false;
      app.showFailure(ui.notice, failure);
      ui.notice.hidden = false;
    }
  });
  return stop;
}

function stopTutor(call, ui, activity) {
  if (!call.stopTutor()) return;
  ui.stop.disabled = true;
  activity.stopped();
}

function wireControls(call, { ui, app, end, activity }) {
  ui.mute.addEventListener("click", () => {
    const muted = !call.muted;
    call.setMuted(muted);
    showMuted(ui, muted);
  });
  ui.stop.addEventListener("click", () => stopTutor(call, ui, activity));
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

function wireComposer(call, { ui, conversation, activity }) {
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
    activity.sentText();
    ui.input.value = "";
    ui.input.focus();
  });
}

function showMicrophone(ui, problem) {
  if (!problem) return;
  retranslate(ui.micMessage, MIC_MESSAGES[problem] || MIC_MESSAGES.error);
  ui.micMessage.hidden = false;
  ui.mute.hidden = true;
  ui.level.hidden = true;
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
