// The part of the task screen every kind shares: what the task is, why it is here (the gate's
// verdict, a reviewer's reasons), the neighbours read-only, the audio with its waveform and
// playhead, and the words strip. The kind's own panel (editor, review, labels) plugs in; words
// shown are the panel's, so an edit redraws the strip, the turns and the legend at once.

import { esc, fixed, kindName, speakerOrder, stateName, timecode, due } from "./format.js";
import { isUnspaced, joinWords, textDirection } from "./align.js";
import { WordStrip, flaggedWords } from "./words.js";
import { Waveform, legendHtml, turnsOf } from "./waveform.js";
import { Player, SPEEDS } from "./player.js";
import { prefs } from "./storage.js";

const $ = (id) => document.getElementById(id);
/** A WAV of no samples: dispatch answers one when the segment's audio was not kept. */
const WAV_HEADER_BYTES = 44;

/** The language a task's text is in: the segment's own tag, else the task's dialect or language. */
export function languageOf(task) {
  return task?.segment?.language || task?.dialect || task?.language || "";
}

/** Mark an element as holding text of `language`: `lang` for fonts and hyphens, `dir` for RTL. */
export function setLanguage(el, language) {
  if (language) el.lang = language;
  else el.removeAttribute("lang");
  el.dir = textDirection(language);
}

export class TaskView {
  /** @param {{api, onWordsShown: (words) => void, onAudioReady: (ready: boolean) => void}} hooks */
  constructor(hooks) {
    this.hooks = hooks;
    this.task = null;
    this.words = [];
    this.order = [];
    this.baseOrder = [];
    this.flags = new Map();
    this.panel = null;
    this.loadSerial = 0;
    this.strip = new WordStrip($("words"), (i) => this.select(i));
    this.waveform = new Waveform($("waveform"), (t) => this.player.seek(t));
    this.player = new Player($("audio"), {
      onTime: (t) => this.onTime(t),
      onState: (playing) => {
        $("play").dataset.playing = String(playing);
        $("play").textContent = playing ? "❚❚ Pause" : "▶ Play";
      },
    });
    $("play").addEventListener("click", () => this.player.toggle());
    $("speed").addEventListener("change", () => this.setSpeed(Number($("speed").value)));
    $("loop").addEventListener("change", () => (this.player.loop = $("loop").checked));
    $("context").addEventListener("change", () => {
      prefs.set("context_s", $("context").value);
      this.loadAudio();
    });
    $("context").value = String(prefs.get("context_s", "2"));
    $("speed").value = String(prefs.get("speed", "1"));
    this.player.rate = Number($("speed").value);
  }

  /** Show a task; the panel fills in the kind's part and returns the words to show. */
  open(task, panel) {
    this.close();
    this.task = task;
    this.panel = panel;
    const language = languageOf(task);
    const screen = $("task");
    screen.dataset.taskId = task.task_id;
    screen.dataset.kind = task.kind || "";
    $("task-kind").textContent = kindName(task.kind);
    $("task-kind").dataset.kind = task.kind || "";
    $("task-meta").innerHTML = this.metaHtml(task);
    const guidelines = $("guidelines");
    guidelines.hidden = !task.guidelines_url;
    guidelines.href = task.guidelines_url || "#";
    this.renderSentBack(task);
    this.renderVerdict(task);
    setLanguage($("words"), language);
    const me = task.segment?.start_s || 0;
    const neighbours = task.context_segments || [];
    this.before = neighbours.filter((s) => (s.start_s || 0) < me);
    this.after = neighbours.filter((s) => (s.start_s || 0) >= me);
    this.baseOrder = speakerOrder([task.segment || {}, ...neighbours]);
    this.renderContext($("context-before"), this.before);
    this.renderContext($("context-after"), this.after);
    this.strip.selected = this.strip.current = -1;
    this.loadAudio();
  }

  close() {
    this.loadSerial++;
    this.strip.render([], {});
    this.words = [];
    for (const id of ["context-before", "context-after", "verdict", "task-meta"]) $(id).innerHTML = "";
    this.player.unload();
    this.waveform.clear();
    this.hooks.onAudioReady(false);
    this.task = null;
    this.panel = null;
  }

  metaHtml(task) {
    const seg = task.segment || {};
    const deadline = due(task.deadline);
    const parts = [
      ["recording", esc(task.context?.recording_id || "–")],
      ["segment", `<span class="mono">${timecode(seg.start_s)}–${timecode(seg.end_s)}</span>`],
      ["language", esc(task.dialect || task.language || seg.language || "–")],
      ["speaker", esc(seg.speaker || "–")],
      ["tier", esc(task.tier || "–")],
      ["priority", esc(task.priority ?? 0)],
      ["version", esc(task.version ?? 0)],
      ["state", esc(stateName(task.state))],
      ["deadline", `<span class="${deadline.overdue ? "overdue" : ""}">${esc(deadline.text)}</span>`],
    ];
    if (task.context?.domain) parts.splice(1, 0, ["domain", esc(task.context.domain)]);
    return parts.map(([k, v]) => `<span class="kv"><span class="k">${k}</span> ${v}</span>`).join("");
  }

  renderSentBack(task) {
    const el = $("review-reasons");
    const reasons = task.review_reasons || [];
    el.hidden = !reasons.length;
    const times = (task.rejections || 0) > 1 ? ` (${task.rejections} times)` : "";
    el.innerHTML = reasons.length
      ? `<b>Sent back${times}:</b> <ul>${reasons.map((r) => `<li>${esc(r)}</li>`).join("")}</ul>`
      : "";
  }

  renderVerdict(task) {
    const v = task.verdict || {};
    const fired = (v.detectors || []).filter((d) => d.fired);
    const quiet = (v.detectors || []).filter((d) => !d.fired);
    const detector = (d) =>
      `<li class="detector${d.fired ? " fired" : ""}" data-name="${esc(d.name)}"><b>${esc(d.name)}</b> ` +
      `<span class="mono">${fixed(d.score)} ${d.fired ? "≥" : "<"} ${fixed(d.threshold)}</span>` +
      (d.evidence ? `<div class="evidence">${esc(d.evidence)}</div>` : "") +
      "</li>";
    $("verdict").innerHTML =
      `<h3>Quality gate</h3><p class="meta">${esc((v.route || "ROUTE_UNSPECIFIED").replace(/^ROUTE_/, "").toLowerCase().replace(/_/g, " "))}` +
      ` · confidence ${fixed(v.confidence)} · risk ${esc(v.risk_tier || "–")}</p>` +
      (v.reasons?.length ? `<ul class="reasons">${v.reasons.map((r) => `<li>${esc(r)}</li>`).join("")}</ul>` : "") +
      (fired.length ? `<ul class="detectors">${fired.map(detector).join("")}</ul>` : '<p class="hint">no detector fired</p>') +
      (quiet.length ? `<details><summary>${quiet.length} check${quiet.length === 1 ? "" : "s"} passed</summary><ul class="detectors">${quiet.map(detector).join("")}</ul></details>` : "");
  }

  renderContext(el, segments) {
    el.innerHTML = segments
      .map((s) => {
        const dir = textDirection(s.language || languageOf(this.task));
        const text = s.text?.trim() || joinWords(s.words || [], s.language);
        return `<div class="context-segment" data-segment-id="${esc(s.segment_id)}" dir="${dir}" lang="${esc(s.language || "")}">` +
          `<span class="mono">${timecode(s.start_s)}–${timecode(s.end_s)}</span> <span class="who">${esc(s.speaker || "")}</span> ${esc(text)}</div>`;
      })
      .join("");
  }

  /** Show these words (the panel's current ones): strip, turns, legend, flags. */
  showWords(words) {
    this.words = words;
    const task = this.task;
    const language = languageOf(task);
    // The task's own speakers keep their colours; speakers a person adds come after them.
    const added = speakerOrder([{ words }]).filter((s) => !this.baseOrder.includes(s));
    this.order = [...this.baseOrder, ...added];
    this.flags = flaggedWords(words, task.verdict, language);
    const unspaced = isUnspaced(language, words.map((w) => w.text).join(""));
    this.strip.render(words, { flags: this.flags, order: this.order, joiner: unspaced ? "" : " " });
    $("words").classList.toggle("unspaced", unspaced);
    const turns = [...this.before.flatMap((s) => turnsOf(s.words || [])), ...turnsOf(words), ...this.after.flatMap((s) => turnsOf(s.words || []))];
    const seg = task.segment || {};
    const span = { start: seg.start_s || 0, end: seg.end_s || 0 };
    this.waveform.set({ span, turns, order: this.order, selection: this.selectedWord() || null, range: this.expectedRange(span) });
    const speakers = [...new Set(turns.map((t) => t.speaker).filter(Boolean))].sort();
    $("waveform-legend").innerHTML = legendHtml(speakers, this.order) + '<span class="legend-item"><span class="swatch context"></span>context</span>';
    this.hooks.onWordsShown(words);
  }

  expectedRange(span) {
    const context = Number($("context").value) || 0;
    return { start: Math.max(0, span.start - context), end: span.end + context };
  }

  selectedWord() {
    return this.words[this.strip.selected];
  }

  /** Select a word: mark it, show its boundaries, seek to its start; the panel hears of it. */
  select(index, { seek = true } = {}) {
    if (index < 0 || index >= this.words.length) return;
    this.strip.setSelected(index);
    const word = this.words[index];
    this.waveform.set({ selection: word });
    if (seek) this.player.seek(word.start_s || 0);
    this.panel?.onSelect?.(index);
  }

  /** The next (+1) or previous (-1) uncertain word from the selection, wrapping round. */
  stepLow(direction) {
    const n = this.words.length;
    const from = this.strip.selected < 0 ? (direction > 0 ? -1 : n) : this.strip.selected;
    for (let k = 1; k <= n; k++) {
      const i = (((from + direction * k) % n) + n) % n;
      if ((this.words[i].probability ?? 0) < 0.5) return i;
    }
    return -1;
  }

  onTime(t) {
    this.waveform.setTime(t);
    this.strip.follow(t);
    $("time").textContent = timecode(t);
  }

  setSpeed(value) {
    this.player.rate = value;
    $("speed").value = String(value);
    prefs.set("speed", String(value));
  }

  /** One step up or down the speed list. */
  stepSpeed(direction) {
    const i = SPEEDS.indexOf(this.player.rate);
    const next = SPEEDS[Math.min(SPEEDS.length - 1, Math.max(0, (i < 0 ? 2 : i) + direction))];
    this.setSpeed(next);
  }

  toggleLoop() {
    $("loop").checked = !$("loop").checked;
    this.player.loop = $("loop").checked;
  }

  /** Fetch the span (with the context asked for) and show it; a newer request wins. */
  async loadAudio() {
    const task = this.task;
    if (!task) return;
    const serial = ++this.loadSerial;
    this.hooks.onAudioReady(false);
    this.waveform.clear("loading audio…");
    try {
      const { blob, startS } = await this.hooks.api.audio(task.task_id, Number($("context").value) || 0);
      if (serial !== this.loadSerial) return;
      const [playable] = await Promise.all([this.player.load(blob, startS), blob.arrayBuffer().then((b) => this.waveform.load(b, startS))]);
      if (serial !== this.loadSerial) return;
      if (blob.size <= WAV_HEADER_BYTES) this.waveform.clear("no audio is stored for this segment");
      this.player.loop = $("loop").checked;
      this.player.rate = Number($("speed").value);
      this.onTime(startS);
      this.hooks.onAudioReady(playable);
    } catch (error) {
      if (serial === this.loadSerial) this.waveform.clear(`audio unavailable: ${error.text || error.message}`);
    }
  }
}
