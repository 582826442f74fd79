// The correction panel: type over the draft, and the words follow (align.js keeps the draft's
// times for kept words and shares a span among new ones); per word, change the speaker and nudge
// its boundaries; split the segment at a word or merge the next one in; flags and notes.
// Every change is handed to `changed()` at once, which keeps it in localStorage: a reload, a
// crash or a lost connection loses nothing typed.

import { FLAGS, timecode } from "./format.js";
import { isUnspaced, joinWords, realign, tokenize } from "./align.js";
import { languageOf, setLanguage } from "./taskview.js";

const $ = (id) => document.getElementById(id);
const NUDGE_S = 0.05;

const clone = (words) => (words || []).map((w) => ({ ...w }));
const round = (t) => Math.round(t * 1000) / 1000;

/** The speaker with the most time among `words` (the segment's dominant speaker). */
function dominantSpeaker(words, fallback = "") {
  const time = new Map();
  for (const w of words) {
    if (w.speaker) time.set(w.speaker, (time.get(w.speaker) || 0) + Math.max(0.001, (w.end_s || 0) - (w.start_s || 0)));
  }
  return [...time.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] || fallback;
}

/** Remember that a person set this field by hand, so later typing keeps it (align.js realign). */
function markEdited(word, field) {
  word.edited = [...new Set([...(word.edited || []), field])];
}

/** Words as the API takes them: trimmed text, no empty words, defaults left out. */
function cleanWords(words) {
  return words
    .filter((w) => String(w.text ?? "").trim())
    .map((w) => {
      const out = { text: String(w.text).trim(), start_s: w.start_s || 0, end_s: w.end_s || 0, probability: w.probability ?? 0 };
      if (w.speaker) out.speaker = w.speaker;
      if (w.overlap) out.overlap = true;
      return out;
    });
}

/** The label after the highest SPEAKER_NN in use (diarization's own naming). */
export function nextSpeaker(speakers) {
  let top = -1;
  for (const s of speakers) {
    const m = /(\d+)$/.exec(s || "");
    if (m) top = Math.max(top, Number(m[1]));
  }
  return `SPEAKER_${String(top + 1).padStart(2, "0")}`;
}

export class CorrectionEditor {
  /** @param {import("./taskview.js").TaskView} view @param {() => void} changed */
  constructor(view, changed) {
    this.view = view;
    this.changed = changed;
    this.task = null;
    this.words = [];
    this.base = []; // the task's own words: every edit of the text is aligned against them
    this.extraSpeakers = [];
    $("text").addEventListener("input", () => this.onText());
    $("notes").addEventListener("input", () => this.changed());
    for (const [, id] of FLAGS) $(id).addEventListener("change", () => this.changed());
    $("word-speaker").addEventListener("change", () => this.setSpeaker($("word-speaker").value));
    $("start-earlier").addEventListener("click", () => this.nudge("start", -NUDGE_S));
    $("start-later").addEventListener("click", () => this.nudge("start", NUDGE_S));
    $("end-earlier").addEventListener("click", () => this.nudge("end", -NUDGE_S));
    $("end-later").addEventListener("click", () => this.nudge("end", NUDGE_S));
  }

  get language() {
    return languageOf(this.task);
  }

  /** Start on the task's segment, or on the restored draft of it. */
  open(task, draft) {
    this.task = task;
    const seg = task.segment || {};
    this.base = clone(seg.words);
    this.words = clone(draft?.words ?? seg.words);
    this.extraSpeakers = draft?.extra_speakers || [];
    const text = $("text");
    setLanguage(text, this.language);
    text.value = draft?.text ?? (String(seg.text || "").split(/\s+/).filter(Boolean).join(" ") || joinWords(this.words, this.language));
    $("notes").value = draft?.notes ?? task.notes ?? "";
    const flags = new Set(draft?.flags ?? task.flags ?? []);
    for (const [name, id] of FLAGS) $(id).checked = flags.has(name);
    this.view.showWords(this.words);
    this.onSelect(-1);
    if (draft?.selected >= 0) this.view.select(draft.selected, { seek: false });
  }

  /** What a reload must bring back. */
  draft() {
    return {
      kind: "correct",
      text: $("text").value,
      words: this.words,
      flags: this.flags(),
      notes: $("notes").value,
      selected: this.view.strip.selected,
      extra_speakers: this.extraSpeakers,
    };
  }

  flags() {
    return FLAGS.filter(([, id]) => $(id).checked).map(([name]) => name);
  }

  onText() {
    const selected = this.view.strip.selected;
    this.words = realign(this.base, this.words, $("text").value, this.language);
    this.view.showWords(this.words);
    if (selected >= this.words.length) this.onSelect(-1);
    else this.onSelect(selected);
    this.changed();
  }

  speakers() {
    const seen = new Set(this.extraSpeakers);
    for (const seg of [this.task.segment || {}, ...(this.task.context_segments || [])]) {
      if (seg.speaker) seen.add(seg.speaker);
      for (const w of seg.words || []) if (w.speaker) seen.add(w.speaker);
    }
    for (const w of this.words) if (w.speaker) seen.add(w.speaker);
    return [...seen].sort();
  }

  /** The word panel follows the selection (from a click, a shortcut or the strip). */
  onSelect(index) {
    const word = this.words[index];
    const speakers = this.speakers();
    const select = $("word-speaker");
    select.innerHTML = "";
    for (const s of speakers) select.add(new Option(s, s));
    const fresh = nextSpeaker(speakers);
    select.add(new Option(`new speaker (${fresh})`, fresh));
    select.value = word?.speaker || "";
    $("word-text").textContent = word ? String(word.text).trim() : "(select a word)";
    $("word-start").textContent = word ? timecode(word.start_s) : "–";
    $("word-end").textContent = word ? timecode(word.end_s) : "–";
    for (const id of ["word-speaker", "start-earlier", "start-later", "end-earlier", "end-later"]) $(id).disabled = !word;
    $("split").disabled = !(index > 0);
  }

  setSpeaker(value) {
    const index = this.view.strip.selected;
    const word = this.words[index];
    if (!word) return;
    // The last option is a new speaker, by the label it will have: keep it offered from now on.
    if (value && !this.speakers().includes(value)) this.extraSpeakers.push(value);
    word.speaker = value;
    markEdited(word, "speaker");
    this.view.showWords(this.words);
    this.onSelect(index);
    this.changed();
  }

  /**
   * Move the selected word's start or end by `delta` seconds, keeping word order (a start never
   * passes its neighbours' starts, which dispatch checks) and the word inside the segment.
   */
  nudge(edge, delta) {
    const i = this.view.strip.selected;
    const word = this.words[i];
    if (!word) return;
    const seg = this.task.segment || {};
    const prev = this.words[i - 1];
    const next = this.words[i + 1];
    if (edge === "start") {
      const lo = Math.max(seg.start_s || 0, prev ? prev.start_s || 0 : -Infinity);
      const hi = Math.min(word.end_s || 0, next ? next.start_s || 0 : Infinity);
      word.start_s = round(Math.min(hi, Math.max(lo, (word.start_s || 0) + delta)));
      markEdited(word, "start_s");
    } else {
      const hi = seg.end_s > 0 ? seg.end_s : Infinity;
      word.end_s = round(Math.min(hi, Math.max(word.start_s || 0, (word.end_s || 0) + delta)));
      markEdited(word, "end_s");
    }
    this.view.showWords(this.words);
    this.view.select(i, { seek: edge === "start" });
    this.changed();
  }

  /** Select the word's characters in the textarea (Alt+N / Alt+P land there). */
  selectInText(index) {
    const text = $("text");
    const tokens = tokenize(text.value, this.language, this.base);
    let token = tokens.length === this.words.length ? tokens[index] : null;
    if (!token && this.words[index]) {
      const at = text.value.indexOf(String(this.words[index].text).trim());
      if (at >= 0) token = { start: at, end: at + String(this.words[index].text).trim().length };
    }
    if (!token) return;
    text.focus();
    text.setSelectionRange(token.start, token.end);
  }

  /** The corrected segment as SubmitCorrection takes it. */
  segment(words = this.words, text = $("text").value, extra = {}) {
    const seg = this.task.segment || {};
    const clean = cleanWords(words);
    const out = {
      segment_id: seg.segment_id,
      start_s: seg.start_s || 0,
      end_s: seg.end_s || 0,
      text: String(text).split(/\s+/).filter(Boolean).join(" "),
      words: clean,
      speaker: dominantSpeaker(clean, seg.speaker || ""),
      ...extra,
    };
    if (seg.index) out.index = seg.index;
    if (seg.language) out.language = seg.language;
    return out;
  }

  common() {
    return { task_id: this.task.task_id, flags: this.flags(), notes: $("notes").value, base_version: this.task.version || 0 };
  }

  submitRequest() {
    return { method: "SubmitCorrection", body: { ...this.common(), segment: this.segment() }, verb: "submitted", what: "the correction" };
  }

  /** Split before the selected word: two parts, the second starting where that word does. */
  splitRequest() {
    const i = this.view.strip.selected;
    const words = cleanWords(this.words);
    if (!(i > 0) || i >= words.length) throw new Error("select the word the second part starts with (not the first word)");
    const first = words.slice(0, i);
    const second = words.slice(i);
    const seg = this.task.segment || {};
    const cut = round(Math.max(second[0].start_s, first[first.length - 1].end_s));
    const part = (ws, start, end) => ({
      segment_id: seg.segment_id,
      start_s: start,
      end_s: end,
      text: joinWords(ws, this.language),
      words: ws,
      speaker: dominantSpeaker(ws, seg.speaker || ""),
      ...(seg.language ? { language: seg.language } : {}),
    });
    const parts = [part(first, seg.start_s || 0, cut), part(second, cut, seg.end_s || 0)];
    return { method: "SubmitCorrection", body: { ...this.common(), parts }, verb: `split at ${timecode(cut)} and submitted`, what: "the split" };
  }

  /** The segment after this one (and after any merged before), from the neighbours shown. */
  nextSegment() {
    const seg = this.task.segment || {};
    const expected = (seg.index || 0) + (this.task.merged_segment_ids || []).length + 1;
    const neighbours = [...(this.task.context_segments || [])].sort((a, b) => (a.start_s || 0) - (b.start_s || 0));
    return (
      neighbours.find((s) => (s.index || 0) === expected) ||
      neighbours.find((s) => (s.index || 0) > (seg.index || 0) && (s.start_s || 0) >= (seg.end_s || 0) - 0.05)
    );
  }

  /** Merge the next segment in: this correction's words and text, then the next one's. */
  mergeRequest() {
    const next = this.nextSegment();
    if (!next) throw new Error("there is no next segment shown to merge with");
    const nextText = String(next.text || "").trim() || joinWords(next.words || [], this.language);
    const mine = $("text").value.trim();
    const text = [mine, nextText].filter(Boolean).join(isUnspaced(this.language, mine + nextText) ? "" : " ");
    const words = [...this.words, ...clone(next.words)];
    const segment = this.segment(words, text, { end_s: Math.max(this.task.segment?.end_s || 0, next.end_s || 0) });
    return {
      method: "SubmitCorrection",
      body: { ...this.common(), segment, merge_next_segment_id: next.segment_id },
      verb: "merged with the next segment and submitted",
      what: "the merge",
    };
  }
}
