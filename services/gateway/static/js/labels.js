// The label review panel: the annotate model's entities highlighted in the segment's text, a list
// to relabel or remove them, new ones from a text selection, and the sentiment and intent label
// sets best first with their confidences. Submitting sends the whole checked set (SubmitLabels).
//
// Offsets are in code points, as dispatch (Python) counts them, not the UTF-16 units JavaScript
// strings index by: an emoji or a rare CJK character before an entity would otherwise shift it.

import { esc, fixed } from "./format.js";
import { languageOf, setLanguage } from "./taskview.js";

const $ = (id) => document.getElementById(id);

/** The labels annotate produces (services/annotate/entities.py), offered for new entities. */
const KNOWN_LABELS = ["PERSON", "ORG", "LOC", "DATE", "TIME", "MONEY", "NUMBER", "PRODUCT", "EMAIL", "PHONE", "ID", "MISC"];

const codePoints = (text) => Array.from(String(text || ""));
const slice = (points, start, end) => points.slice(start, end).join("");

function scoreOptions(select, scores, chosen) {
  select.innerHTML = "";
  for (const s of scores || []) select.add(new Option(`${s.label} · ${fixed(s.confidence)}`, s.label));
  select.disabled = !(scores || []).length;
  if (chosen && (scores || []).some((s) => s.label === chosen)) select.value = chosen;
}

export class LabelsPanel {
  constructor(view, changed) {
    this.view = view;
    this.changed = changed;
    this.entities = [];
    this.points = [];
    $("entities").addEventListener("click", (event) => {
      const button = event.target.closest("button.remove-entity");
      if (button) this.remove(Number(button.dataset.index));
    });
    $("entities").addEventListener("change", (event) => {
      const select = event.target.closest("select.entity-relabel");
      if (!select) return;
      this.entities[Number(select.dataset.index)].label = select.value;
      this.render();
      this.changed();
    });
    $("add-entity").addEventListener("click", () => this.addSelection());
    for (const id of ["sentiment", "intent"]) $(id).addEventListener("change", () => this.changed());
    $("label-notes").addEventListener("input", () => this.changed());
  }

  open(task, draft) {
    this.task = task;
    const annotation = task.annotation || {};
    this.text = annotation.segment?.text ?? task.segment?.text ?? "";
    this.points = codePoints(this.text);
    this.entities = (draft?.entities ?? annotation.entities ?? []).map((e) => ({
      label: e.label,
      start_char: e.start_char || 0,
      end_char: e.end_char || 0,
      text: e.text || slice(this.points, e.start_char || 0, e.end_char || 0),
      confidence: e.confidence,
      source: e.source,
      personal_data: e.personal_data,
    }));
    scoreOptions($("sentiment"), annotation.sentiment, draft?.sentiment);
    scoreOptions($("intent"), annotation.intent, draft?.intent);
    const labels = [...new Set([...this.entities.map((e) => e.label), ...KNOWN_LABELS])];
    $("entity-label").innerHTML = labels.map((l) => `<option>${esc(l)}</option>`).join("");
    $("label-reasons").innerHTML = (annotation.review_reasons || []).map((r) => `<li>unsure: ${esc(r)}</li>`).join("");
    $("label-notes").value = draft?.notes ?? "";
    setLanguage($("labelled-text"), languageOf(task));
    this.render();
    this.view.showWords((task.segment?.words || []).map((w) => ({ ...w })));
  }

  draft() {
    return { kind: "labels", entities: this.entities, sentiment: $("sentiment").value, intent: $("intent").value, notes: $("label-notes").value };
  }

  /** The text with entities marked; overlapping ones are listed but not drawn. */
  render() {
    const order = this.entities.map((e, i) => [e, i]).sort(([a], [b]) => a.start_char - b.start_char || a.end_char - b.end_char);
    let html = "";
    let at = 0;
    for (const [e, i] of order) {
      if (e.start_char < at || e.end_char > this.points.length) continue;
      html += esc(slice(this.points, at, e.start_char));
      html += `<mark class="entity" data-label="${esc(e.label)}" data-index="${i}" title="${esc(e.label)}">${esc(slice(this.points, e.start_char, e.end_char))}</mark>`;
      at = e.end_char;
    }
    $("labelled-text").innerHTML = html + esc(slice(this.points, at));
    const labels = [...$("entity-label").options].map((o) => o.value);
    $("entities").innerHTML =
      this.entities
        .map((e, i) => {
          const options = [...new Set([e.label, ...labels])].map((l) => `<option${l === e.label ? " selected" : ""}>${esc(l)}</option>`).join("");
          return (
            `<li class="entity-item" data-index="${i}"><select class="entity-relabel" data-index="${i}" aria-label="label">${options}</select>` +
            ` <q>${esc(e.text)}</q> <span class="mono hint">${e.start_char}–${e.end_char}</span>` +
            (e.confidence ? ` <span class="hint">${fixed(e.confidence)}</span>` : "") +
            (e.source ? ` <span class="hint">${esc(e.source)}</span>` : "") +
            (e.personal_data ? ' <span class="badge pd">personal data</span>' : "") +
            ` <button type="button" class="remove-entity quiet" data-index="${i}" title="remove this entity">✕ remove</button></li>`
          );
        })
        .join("") || '<li class="empty">no entities</li>';
  }

  remove(index) {
    this.entities.splice(index, 1);
    this.render();
    this.changed();
  }

  /** Code-point offset of a DOM position inside the labelled text. */
  offsetOf(node, offset) {
    const range = document.createRange();
    range.setStart($("labelled-text"), 0);
    range.setEnd(node, offset);
    return codePoints(range.toString()).length;
  }

  /** Add the text selected in the labelled text as an entity of the chosen label. */
  addSelection() {
    const selection = window.getSelection();
    const box = $("labelled-text");
    if (!selection.rangeCount || selection.isCollapsed || !box.contains(selection.anchorNode) || !box.contains(selection.focusNode)) {
      throw new Error("select the entity's text in the labelled text first");
    }
    const range = selection.getRangeAt(0);
    let start = this.offsetOf(range.startContainer, range.startOffset);
    let end = this.offsetOf(range.endContainer, range.endOffset);
    while (start < end && /\s/.test(this.points[start])) start++;
    while (end > start && /\s/.test(this.points[end - 1])) end--;
    if (end <= start) throw new Error("the selection holds no text");
    const clash = this.entities.find((e) => start < e.end_char && e.start_char < end);
    if (clash) throw new Error(`it overlaps ${clash.label} “${clash.text}”: remove that one first`);
    this.entities.push({ label: $("entity-label").value, start_char: start, end_char: end, text: slice(this.points, start, end) });
    this.entities.sort((a, b) => a.start_char - b.start_char);
    selection.removeAllRanges();
    this.render();
    this.changed();
  }

  submitRequest() {
    const body = {
      task_id: this.task.task_id,
      entities: this.entities.map(({ label, start_char, end_char, text }) => ({ label, start_char, end_char, text })),
      sentiment: $("sentiment").value,
      intent: $("intent").value,
    };
    if ($("label-notes").value.trim()) body.notes = $("label-notes").value;
    return { method: "SubmitLabels", body, verb: "labels submitted", what: "the labels" };
  }
}
