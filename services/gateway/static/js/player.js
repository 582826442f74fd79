// Playback of the task's audio span through one <audio> element, in recording time.
// The gateway answers the span (plus the context asked for) as one WAV with the recording time of
// its first sample; every time here is recording time = that start + the element's currentTime,
// so word times, the waveform and the playhead agree without conversions elsewhere.

export const SPEEDS = [0.5, 0.75, 1, 1.25, 1.5, 2];

export class Player {
  /**
   * @param {HTMLAudioElement} audio
   * @param {{onTime: (t: number) => void, onState: (playing: boolean) => void}} hooks
   *   onTime runs every animation frame while playing (and after a seek), for the playhead.
   */
  constructor(audio, hooks) {
    this.audio = audio;
    this.hooks = hooks;
    this.startS = 0;
    this.url = "";
    this.ready = false;
    this.frame = 0;
    audio.addEventListener("play", () => {
      hooks.onState(true);
      this.tick();
    });
    audio.addEventListener("pause", () => hooks.onState(false));
    audio.addEventListener("ended", () => hooks.onState(false));
    audio.addEventListener("seeked", () => hooks.onTime(this.time));
    // A throttled tab gets few animation frames; the element's own clock still moves the playhead.
    audio.addEventListener("timeupdate", () => hooks.onTime(this.time));
  }

  get time() {
    return this.startS + (this.audio.currentTime || 0);
  }

  get playing() {
    return !this.audio.paused && !this.audio.ended;
  }

  get duration() {
    return Number.isFinite(this.audio.duration) ? this.audio.duration : 0;
  }

  /** Play a new span; resolves once the element knows its duration (false if it cannot play it). */
  load(blob, startS) {
    this.unload();
    this.startS = startS;
    this.url = URL.createObjectURL(blob);
    return new Promise((resolve) => {
      const done = (ok) => {
        this.audio.removeEventListener("loadedmetadata", onOk);
        this.audio.removeEventListener("error", onError);
        this.ready = ok;
        resolve(ok);
      };
      const onOk = () => done(true);
      const onError = () => done(false);
      this.audio.addEventListener("loadedmetadata", onOk);
      this.audio.addEventListener("error", onError);
      this.audio.src = this.url;
      this.audio.load();
    });
  }

  unload() {
    this.audio.pause();
    cancelAnimationFrame(this.frame);
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = "";
    this.ready = false;
    this.audio.removeAttribute("src");
    this.audio.load();
  }

  async play() {
    if (!this.ready) return;
    if (this.audio.ended || this.audio.currentTime >= this.duration) this.audio.currentTime = 0;
    try {
      await this.audio.play();
    } catch {
      this.hooks.onState(false); // refused (no user gesture yet): the button stays "play"
    }
  }

  pause() {
    this.audio.pause();
  }

  toggle() {
    return this.playing ? this.pause() : this.play();
  }

  /** Seek to a recording time, kept inside the span. */
  seek(t) {
    if (!this.ready) return;
    this.audio.currentTime = Math.min(Math.max(0, t - this.startS), Math.max(0, this.duration - 0.001));
    this.hooks.onTime(this.time);
  }

  /** Go back `seconds` and play: "what did they just say?". */
  replay(seconds = 2) {
    this.seek(this.time - seconds);
    return this.play();
  }

  set rate(value) {
    this.audio.playbackRate = value;
    this.audio.preservesPitch = true; // slowed speech stays intelligible
  }

  get rate() {
    return this.audio.playbackRate;
  }

  /** Loop the whole span, context included: the element loops seamlessly on its own. */
  set loop(on) {
    this.audio.loop = on;
  }

  tick() {
    cancelAnimationFrame(this.frame);
    const step = () => {
      this.hooks.onTime(this.time);
      if (this.playing) this.frame = requestAnimationFrame(step);
    };
    this.frame = requestAnimationFrame(step);
  }
}
