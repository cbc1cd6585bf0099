// The call over the engine's WebSocket, for when WebRTC cannot connect.
//
// Messages are the engine's JSON events, as on the data channel. The microphone is captured
// with an AudioWorklet at 16 kHz and sent as PCM16 `audio` messages; each `audio` message the
// engine sends is one WAV chunk of the tutor's speech, decoded and played in order with
// WebAudio into a MediaStream, so the page plays and meters it like WebRTC's track.

const MIC_RATE = 16000;
const SAMPLES_PER_MESSAGE = 640; // 40 ms
const HELLO_TIMEOUT_MS = 10000;

export class SocketLink {
  /** `on` holds callbacks: message(event), stream(mediaStream), closed({code, reason}). */
  constructor(session, on) {
    this.session = session;
    this.on = on;
    this.ws = null;
    this.hello = null;
    this.mic = null;
    this.player = null;
    this.playing = Promise.resolve();
    this.sources = new Set();
    this.nextStart = 0;
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN && this.hello !== null;
  }

  /** Connect; resolves with the engine's hello, rejects if the socket closes before it. */
  open() {
    const url = new URL(this.session.websocket_url, window.location.href);
    url.searchParams.set("token", this.session.engine_token);
    this.ws = new WebSocket(url.href);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error("the engine did not answer")),
        HELLO_TIMEOUT_MS,
      );
      this.ws.addEventListener("message", (event) => {
        let message;
        try {
          message = JSON.parse(event.data);
        } catch {
          return;
        }
        if (!message || typeof message.type !== "string") return;
        if (this.hello === null) {
          clearTimeout(timer);
          if (message.type !== "hello") return reject(new Error(message.content || "refused"));
          this.hello = message;
          return resolve(message);
        }
        this.receive(message);
      });
      this.ws.addEventListener("close", (event) => {
        clearTimeout(timer);
        if (this.hello === null) reject(new Error(event.reason || `closed (${event.code})`));
        this.stopPlayback();
        this.on.closed({ code: event.code, reason: event.reason });
      });
    });
  }

  send(message) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  receive(message) {
    if (message.type === "audio") {
      this.play(message.data);
      return;
    }
    if (message.type === "tts" && message.state === "interrupted") this.stopPlayback();
    this.on.message(message);
  }

  /** The tutor's audio: a MediaStream of every chunk played so far, created on first use. */
  ensurePlayer() {
    if (this.player) return this.player;
    const context = new AudioContext();
    const output = context.createMediaStreamDestination();
    this.player = { context, output };
    this.on.stream(output.stream);
    return this.player;
  }

  /** Decode one WAV chunk and play it after those before it (decoding keeps their order). */
  play(base64) {
    const { context, output } = this.ensurePlayer();
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const decoded = context.decodeAudioData(bytes.buffer);
    this.playing = this.playing.then(async () => {
      let buffer;
      try {
        buffer = await decoded;
      } catch (error) {
        console.warn("a chunk of the tutor's audio cannot be decoded:", error.message);
        return;
      }
      if (context.state === "suspended") await context.resume().catch(() => {});
      const source = context.createBufferSource();
      source.buffer = buffer;
      source.connect(output);
      const start = Math.max(context.currentTime, this.nextStart);
      source.start(start);
      this.nextStart = start + buffer.duration;
      this.sources.add(source);
      source.addEventListener("ended", () => this.sources.delete(source));
    });
  }

  /** Barge-in: stop what is playing and drop what is queued. */
  stopPlayback() {
    for (const source of this.sources) source.stop();
    this.sources.clear();
    this.nextStart = 0;
  }

  /** Send the microphone as 16 kHz PCM16, 40 ms a message. */
  async startMicrophone(stream) {
    const context = new AudioContext({ sampleRate: MIC_RATE });
    await context.audioWorklet.addModule(new URL("./pcm-worklet.js", import.meta.url));
    const source = context.createMediaStreamSource(stream);
    const capture = new AudioWorkletNode(context, "pcm-capture");
    const mute = context.createGain();
    mute.gain.value = 0; // the worklet only runs when pulled to the destination; nothing is heard
    source.connect(capture).connect(mute).connect(context.destination);
    let pending = new Int16Array(SAMPLES_PER_MESSAGE);
    let filled = 0;
    capture.port.onmessage = ({ data }) => {
      for (let i = 0; i < data.length; i++) {
        pending[filled++] = Math.max(-32768, Math.min(32767, Math.round(data[i] * 32767)));
        if (filled === SAMPLES_PER_MESSAGE) {
          this.send({ type: "audio", data: toBase64(new Uint8Array(pending.buffer)) });
          pending = new Int16Array(SAMPLES_PER_MESSAGE);
          filled = 0;
        }
      }
    };
    if (context.state === "suspended") await context.resume().catch(() => {});
    this.mic = context;
  }

  close() {
    this.stopPlayback();
    if (this.mic) this.mic.close().catch(() => {});
    if (this.player) this.player.context.close().catch(() => {});
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000, "hangup");
  }
}

function toBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
