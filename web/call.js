// One call with a tutor: the peer connection, the microphone, the "chat" data channel, hang-up.
//
// The browser's callbacks are converted here, once, into DOM events on the TutorCall:
//   "state"      detail {state}: new | microphone | gathering | connecting | connected |
//                disconnected | failed | closed
//   "microphone" detail {problem, detail}: problem is null when the microphone is live
//   "track"      detail {stream}: the tutor's audio
//   "chat"       detail {open}: the data channel opened or closed
//   "message"    detail: one parsed JSON event from the engine
//   "transport"  detail {name}: "websocket" when WebRTC could not connect and the call fell back
//
// When WebRTC does not connect within WEBRTC_CONNECT_TIMEOUT_MS (or fails outright), the call
// goes on over the engine's WebSocket (socket-call.js): same session, same conversation.

import { openMicrophone } from "./microphone.js";
import { SocketLink } from "./socket-call.js";

const ICE_GATHERING_TIMEOUT_MS = 5000;
const WEBRTC_CONNECT_TIMEOUT_MS = 6000;

/** A failure while setting up or tearing down the call; `status` is the engine's HTTP status. */
export class CallError extends Error {
  constructor(message, { status = 0 } = {}) {
    super(message);
    this.name = "CallError";
    this.status = status;
  }
}

// A `ping` on the data channel this often; the engine ends a call silent for 8 s.
const HEARTBEAT_MS = 1500;

export class TutorCall extends EventTarget {
  /** `session` is the API's answer to starting a session: {session_id, engine_url, engine_token,
   * ice_servers, ice_transport_policy}. */
  constructor(session) {
    super();
    this.session = session;
    this.state = "new";
    this.pc = null;
    this.channel = null;
    this.microphone = null;
    this.callUrl = null;
    this.remoteStream = null;
    this.heartbeat = null;
    this.link = null;
    this.transport = "webrtc";
  }

  get muted() {
    const track = this.microphoneTrack;
    return track ? !track.enabled : false;
  }

  get microphoneTrack() {
    return this.microphone ? this.microphone.getAudioTracks()[0] || null : null;
  }

  get chatOpen() {
    if (this.link) return this.link.isOpen;
    return this.channel !== null && this.channel.readyState === "open";
  }

  /** Open the microphone and connect: WebRTC, or the WebSocket when WebRTC cannot connect. */
  async start() {
    try {
      await this.startWebRtc();
      await connected(this.pc, WEBRTC_CONNECT_TIMEOUT_MS);
    } catch (failure) {
      if (this.state === "closed") return;
      // The engine refused the call (it answered with an error): a socket would be refused too.
      if (!this.session.websocket_url || failure.status) throw failure;
      console.warn("WebRTC did not connect, falling back to the WebSocket:", failure.message);
      await this.startSocket();
    }
  }

  /** The call over the engine's WebSocket, in place of a peer connection that did not connect. */
  async startSocket() {
    if (this.pc) {
      const pc = this.pc;
      this.pc = null;
      this.channel = null;
      pc.close();
    }
    this.callUrl = null; // the WebRTC call never connected; the engine replaces it
    this.transport = "websocket";
    this.emit("transport", { name: "websocket" });
    this.setState("connecting");
    this.link = new SocketLink(this.session, {
      message: (message) => this.emit("message", message),
      stream: (stream) => {
        this.remoteStream = stream;
        this.emit("track", { stream });
      },
      closed: () => {
        this.emit("chat", { open: false });
        this.close();
      },
    });
    await this.link.open();
    if (this.state === "closed") return;
    this.setState("connected");
    this.emit("chat", { open: true });
    this.link.ensurePlayer();
    const track = this.microphoneTrack;
    if (track) await this.link.startMicrophone(this.microphone);
  }

  /** Open the microphone, negotiate with the engine and resolve once the answer is applied. */
  async startWebRtc() {
    this.setState("microphone");
    const { stream, problem, detail } = await openMicrophone();
    if (this.state === "closed") {
      // Hung up while the permission prompt was open.
      if (stream) for (const track of stream.getTracks()) track.stop();
      return;
    }
    this.microphone = stream;
    this.emit("microphone", { problem, detail });

    // STUN/TURN servers (with short-lived TURN credentials) come with the session; "relay"
    // sends everything through TURN, as an operator may require.
    const pc = new RTCPeerConnection({
      iceServers: this.session.ice_servers || [],
      iceTransportPolicy: this.session.ice_transport_policy === "relay" ? "relay" : "all",
    });
    this.pc = pc;
    this.watch(pc);
    const track = this.microphoneTrack;
    if (track) {
      pc.addTransceiver(track, { direction: "sendrecv", streams: [stream] });
    } else {
      // Without a microphone the tutor is still heard.
      pc.addTransceiver("audio", { direction: "recvonly" });
    }
    this.channel = pc.createDataChannel("chat");
    this.watchChannel(this.channel);

    this.setState("gathering");
    await pc.setLocalDescription(await pc.createOffer());
    await iceGatheringComplete(pc);
    if (this.state === "closed") return;

    this.setState("connecting");
    const answer = await this.postOffer(pc.localDescription.sdp);
    if (this.state === "closed") return;
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
  }

  async postOffer(sdp) {
    const url = this.session.engine_url;
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: {
          Authorization: `Bearer ${this.session.engine_token}`,
          "Content-Type": "application/sdp",
        },
        body: sdp,
      });
    } catch (cause) {
      throw new CallError(cause.message || "the engine cannot be reached");
    }
    const body = await response.text();
    if (response.status !== 201 && response.status !== 200) {
      throw new CallError(engineMessage(body) || `HTTP ${response.status}`, {
        status: response.status,
      });
    }
    const location = response.headers.get("Location");
    this.callUrl = location ? new URL(location, new URL(url, window.location.href)).href : null;
    return body;
  }

  /** Send a typed message; false when the data channel is not open. */
  sendText(content) {
    if (!this.chatOpen) return false;
    if (this.link) return this.link.send({ type: "text", content });
    this.channel.send(JSON.stringify({ type: "text", content }));
    return true;
  }

  /** Ask the tutor to stop talking (as a barge-in does); false when the chat is not open. */
  stopTutor() {
    if (!this.chatOpen) return false;
    if (this.link) return this.link.send({ type: "stop" });
    this.channel.send(JSON.stringify({ type: "stop" }));
    return true;
  }

  setMuted(muted) {
    const track = this.microphoneTrack;
    if (track) track.enabled = !muted;
  }

  /**
   * End the call resource on the engine, then run `endSession` (the API's end of the session),
   * then close the peer connection. Never rejects; a failed DELETE is logged and the engine ends
   * the call anyway when the peer connection closes.
   */
  async hangUp(endSession = async () => {}) {
    if (this.callUrl) {
      try {
        const response = await fetch(this.callUrl, {
          method: "DELETE",
          headers: { Authorization: `Bearer ${this.session.engine_token}` },
        });
        if (!response.ok && response.status !== 404) {
          console.warn(`ending the call answered HTTP ${response.status}`);
        }
      } catch (error) {
        console.warn("ending the call failed:", error.message);
      }
    }
    try {
      await endSession();
    } finally {
      this.close();
    }
  }

  /** The page is going away: ask the engine to end the call (a request that outlives the page). */
  hangUpOnUnload() {
    if (this.callUrl && this.state !== "closed") {
      fetch(this.callUrl, {
        method: "DELETE",
        headers: { Authorization: `Bearer ${this.session.engine_token}` },
        keepalive: true,
      }).catch(() => {});
    }
    this.close();
  }

  /** Close the peer connection and release the microphone. */
  close() {
    if (this.state === "closed") return;
    this.setState("closed");
    clearInterval(this.heartbeat);
    if (this.channel) this.channel.close();
    if (this.pc) this.pc.close();
    if (this.link) this.link.close();
    if (this.microphone) for (const track of this.microphone.getTracks()) track.stop();
  }

  watch(pc) {
    pc.addEventListener("connectionstatechange", () => {
      if (this.state === "closed" || this.pc !== pc) return;
      const state = pc.connectionState;
      if (state === "connected" || state === "disconnected" || state === "failed") {
        this.setState(state);
      } else if (state === "closed") {
        this.close();
      }
    });
    pc.addEventListener("track", (event) => {
      this.remoteStream = event.streams[0] || new MediaStream([event.track]);
      this.emit("track", { stream: this.remoteStream });
    });
  }

  watchChannel(channel) {
    channel.addEventListener("open", () => {
      this.emit("chat", { open: true });
      // Without audio (a muted or missing microphone), this tells the engine we are here.
      this.heartbeat = setInterval(() => {
        if (channel.readyState === "open") channel.send(JSON.stringify({ type: "ping" }));
      }, HEARTBEAT_MS);
    });
    channel.addEventListener("close", () => {
      clearInterval(this.heartbeat);
      this.emit("chat", { open: false });
    });
    channel.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        console.warn("ignoring a data-channel message that is not JSON");
        return;
      }
      if (message && typeof message.type === "string") this.emit("message", message);
    });
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.emit("state", { state });
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

function engineMessage(body) {
  try {
    return JSON.parse(body).error.message;
  } catch {
    return "";
  }
}

/** Resolves once `pc` connects; rejects when it fails or takes longer than `timeoutMs`. */
function connected(pc, timeoutMs) {
  if (pc && pc.connectionState === "connected") return Promise.resolve();
  if (!pc) return Promise.reject(new Error("no peer connection"));
  return new Promise((resolve, reject) => {
    const done = (error) => {
      clearTimeout(timer);
      pc.removeEventListener("connectionstatechange", check);
      if (error) reject(error);
      else resolve();
    };
    const check = () => {
      if (pc.connectionState === "connected") done();
      else if (pc.connectionState === "failed") done(new Error("the connection failed"));
    };
    const timer = setTimeout(() => done(new Error("no connection in time")), timeoutMs);
    pc.addEventListener("connectionstatechange", check);
  });
}

/** Resolves when ICE gathering completes (non-trickle), or after a timeout with what was found. */
function iceGatheringComplete(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const timer = setTimeout(done, ICE_GATHERING_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", check);
  });
}
