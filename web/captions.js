// Captions in step with the tutor's voice: each spoken chunk (`reply_chunk`) is shown when the
// page's own playback of the reply reaches the chunk's start, never before.
//
// The engine tells each chunk's start in ms after the reply's first frame, on its outbound
// audio clock; the page maps that clock onto its own by the moment it first heard the reply
// (CallActivity's first loud sample of the tutor's audio for that turn).

export class Captions {
  /** `activity`: the CallActivity; `show(turnId, text)`: add a chunk to the shown reply. */
  constructor(activity, show) {
    this.activity = activity;
    this.show = show;
    this.pending = [];
    /** What was revealed, and when: [{t, turnId, startsAtMs, due}] (for tests). */
    this.shown = [];
    this.onLevel = () => this.reveal();
    activity.addEventListener("level", this.onLevel);
    activity.addEventListener("sound", this.onLevel);
  }

  add({ turn_id: turnId, text, starts_at_ms: startsAtMs }) {
    if (typeof text !== "string" || !Number.isFinite(startsAtMs)) return;
    this.pending.push({ turnId, text, startsAtMs });
    this.reveal();
  }

  /** The reply was cut short: what was not heard is never shown. */
  cancel(turnId) {
    this.pending = this.pending.filter((chunk) => chunk.turnId !== turnId);
  }

  reveal() {
    if (this.pending.length === 0) return;
    const now = this.activity.now();
    const waiting = [];
    for (const chunk of this.pending) {
      const first = this.activity.firstSoundOf(chunk.turnId);
      const due = first === undefined ? Infinity : first + chunk.startsAtMs;
      if (now >= due) {
        this.show(chunk.turnId, chunk.text);
        this.shown.push({ t: now, turnId: chunk.turnId, startsAtMs: chunk.startsAtMs, due });
      } else {
        waiting.push(chunk);
      }
    }
    this.pending = waiting;
  }

  close() {
    this.activity.removeEventListener("level", this.onLevel);
    this.activity.removeEventListener("sound", this.onLevel);
    this.pending = [];
  }
}
