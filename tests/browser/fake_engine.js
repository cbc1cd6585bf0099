// Init script for the mocked browser tests: a scripted RTCPeerConnection standing in for the
// engine. Tests push engine events with window.__fakeEngine.emit({...}) and read what the page
// sent from window.__fakeEngine.sent. The "tutor's audio" is a 440 Hz tone, so the page's
// audio meter has something to measure.
(() => {
  const engine = { sent: [], channel: null, pc: null, offers: 0 };
  window.__fakeEngine = engine;

  class FakeChannel extends EventTarget {
    constructor(label) {
      super();
      this.label = label;
      this.readyState = "connecting";
    }
    send(data) {
      engine.sent.push(JSON.parse(data));
    }
    close() {
      this.readyState = "closed";
      this.dispatchEvent(new Event("close"));
    }
  }

  class FakePeerConnection extends EventTarget {
    constructor(config) {
      super();
      this.config = config;
      this.connectionState = "new";
      this.iceGatheringState = "new";
      this.localDescription = null;
      this.transceivers = [];
      engine.pc = this;
    }
    addTransceiver(trackOrKind, init) {
      this.transceivers.push({ kind: typeof trackOrKind === "string" ? trackOrKind : "track", init });
    }
    createDataChannel(label) {
      engine.channel = new FakeChannel(label);
      return engine.channel;
    }
    async createOffer() {
      engine.offers += 1;
      return { type: "offer", sdp: "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n" };
    }
    async setLocalDescription(description) {
      this.localDescription = description;
      this.iceGatheringState = "complete";
    }
    async setRemoteDescription(description) {
      this.remoteDescription = description;
      setTimeout(() => this.connect(), 50);
    }
    connect() {
      this.connectionState = "connected";
      this.dispatchEvent(new Event("connectionstatechange"));
      engine.channel.readyState = "open";
      engine.channel.dispatchEvent(new Event("open"));
      const context = new AudioContext();
      const tone = context.createOscillator();
      const sink = context.createMediaStreamDestination();
      tone.connect(sink);
      tone.start();
      const event = new Event("track");
      event.track = sink.stream.getAudioTracks()[0];
      event.streams = [sink.stream];
      this.dispatchEvent(event);
    }
    close() {
      this.connectionState = "closed";
    }
  }

  engine.emit = (message) => {
    engine.channel.dispatchEvent(new MessageEvent("message", { data: JSON.stringify(message) }));
  };
  window.RTCPeerConnection = FakePeerConnection;
})();
