// The loudness of a MediaStream, read through a WebAudio AnalyserNode.

/** Measures the RMS energy of one stream; `peak` keeps the loudest value seen while sampling. */
export class AudioMeter {
  constructor(audioContext) {
    this.context = audioContext;
    this.analyser = audioContext.createAnalyser();
    this.analyser.fftSize = 2048;
    this.samples = new Float32Array(this.analyser.fftSize);
    this.source = null;
    this.peak = 0;
    this.timer = null;
  }

  attach(stream) {
    this.detachSource();
    this.source = this.context.createMediaStreamSource(stream);
    this.source.connect(this.analyser);
    if (this.context.state === "suspended") this.context.resume().catch(() => {});
    if (this.timer === null) this.timer = setInterval(() => this.energy(), 100);
  }

  /** RMS of the latest window, between 0 (silence) and 1 (full scale). */
  energy() {
    if (!this.source) return 0;
    this.analyser.getFloatTimeDomainData(this.samples);
    let sum = 0;
    for (const sample of this.samples) sum += sample * sample;
    const rms = Math.sqrt(sum / this.samples.length);
    if (rms > this.peak) this.peak = rms;
    return rms;
  }

  detachSource() {
    if (this.source) this.source.disconnect();
    this.source = null;
  }

  close() {
    clearInterval(this.timer);
    this.timer = null;
    this.detachSource();
  }
}
