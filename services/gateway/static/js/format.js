// Small pure helpers for showing dispatch data: times, kinds, HTML escaping.
// Everything the page renders from data goes through `esc`: names, texts and evidence come from
// people and models, and the page's CSP forbids inline script but not injected markup.

/** Task kinds as the queue and the claim select show them (render.py's KIND_NAMES). */
export const KIND_NAMES = {
  TASK_KIND_CORRECT: "correct",
  TASK_KIND_REVIEW: "review",
  TASK_KIND_QA_SAMPLE: "qa sample",
  TASK_KIND_LABEL_REVIEW: "labels",
};

/** Correction flags with the checkbox ids that set them. */
export const FLAGS = [
  ["CORRECTION_FLAG_UNINTELLIGIBLE", "flag-unintelligible", "unintelligible"],
  ["CORRECTION_FLAG_OVERLAP", "flag-overlap", "overlapping speech"],
  ["CORRECTION_FLAG_PERSONAL_DATA", "flag-personal-data", "personal data"],
  ["CORRECTION_FLAG_NON_SPEECH", "flag-non-speech", "non-speech"],
];

/** Below this the ASR is more likely wrong than right about a word (render.py UNCERTAIN_BELOW). */
export const UNCERTAIN_BELOW = 0.5;

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text made safe for innerHTML and attribute values. */
export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

export function kindName(kind) {
  return KIND_NAMES[kind] || "unknown";
}

export function stateName(state) {
  return String(state || "TASK_STATE_UNSPECIFIED").replace(/^TASK_STATE_/, "").toLowerCase();
}

/** Recording time as a time code, `1:02.35` (or `1:02:03.40` past an hour). */
export function timecode(seconds) {
  const s = Math.max(0, Number(seconds) || 0);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = (s % 60).toFixed(2).padStart(5, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

/** A lease countdown, `m:ss`. */
export function countdown(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** A duration for people: `45 s`, `12 min`, `3 h 20 min` (render.py `span`). */
export function duration(seconds) {
  const s = Math.abs(Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** Seconds since the epoch of an RFC 3339 timestamp; NaN when absent. */
export function epochS(timestamp) {
  return timestamp ? Date.parse(timestamp) / 1000 : NaN;
}

/** A deadline relative to now: `in 2 h 5 min` or `overdue 3 min`. */
export function due(timestamp, nowS = Date.now() / 1000) {
  const at = epochS(timestamp);
  if (Number.isNaN(at)) return { text: "–", overdue: false };
  const left = at - nowS;
  return left < 0
    ? { text: `overdue ${duration(left)}`, overdue: true }
    : { text: `in ${duration(left)}`, overdue: false };
}

export function fixed(value, digits = 2) {
  const n = Number(value);
  return Number.isFinite(n) ? n.toFixed(digits) : "–";
}

export function percent(value) {
  const n = Number(value);
  return Number.isFinite(n) ? `${(n * 100).toFixed(1)} %` : "–";
}

/**
 * Speaker colours: the Okabe–Ito palette (safe for the common colour blindnesses), black left
 * out as it reads as "no speaker". The CSS classes `spk-0`..`spk-6` use the same colours.
 */
export const SPEAKER_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"];

/** The speakers of some segments, sorted: each keeps its colour when another is added. */
export function speakerOrder(segments) {
  const order = [];
  for (const seg of segments) {
    for (const s of [seg?.speaker, ...(seg?.words || []).map((w) => w.speaker)]) {
      if (s && !order.includes(s)) order.push(s);
    }
  }
  return order.sort();
}

/** A speaker's palette slot (0..6), stable for the page's speaker order; 7 for none. */
export function speakerSlot(speaker, order) {
  const i = order.indexOf(speaker);
  return i < 0 ? 7 : i % SPEAKER_COLOURS.length;
}

/** Short text for previews: whitespace collapsed, cut with an ellipsis. */
export function preview(text, limit = 90) {
  const t = String(text || "").split(/\s+/).filter(Boolean).join(" ");
  return t.length <= limit ? t : `${t.slice(0, limit - 1)}…`;
}
