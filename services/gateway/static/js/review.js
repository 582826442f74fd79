// The review panel (reviews and QA samples): the machine's draft against the correction as one
// inline word diff, dispatch's own diff (times and speakers too), what the corrector cut or
// merged, their flags and notes; approve, or reject with reasons (never without: dispatch refuses
// a reason-less rejection, and the corrector needs to know what to fix).

import { dispatchDiffHtml, diffCounts, diffHtml, wordDiff } from "./diff.js";
import { esc, timecode } from "./format.js";
import { isUnspaced } from "./align.js";
import { languageOf, setLanguage } from "./taskview.js";

const $ = (id) => document.getElementById(id);

/** Reasons typed one per line or comma separated. */
export function parseReasons(text) {
  return String(text || "")
    .split(/[\n,]/)
    .map((r) => r.trim())
    .filter(Boolean);
}

function wordTexts(segment) {
  const words = (segment?.words || []).map((w) => String(w.text ?? "").trim()).filter(Boolean);
  return words.length ? words : String(segment?.text || "").split(/\s+/).filter(Boolean);
}

const FLAG_TEXT = (flag) => String(flag).replace(/^CORRECTION_FLAG_/, "").toLowerCase().replace(/_/g, "-");

export class ReviewPanel {
  constructor(view, changed) {
    this.view = view;
    this.changed = changed;
    this.task = null;
    $("reject-reasons").addEventListener("input", () => this.changed());
  }

  open(task, draft) {
    this.task = task;
    const language = languageOf(task);
    const before = wordTexts(task.draft);
    const after = wordTexts(task.segment);
    const ops = wordDiff(before, after);
    const unspaced = isUnspaced(language, after.join(""));
    const diff = $("diff");
    setLanguage(diff, language);
    diff.innerHTML = diffHtml(ops, unspaced ? "" : " ") || '<span class="empty">(no words)</span>';
    const counts = diffCounts(ops);
    $("diff-summary").textContent = counts.del || counts.ins
      ? `${counts.del} deleted, ${counts.ins} inserted, ${counts.equal} kept`
      : "no word changed";
    $("dispatch-diff").innerHTML = task.diff ? dispatchDiffHtml(task.diff) : '<span class="empty">(none)</span>';
    const reshape = [];
    if (task.split_at?.length) {
      reshape.push(`split into ${task.split_at.length + 1} parts, the next starting at ${task.split_at.map((t) => timecode(t)).join(", ")}`);
    }
    if (task.merged_segment_ids?.length) reshape.push(`merged with ${task.merged_segment_ids.join(", ")}`);
    $("reshape").hidden = !reshape.length;
    $("reshape").innerHTML = reshape.map((r) => `<div>${esc(r)}</div>`).join("");
    const notes = [];
    if (task.flags?.length) notes.push(`flags: ${task.flags.map(FLAG_TEXT).join(", ")}`);
    if (task.notes) notes.push(`notes: ${task.notes}`);
    $("correction-notes").hidden = !notes.length;
    $("correction-notes").innerHTML = notes.map((n) => `<div>${esc(n)}</div>`).join("");
    $("reject-reasons").value = draft?.reject_reasons ?? "";
    this.view.showWords((task.segment?.words || []).map((w) => ({ ...w })));
  }

  draft() {
    return { kind: "review", reject_reasons: $("reject-reasons").value };
  }

  approveRequest() {
    return { method: "ReviewTask", body: { task_id: this.task.task_id, approve: true }, verb: "approved", what: "the approval" };
  }

  rejectRequest() {
    const reasons = parseReasons($("reject-reasons").value);
    if (!reasons.length) {
      $("reject-reasons").focus();
      throw new Error("a rejection needs at least one reason: type it in the reasons box");
    }
    return { method: "ReviewTask", body: { task_id: this.task.task_id, approve: false, reasons }, verb: "rejected", what: "the rejection" };
  }
}
