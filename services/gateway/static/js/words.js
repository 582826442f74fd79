// The segment's words as one clickable strip: `span.word` per word with its times, marked
// `low` (the ASR's probability under 0.5), `flagged` (a fired detector's evidence points at it:
// its words, its times, its phrase) and `overlap` (spoken over another speaker), each with a
// title saying why. Speaker turns start with a coloured speaker chip (not a `.word`).

import { UNCERTAIN_BELOW, esc, fixed, speakerSlot } from "./format.js";
import { isUnspaced } from "./align.js";

/** The matching form of text: what differs after it is a different word (shared/text.py, roughly). */
function normalise(text) {
  return String(text || "")
    .normalize("NFC")
    .toLowerCase()
    .replace(/[\u2018\u2019\u02bc`\u00b4]/g, "'")
    .replace(/[^\p{L}\p{N}\p{M}']+/gu, " ")
    .replace(/(^|\s)'+|'+(?=\s|$)/g, " ")
    .trim()
    .replace(/\s+/g, " ");
}

/** Python `repr` strings in evidence ('…' or "…"), only where a quote can start and end. */
const QUOTED = /(?<=^|[\s(\[:,])(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")(?=$|[\s),.;:\]])/g;
const TIME_RANGE = /(\d+(?:\.\d+)?)\s*[-–]\s*(\d+(?:\.\d+)?)\s*s\b/g;
const WORD_INDEX = /\bword (\d+) ['"]/g;
/** Detectors about the segment as a whole: they quote its text and language tags, no words. */
const WHOLE_TEXT_DETECTORS = new Set(["language_mismatch", "no_speech_with_text", "low_avg_logprob"]);

/** Indexes of the words whose text contains `phrase` (normalised, on word boundaries). */
function phraseHits(words, phrase, unspaced) {
  let target = normalise(phrase);
  if (unspaced) target = target.replace(/\s+/g, "");
  if (!target) return [];
  const joiner = unspaced ? "" : " ";
  let text = "";
  const ranges = words.map((w) => {
    const t = normalise(w.text);
    const start = text.length + (text && t && joiner ? 1 : 0);
    if (t) text += (text && joiner ? joiner : "") + t;
    return [start, text.length];
  });
  const hits = new Set();
  for (let at = text.indexOf(target); at >= 0; at = text.indexOf(target, at + 1)) {
    const end = at + target.length;
    const bounded = unspaced || ((at === 0 || text[at - 1] === " ") && (end === text.length || text[end] === " "));
    if (!bounded) continue;
    ranges.forEach(([s, e], i) => {
      if (e > s && s < end && e > at) hits.add(i);
    });
  }
  return [...hits];
}

/**
 * Which words the fired detectors point at: Map(word index -> ["detector: evidence", ...]).
 * Evidence is human-readable text (services/quality/detectors.py), so this reads what it names:
 * "word 3 'x'" indexes, "12.40-12.80 s" spans, quoted phrases (a repeated n-gram, a known
 * hallucination), "'x' 0.12" lowest-probability words. Quotes of the whole text, cut-off quotes
 * ending in "…" and language tags are not pointers to words.
 */
export function flaggedWords(words, verdict, language) {
  const out = new Map();
  const unspaced = isUnspaced(language, words.map((w) => w.text).join(""));
  const squash = (t) => (unspaced ? normalise(t).replace(/\s+/g, "") : normalise(t));
  const whole = squash(words.map((w) => w.text).join(" "));
  const mark = (i, why) => {
    if (i < 0 || i >= words.length) return;
    if (!out.has(i)) out.set(i, []);
    if (!out.get(i).includes(why)) out.get(i).push(why);
  };
  for (const d of verdict?.detectors || []) {
    if (!d.fired || !d.evidence) continue;
    const evidence = String(d.evidence);
    const why = `flagged by ${d.name}: ${evidence.length > 240 ? `${evidence.slice(0, 239)}…` : evidence}`;
    for (const m of evidence.matchAll(WORD_INDEX)) mark(Number(m[1]), why);
    for (const m of evidence.matchAll(TIME_RANGE)) {
      const [lo, hi] = [Number(m[1]), Number(m[2])];
      if (!(hi > lo)) continue;
      words.forEach((w, i) => {
        const mid = ((w.start_s || 0) + (w.end_s || 0)) / 2;
        if (mid >= lo - 0.01 && mid <= hi + 0.01) mark(i, why);
      });
    }
    if (WHOLE_TEXT_DETECTORS.has(d.name)) continue; // their quotes are the whole text
    // known_phrase names its phrase first, then quotes the whole text.
    const quotes = [...evidence.matchAll(QUOTED)].slice(0, d.name === "known_phrase" ? 1 : undefined);
    for (const m of quotes) {
      const quoted = (m[1] ?? m[2] ?? "").replace(/\\(.)/g, "$1");
      const lead = evidence.slice(Math.max(0, m.index - 14), m.index);
      if (!quoted || quoted.endsWith("…") || /(language|recording's) $/.test(lead)) continue;
      if (squash(quoted) === whole && d.name !== "known_phrase") continue;
      const after = evidence.slice(m.index + m[0].length);
      if (/^ \(\d/.test(after)) continue; // "'x' (1.20-1.50 s)": its time range said which one
      // "'x' 0.12": one of the lowest-probability words, worth flagging only when it is uncertain.
      const probability = /^ (\d\.\d+)/.exec(after);
      if (probability && Number(probability[1]) >= UNCERTAIN_BELOW) continue;
      for (const i of phraseHits(words, quoted, unspaced)) {
        if (!probability || Math.abs((words[i].probability ?? 0) - Number(probability[1])) < 0.006) mark(i, why);
      }
    }
  }
  return out;
}

/** Why a word is marked, one reason a line; "" when it is not. */
export function wordReasons(word, flagged = []) {
  const reasons = [];
  const p = word.probability ?? 0;
  if (p < UNCERTAIN_BELOW) reasons.push(`low confidence ${fixed(p)}`);
  reasons.push(...flagged);
  if (word.overlap) reasons.push("overlapping speech: spoken while another speaker was speaking");
  return reasons;
}

/**
 * The words as HTML. `order` is the page's speaker order (palette slots); turns start with a chip.
 * @param {Array} words
 * @param {{flags?: Map, order?: string[], turns?: boolean, joiner?: string}} options
 *   joiner: "" for languages written without spaces, so the strip reads as the text does
 */
export function wordsHtml(words, { flags = new Map(), order = [], turns = true, joiner = " " } = {}) {
  let speaker = null;
  let html = "";
  words.forEach((w, i) => {
    if (turns && (w.speaker || "") !== speaker && (speaker !== null || w.speaker)) {
      speaker = w.speaker || "";
      html += `<span class="turn spk-${speakerSlot(speaker, order)}" aria-hidden="true">${esc(speaker || "?")}</span>`;
    }
    speaker = w.speaker || "";
    const flagged = flags.get(i) || [];
    const reasons = wordReasons(w, flagged);
    const classes = ["word"];
    if ((w.probability ?? 0) < UNCERTAIN_BELOW) classes.push("low");
    if (flagged.length) classes.push("flagged");
    if (w.overlap) classes.push("overlap");
    const title = reasons.length ? ` title="${esc(reasons.join("\n"))}"` : "";
    html +=
      `<span class="${classes.join(" ")}" data-index="${i}" data-start="${fixed(w.start_s || 0, 3)}"` +
      ` data-end="${fixed(w.end_s || 0, 3)}"${title}>${esc(String(w.text ?? "").trim())}</span>${joiner}`;
  });
  return html;
}

/**
 * A rendered strip that moves its `current` and `selected` marks without re-rendering: one word at
 * a time holds each, so playback at 60 frames a second touches two elements at most.
 */
export class WordStrip {
  constructor(container, onPick) {
    this.container = container;
    this.words = [];
    this.current = -1;
    this.selected = -1;
    container.addEventListener("click", (event) => {
      const el = event.target.closest(".word");
      if (el && container.contains(el)) onPick(Number(el.dataset.index));
    });
  }

  render(words, options) {
    this.words = words;
    this.container.innerHTML = wordsHtml(words, options) || '<span class="empty">(no words)</span>';
    const current = this.current;
    const selected = this.selected;
    this.current = this.selected = -1;
    this.setCurrent(current < words.length ? current : -1);
    this.setSelected(selected < words.length ? selected : -1);
  }

  el(index) {
    return index >= 0 ? this.container.querySelector(`.word[data-index="${index}"]`) : null;
  }

  /** The word under the playhead at recording time `t` (none in a pause between words). */
  follow(t) {
    let at = -1;
    for (let i = 0; i < this.words.length; i++) {
      const w = this.words[i];
      if ((w.start_s || 0) <= t && t < (w.end_s || 0)) {
        at = i;
        break;
      }
    }
    this.setCurrent(at);
  }

  setCurrent(index) {
    if (index === this.current) return;
    this.el(this.current)?.classList.remove("current");
    this.current = index;
    this.el(index)?.classList.add("current");
  }

  setSelected(index) {
    if (index !== this.selected) this.el(this.selected)?.classList.remove("selected");
    this.selected = index;
    const el = this.el(index);
    if (el) {
      el.classList.add("selected");
      el.scrollIntoView({ block: "nearest" });
    }
  }
}
