// What the call is doing now, as one state: connecting | listening | thinking | speaking |
// interrupted | reconnecting | ended (and failed).
//
// The engine's events say where a turn is; the page's own audio says when the tutor is heard.
// "speaking" starts at the first loud sample of the tutor's audio as this page plays it (never
// at the engine's `tts start`, which is when the engine sent its first frame) and lasts while
// the sound does; a silence in the middle of a reply is "thinking" again (more is coming).
// Every state change and every sample of the tutor's audio level is kept with its time
// (performance.now()), so a test can check one against the other.

const SAMPLE_MS = 50;
/** RMS above this is sound (speech peaks near 0.1; decoded silence is near 0). */
export const SOUND_LEVEL = 0.004;
/** A pause shorter than this, between words or sentences, is still speaking. */
const HANGOVER_MS = 700;
const INTERRUPTED_MS = 1500;
/** A turn heard to end without words (no final transcript) gives the floor back after this. */
const UNHEARD_MS = 5000;
/** A reply that never sounds (nothing sayable) gives the floor back after this. */
const SILENT_REPLY_MS = 15000;
const MAX_RECORDS = 20000;

const CONNECTING = new Set(["new", "microphone", "gathering", "connecting"]);

export class CallActivity extends EventTarget {
  /** `remoteLevel()` and `localLevel()`: RMS of the tutor's audio and of the microphone now. */
  constructor({ remoteLevel, localLevel = () => 0, now = () => performance.now() }) {
    super();
    this.remoteLevel = remoteLevel;
    this.localLevel = localLevel;
    this.now = now;
    /** Replies are spoken (the call has the tutor's audio): done once heard, not written. */
    this.spoken = false;
    this.connection = "new";
    this.phase = "idle"; // idle | hearing | waiting | replying
    this.phaseSince = now();
    this.confirmed = false; // the turn being waited on will be answered
    this.awaited = null; // its id, once an event has told it
    this.textAt = null; // the whole reply is in, and no sound yet
    this.replyTurn = null;
    this.ttsEnded = false;
    this.lastLoudAt = -Infinity;
    this.interruptedUntil = -Infinity;
    /** turn id → performance.now() of the first loud sample of its reply. */
    this.firstSound = new Map();
    this.state = "connecting";
    this.states = [{ t: now(), state: "connecting" }];
    this.levels = [];
    this.micLevel = 0;
    this.timer = setInterval(() => this.tick(), SAMPLE_MS);
  }

  setConnection(state) {
    this.connection = state;
    this.update();
  }

  /** The student sent a typed message: the tutor is thinking about it. */
  sentText() {
    this.wait(true);
  }

  /** One engine event. */
  message(message) {
    const turnId = message.turn_id;
    switch (message.type) {
      case "vad":
        if (message.state === "speech_start") this.enter("hearing");
        else this.wait(false, turnId);
        break;
      case "transcription":
        // The final transcript: the turn is over and will be answered.
        if (!message.partial && this.phase !== "replying") this.wait(true, turnId);
        break;
      case "text_delta":
      case "sources":
        if (this.phase === "waiting") {
          this.confirmed = true;
          this.awaited = turnId;
        }
        break;
      case "text":
        // Without a voice the reply is done once written; with one, it is done once heard.
        if (this.phase === "waiting") {
          if (this.spoken) this.textAt = this.now();
          else this.enter("idle");
        }
        break;
      case "tts":
        this.tts(message.state, turnId);
        break;
      case "error":
        if (this.phase === "waiting" || (this.phase === "replying" && !this.loud())) {
          this.enter("idle");
        }
        break;
      default:
        break;
    }
    this.update();
  }

  tts(state, turnId) {
    if (state === "start") {
      this.enter("replying");
      this.replyTurn = turnId;
      this.ttsEnded = false;
    } else if (state === "end") {
      this.ttsEnded = true;
    } else if (state === "interrupted") {
      this.interruptedUntil = this.now() + INTERRUPTED_MS;
      // Only the reply in progress gives the floor back: a barge-in is already "hearing", and
      // a new message's reply is still awaited when the one before it is cut short.
      const current = this.phase === "replying" ? this.replyTurn : this.awaited;
      if (this.phase !== "hearing" && current === turnId) this.enter("idle");
    }
  }

  /** The student asked the tutor to stop: whatever was coming is not awaited any more. */
  stopped() {
    if (this.phase !== "waiting" && this.phase !== "replying") return;
    this.interruptedUntil = this.now() + INTERRUPTED_MS;
    this.enter("idle");
    this.update();
  }

  wait(confirmed, turnId = null) {
    this.enter("waiting");
    this.confirmed = confirmed;
    this.awaited = turnId;
    this.textAt = null;
  }

  enter(phase) {
    this.phase = phase;
    this.phaseSince = this.now();
  }

  /** When the tutor's reply `turnId` was first heard on this page (undefined: not yet). */
  firstSoundOf(turnId) {
    return this.firstSound.get(turnId);
  }

  loud() {
    return this.now() - this.lastLoudAt < HANGOVER_MS;
  }

  tick() {
    const t = this.now();
    const level = this.remoteLevel();
    if (this.levels.length < MAX_RECORDS) this.levels.push({ t, level });
    if (level > SOUND_LEVEL) {
      this.lastLoudAt = t;
      // Only sound after the engine said the reply started is the reply's first sound.
      if (this.phase === "replying" && !this.firstSound.has(this.replyTurn)) {
        this.firstSound.set(this.replyTurn, t);
        this.emit("sound", { turnId: this.replyTurn, at: t });
      }
    }
    this.micLevel = this.localLevel();
    this.emit("level", { level: this.micLevel });
    this.expire(t);
    this.update();
  }

  /** Waits that end without an event: no words heard, nothing sayable, the reply heard out. */
  expire(t) {
    const waited = t - this.phaseSince;
    if (this.phase === "waiting") {
      if (!this.confirmed && waited > UNHEARD_MS) this.enter("idle");
      else if (this.textAt !== null && t - this.textAt > SILENT_REPLY_MS) this.enter("idle");
    } else if (this.phase === "replying" && this.ttsEnded && !this.loud()) {
      this.emit("heard", { turnId: this.replyTurn });
      this.enter("idle");
    }
  }

  current() {
    if (this.connection === "closed") return "ended";
    if (this.connection === "failed") return "failed";
    if (this.connection === "disconnected") return "reconnecting";
    if (CONNECTING.has(this.connection)) return "connecting";
    if (this.now() < this.interruptedUntil) return "interrupted";
    switch (this.phase) {
      case "waiting":
        return "thinking";
      case "replying":
        return this.loud() && this.firstSound.has(this.replyTurn) ? "speaking" : "thinking";
      default:
        return "listening";
    }
  }

  update() {
    const state = this.current();
    if (state === this.state) return;
    this.state = state;
    if (this.states.length < MAX_RECORDS) this.states.push({ t: this.now(), state });
    this.emit("change", { state });
  }

  close() {
    clearInterval(this.timer);
    this.setConnection("closed");
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
