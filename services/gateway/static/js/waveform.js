// The span's waveform on a <canvas>, drawn here without libraries: peaks decoded with Web Audio,
// speaker turns as coloured bands (with a legend), the context before and after the segment
// shaded, the selected word's boundaries, a playhead, and a time axis; a click seeks.
//
// Everything static (peaks, turns, shading, axis, selection) is drawn once into an offscreen
// canvas; a playhead move only copies it back and draws one line, so playback stays cheap.

import { SPEAKER_COLOURS, esc, speakerSlot, timecode } from "./format.js";

/** Peaks kept per decoded second: enough for a 4k-wide canvas on a 30 s span. */
const PEAKS_PER_S = 200;
const BAND_PX = 7;
const AXIS_PX = 16;

/** Consecutive words of one speaker as turns [{start_s, end_s, speaker}]. */
export function turnsOf(words) {
  const turns = [];
  for (const w of words) {
    const speaker = w.speaker || "";
    const last = turns[turns.length - 1];
    if (last && last.speaker === speaker) last.end_s = Math.max(last.end_s, w.end_s || 0);
    else turns.push({ start_s: w.start_s || 0, end_s: w.end_s || 0, speaker });
  }
  return turns;
}

/** The legend under the canvas: one swatch per speaker, as `spk-N` classes colour them. */
export function legendHtml(speakers, order) {
  return speakers
    .map((s) => `<span class="legend-item"><span class="swatch spk-${speakerSlot(s, order)}"></span>${esc(s)}</span>`)
    .join("");
}

/** Min/max pairs per bucket of the decoded audio (channels mixed), as one Float32Array. */
function peaksOf(buffer) {
  const channels = [];
  for (let c = 0; c < buffer.numberOfChannels; c++) channels.push(buffer.getChannelData(c));
  const per = Math.max(1, Math.floor(buffer.sampleRate / PEAKS_PER_S));
  const buckets = Math.ceil(buffer.length / per);
  const peaks = new Float32Array(buckets * 2);
  for (let b = 0; b < buckets; b++) {
    let lo = 0;
    let hi = 0;
    const end = Math.min(buffer.length, (b + 1) * per);
    for (let i = b * per; i < end; i++) {
      let v = 0;
      for (const data of channels) v += data[i];
      v /= channels.length;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    peaks[b * 2] = lo;
    peaks[b * 2 + 1] = hi;
  }
  return peaks;
}

export class Waveform {
  /** @param {HTMLCanvasElement} canvas  @param {(recordingTimeS: number) => void} onSeek */
  constructor(canvas, onSeek) {
    this.canvas = canvas;
    this.layer = document.createElement("canvas");
    this.peaks = null;
    this.range = { start: 0, end: 1 }; // recording times the canvas spans (the audio)
    this.span = { start: 0, end: 1 }; // the segment itself; outside it is context
    this.turns = [];
    this.order = [];
    this.selection = null;
    this.time = NaN;
    this.message = "no audio";
    this.frame = 0;
    canvas.addEventListener("click", (event) => {
      const box = canvas.getBoundingClientRect();
      const x = (event.clientX - box.left) / box.width;
      onSeek(this.range.start + x * (this.range.end - this.range.start));
    });
    new ResizeObserver(() => this.render()).observe(canvas);
  }

  /** Decode a WAV (any format the browser decodes) and keep its peaks; false when it cannot. */
  async load(arrayBuffer, startS) {
    try {
      const context = new OfflineAudioContext(1, 1, 16000);
      const buffer = await context.decodeAudioData(arrayBuffer);
      this.peaks = peaksOf(buffer);
      this.range = { start: startS, end: startS + Math.max(buffer.duration, 0.01) };
      this.message = "";
      this.render();
      return true;
    } catch (exc) {
      this.peaks = null;
      this.message = `audio could not be decoded (${exc.message || exc})`;
      this.render();
      return false;
    }
  }

  clear(message = "no audio") {
    this.peaks = null;
    this.message = message;
    this.render();
  }

  /** What to draw besides the peaks; anything left out keeps its value. */
  set({ span, turns, order, selection, range } = {}) {
    if (span) this.span = span;
    if (turns) this.turns = turns;
    if (order) this.order = order;
    if (selection !== undefined) this.selection = selection;
    if (range && !this.peaks) this.range = range;
    this.schedule();
  }

  /** Redraw on the next frame: a burst of edits (typing) costs one redraw. */
  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  setTime(t) {
    this.time = t;
    this.present();
  }

  x(t, width) {
    return ((t - this.range.start) / (this.range.end - this.range.start || 1)) * width;
  }

  /** Redraw the static layer at the canvas's current size and pixel ratio. */
  render() {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(this.canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(this.canvas.clientHeight * ratio));
    for (const c of [this.canvas, this.layer]) {
      if (c.width !== width) c.width = width;
      if (c.height !== height) c.height = height;
    }
    const g = this.layer.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    const w = width / ratio;
    const h = height / ratio;
    const wave = { top: BAND_PX + 2, bottom: h - AXIS_PX };
    g.clearRect(0, 0, w, h);
    g.fillStyle = "#fbfcfd";
    g.fillRect(0, 0, w, h);
    for (const turn of this.turns) {
      const x0 = this.x(turn.start_s, w);
      const x1 = Math.max(x0 + 1, this.x(turn.end_s, w));
      const colour = turn.speaker ? SPEAKER_COLOURS[speakerSlot(turn.speaker, this.order)] : "#999";
      g.fillStyle = colour;
      g.fillRect(x0, 0, x1 - x0, BAND_PX);
      g.globalAlpha = 0.1;
      g.fillRect(x0, wave.top, x1 - x0, wave.bottom - wave.top);
      g.globalAlpha = 1;
    }
    this.drawPeaks(g, w, wave);
    // Context before and after the segment: shaded, so the span to transcribe stands out.
    g.fillStyle = "rgba(90, 100, 115, 0.28)";
    const s0 = this.x(this.span.start, w);
    const s1 = this.x(this.span.end, w);
    if (s0 > 0) g.fillRect(0, BAND_PX, s0, wave.bottom - BAND_PX);
    if (s1 < w) g.fillRect(s1, BAND_PX, w - s1, wave.bottom - BAND_PX);
    if (this.selection) {
      const a = this.x(this.selection.start_s, w);
      const b = this.x(this.selection.end_s, w);
      g.fillStyle = "rgba(0, 114, 178, 0.16)";
      g.fillRect(a, wave.top, Math.max(1, b - a), wave.bottom - wave.top);
      g.strokeStyle = "#0072B2";
      g.lineWidth = 1.5;
      for (const x of [a, b]) {
        g.beginPath();
        g.moveTo(x, wave.top);
        g.lineTo(x, wave.bottom);
        g.stroke();
      }
    }
    this.drawAxis(g, w, h);
    this.present();
  }

  drawPeaks(g, w, { top, bottom }) {
    const mid = (top + bottom) / 2;
    const half = (bottom - top) / 2;
    g.strokeStyle = "#e3e7ec";
    g.beginPath();
    g.moveTo(0, mid);
    g.lineTo(w, mid);
    g.stroke();
    if (!this.peaks) {
      g.fillStyle = "#6b7480";
      g.font = "12px system-ui, sans-serif";
      g.textAlign = "center";
      g.fillText(this.message, w / 2, mid + 4);
      return;
    }
    const buckets = this.peaks.length / 2;
    let max = 0.05; // quiet recordings are scaled up, but silence stays flat
    for (let i = 0; i < this.peaks.length; i++) max = Math.max(max, Math.abs(this.peaks[i]));
    g.fillStyle = "#34495e";
    for (let px = 0; px < w; px++) {
      const b0 = Math.floor((px / w) * buckets);
      const b1 = Math.max(b0 + 1, Math.floor(((px + 1) / w) * buckets));
      let lo = 0;
      let hi = 0;
      for (let b = b0; b < b1 && b < buckets; b++) {
        lo = Math.min(lo, this.peaks[b * 2]);
        hi = Math.max(hi, this.peaks[b * 2 + 1]);
      }
      const y0 = mid - (hi / max) * half;
      const y1 = mid - (lo / max) * half;
      g.fillRect(px, y0, 1, Math.max(1, y1 - y0));
    }
  }

  drawAxis(g, w, h) {
    const length = this.range.end - this.range.start;
    const step = [0.25, 0.5, 1, 2, 5, 10, 30, 60].find((s) => (w / length) * s >= 70) || 120;
    g.fillStyle = "#6b7480";
    g.strokeStyle = "#c5ccd4";
    g.font = "10px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace";
    g.textAlign = "left";
    for (let t = Math.ceil(this.range.start / step) * step; t <= this.range.end; t += step) {
      const x = Math.round(this.x(t, w)) + 0.5;
      g.beginPath();
      g.moveTo(x, h - AXIS_PX);
      g.lineTo(x, h - AXIS_PX + 4);
      g.stroke();
      g.fillText(step >= 1 ? timecode(t).replace(/\.\d+$/, "") : timecode(t), x + 2, h - 4);
    }
  }

  /** Copy the static layer and draw the playhead on top. */
  present() {
    const g = this.canvas.getContext("2d");
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.clearRect(0, 0, this.canvas.width, this.canvas.height);
    g.drawImage(this.layer, 0, 0);
    if (!Number.isFinite(this.time)) return;
    const x = Math.round(this.x(this.time, this.canvas.width)) + 0.5;
    g.strokeStyle = "#D55E00";
    g.lineWidth = Math.max(1, window.devicePixelRatio || 1) * 1.5;
    g.beginPath();
    g.moveTo(x, 0);
    g.lineTo(x, this.canvas.height);
    g.stroke();
  }
}
