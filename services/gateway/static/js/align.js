// Text -> timed words: the browser's port of services/dispatch/client.py `retime`, so a text typed
// here gets the same word times the terminal client would give it. A kept or one-for-one replaced
// word keeps its times and speaker; an uneven run of new words shares the span (or gap) it was
// typed into. The matcher is a faithful port of Python's difflib.SequenceMatcher (autojunk off),
// so both clients pick the same alignment for the same edit.
//
// Languages written without spaces (Chinese, Japanese, Thai...) have no words to split on: their
// text is tokenised against the words being edited, so untouched runs stay the draft's words and
// only typed characters become new (one-character) words; their words join without spaces.

/** Written right to left; dialects ("ar-EG") and script subtags ("-Arab", "-Hebr") follow. */
const RTL_LANGUAGES = new Set([
  "ar", "arc", "ckb", "dv", "fa", "he", "iw", "ji", "ku-arab", "ps", "sd", "syr", "ug", "ur", "yi",
]);
/** Written without spaces between words (shared/text.py CHARACTER_SCORED_LANGUAGES, and Tibetan). */
const UNSPACED_LANGUAGES = new Set(["zh", "yue", "wuu", "ja", "th", "lo", "my", "km", "bo"]);
const UNSPACED_SCRIPT = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Myanmar}\p{Script=Khmer}\p{Script=Tibetan}]/u;

export function primaryLanguage(language) {
  return String(language || "").trim().split(/[-_]/)[0].toLowerCase();
}

export function isRtl(language) {
  const tag = String(language || "").toLowerCase();
  if (/-(arab|hebr|thaa|syrc|nkoo|adlm|rohg)\b/.test(tag)) return true;
  if (/-(latn|cyrl)\b/.test(tag)) return false;
  return RTL_LANGUAGES.has(primaryLanguage(tag));
}

/** True when words of this language (or, with no language, this text) are not space-separated. */
export function isUnspaced(language, sample = "") {
  const code = primaryLanguage(language);
  if (code) return UNSPACED_LANGUAGES.has(code);
  return UNSPACED_SCRIPT.test(sample) && !/\s/.test(String(sample).trim());
}

/** `dir` and `lang` attributes for an element showing text of this language. */
export function textDirection(language) {
  return isRtl(language) ? "rtl" : "ltr";
}

/** Words back to text: with spaces, or without for unspaced languages. */
export function joinWords(words, language) {
  const parts = words.map((w) => String(w.text ?? w).trim()).filter(Boolean);
  return parts.join(isUnspaced(language, parts.join("")) ? "" : " ");
}

// -- difflib.SequenceMatcher, autojunk=False, no isjunk ------------------------------------------

/** The opcodes ("equal", "replace", "delete", "insert", i1, i2, j1, j2) turning `a` into `b`. */
export function opcodes(a, b) {
  const b2j = new Map();
  b.forEach((item, j) => {
    if (!b2j.has(item)) b2j.set(item, []);
    b2j.get(item).push(j);
  });
  const longest = (alo, ahi, blo, bhi) => {
    let besti = alo, bestj = blo, bestsize = 0;
    let j2len = new Map();
    for (let i = alo; i < ahi; i++) {
      const next = new Map();
      for (const j of b2j.get(a[i]) || []) {
        if (j < blo) continue;
        if (j >= bhi) break;
        const k = (j2len.get(j - 1) || 0) + 1;
        next.set(j, k);
        if (k > bestsize) [besti, bestj, bestsize] = [i - k + 1, j - k + 1, k];
      }
      j2len = next;
    }
    while (besti > alo && bestj > blo && a[besti - 1] === b[bestj - 1]) {
      besti--; bestj--; bestsize++;
    }
    while (besti + bestsize < ahi && bestj + bestsize < bhi && a[besti + bestsize] === b[bestj + bestsize]) {
      bestsize++;
    }
    return [besti, bestj, bestsize];
  };
  const queue = [[0, a.length, 0, b.length]];
  const blocks = [];
  while (queue.length) {
    const [alo, ahi, blo, bhi] = queue.pop();
    const [i, j, k] = longest(alo, ahi, blo, bhi);
    if (!k) continue;
    blocks.push([i, j, k]);
    if (alo < i && blo < j) queue.push([alo, i, blo, j]);
    if (i + k < ahi && j + k < bhi) queue.push([i + k, ahi, j + k, bhi]);
  }
  blocks.sort((x, y) => x[0] - y[0] || x[1] - y[1] || x[2] - y[2]);
  const merged = [];
  for (const block of blocks) {
    const last = merged[merged.length - 1];
    if (last && last[0] + last[2] === block[0] && last[1] + last[2] === block[1]) last[2] += block[2];
    else merged.push([...block]);
  }
  merged.push([a.length, b.length, 0]);
  const out = [];
  let i = 0, j = 0;
  for (const [ai, bj, size] of merged) {
    const tag = i < ai && j < bj ? "replace" : i < ai ? "delete" : j < bj ? "insert" : "";
    if (tag) out.push([tag, i, ai, j, bj]);
    i = ai + size;
    j = bj + size;
    if (size) out.push(["equal", ai, i, bj, j]);
  }
  return out;
}

// -- tokenising ----------------------------------------------------------------------------------

const segmenter = typeof Intl !== "undefined" && Intl.Segmenter ? new Intl.Segmenter(undefined, { granularity: "grapheme" }) : null;

/** Characters as people see them (a letter with its combining marks), with their offsets. */
function graphemes(text) {
  if (segmenter) return [...segmenter.segment(text)].map((s) => ({ text: s.segment, start: s.index }));
  const out = [];
  let at = 0;
  for (const ch of text) {
    out.push({ text: ch, start: at });
    at += ch.length;
  }
  return out;
}

/**
 * The words of `text` with their character offsets [{text, start, end}].
 * Spaced languages split on whitespace. Unspaced ones diff the text's characters against the
 * characters of `words` (the words being edited): a run of kept characters of one word is that
 * word again, every other character a word of its own; whitespace always separates.
 */
export function tokenize(text, language, words = []) {
  const value = String(text ?? "");
  if (!isUnspaced(language, value)) {
    return [...value.matchAll(/\S+/gu)].map((m) => ({ text: m[0], start: m.index, end: m.index + m[0].length }));
  }
  const chars = graphemes(value);
  const owner = []; // the word each kept character belongs to, -1 for typed ones
  const old = [];
  words.forEach((w, wi) => {
    for (const g of graphemes(String(w.text ?? "").trim())) {
      if (!/^\s+$/u.test(g.text)) {
        old.push(g.text.toLowerCase());
        owner.push(wi);
      }
    }
  });
  const visible = chars.filter((c) => !/^\s+$/u.test(c.text));
  const ownerOf = new Array(visible.length).fill(-1);
  for (const [tag, i1, i2, j1, j2] of opcodes(old, visible.map((c) => c.text.toLowerCase()))) {
    let who = -1; // an edit inside one word (replaced, or typed between two of its characters) stays in it
    if (tag === "equal") for (let k = 0; k < i2 - i1; k++) ownerOf[j1 + k] = owner[i1 + k];
    else if (tag === "replace" && owner[i1] === owner[i2 - 1]) who = owner[i1];
    else if (tag === "insert" && i1 > 0 && i1 < owner.length && owner[i1 - 1] === owner[i1]) who = owner[i1];
    if (who >= 0) ownerOf.fill(who, j1, j2);
  }
  const out = [];
  let vi = 0, last = null;
  for (const c of chars) {
    if (/^\s+$/u.test(c.text)) {
      last = null;
      continue;
    }
    const who = ownerOf[vi++];
    const end = c.start + c.text.length;
    if (last && who >= 0 && last.owner === who && last.end === c.start) {
      last.text += c.text;
      last.end = end;
    } else {
      last = { text: c.text, start: c.start, end, owner: who };
      out.push(last);
    }
  }
  return out.map(({ text: t, start, end }) => ({ text: t, start, end }));
}

// -- retime: client.py's alignment ------------------------------------------------------------------

function word(text, start, end, probability, speaker, overlap) {
  const w = { text, start_s: start, end_s: end, probability, speaker: speaker || "" };
  if (overlap) w.overlap = true;
  return w;
}

/**
 * Words for `text`, timed from `draft` (the words being edited: the task's draft at first, then
 * the last alignment, so nudged times and changed speakers survive later typing).
 * @returns {Array<{text, start_s, end_s, probability, speaker, overlap?}>}
 */
export function retime(draft, text, language) {
  const fresh = tokenize(text, language, draft).map((t) => t.text);
  const old = draft.map((w) => String(w.text ?? "").trim());
  const out = [];
  const lower = (xs) => xs.map((x) => x.toLowerCase());
  for (const [, i1, i2, j1, j2] of opcodes(lower(old), lower(fresh))) {
    if (j1 === j2) continue; // deleted words leave nothing behind
    if (i2 - i1 === j2 - j1) {
      fresh.slice(j1, j2).forEach((t, k) => {
        const was = draft[i1 + k];
        const same = old[i1 + k].toLowerCase() === t.toLowerCase();
        out.push(word(t, was.start_s || 0, was.end_s || 0, same ? was.probability ?? 0 : 1.0, was.speaker, was.overlap));
      });
      continue;
    }
    let start, end, speaker;
    if (i1 < i2) {
      [start, end, speaker] = [draft[i1].start_s || 0, draft[i2 - 1].end_s || 0, draft[i1].speaker];
    } else {
      // An insertion: the gap between the neighbouring draft words.
      start = i1 > 0 ? draft[i1 - 1].end_s || 0 : draft.length ? draft[0].start_s || 0 : 0;
      end = i1 < draft.length ? draft[i1].start_s || 0 : start;
      speaker = draft.length ? draft[Math.min(i1, draft.length - 1)].speaker : "";
    }
    const step = (end - start) / (j2 - j1);
    fresh.slice(j1, j2).forEach((t, k) => {
      out.push(word(t, start + k * step, start + (k + 1) * step, 1.0, speaker, false));
    });
  }
  return out;
}

/** The fields a person set on a word by hand (nudges, speaker), listed in its `edited`. */
const EDITABLE = ["start_s", "end_s", "speaker"];

/**
 * Words for `text`, timed from the task's own words (`base`) as `retime` does, keeping what a
 * person set by hand on the words of the previous alignment that are still there.
 * Aligning every keystroke against the base, never against the last alignment, matters: retyping
 * a whole text character by character would otherwise squeeze every new word into the span the
 * first character replaced.
 */
export function realign(base, previous, text, language) {
  const words = retime(base, text, language);
  if (!previous.some((w) => w.edited?.length)) return words;
  const key = (w) => String(w.text ?? "").trim().toLowerCase();
  for (const [tag, i1, i2, j1, j2] of opcodes(previous.map(key), words.map(key))) {
    if (tag !== "equal" && !(tag === "replace" && i2 - i1 === j2 - j1)) continue;
    for (let k = 0; k < i2 - i1; k++) {
      const was = previous[i1 + k];
      const now = words[j1 + k];
      for (const field of was.edited || []) if (EDITABLE.includes(field)) now[field] = was[field];
      if (was.edited?.length) now.edited = [...was.edited];
    }
  }
  for (let i = 0; i < words.length; i++) {
    // Hand-set times next to shared-out ones: keep starts in order and every word non-negative.
    if (i > 0 && words[i].start_s < words[i - 1].start_s) words[i].start_s = words[i - 1].start_s;
    if (words[i].end_s < words[i].start_s) words[i].end_s = words[i].start_s;
  }
  return words;
}
