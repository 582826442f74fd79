// The QA lead's panel under the queue: dispatch's queue figures (by state, kind, language, open
// by tier, overdue) and the quality service's per-linguist figures (draft WER, gold accuracy,
// agreement). Shown to qa_lead and admin roles only; dispatch and the gateway check again.

import { duration, esc, percent } from "./format.js";

const $ = (id) => document.getElementById(id);
export const QA_ROLES = ["qa_lead", "admin"];

export function isQaLead(user) {
  return (user?.roles || []).some((r) => QA_ROLES.includes(r));
}

function countsTable(title, counts) {
  const rows = Object.entries(counts || {}).sort(([a], [b]) => a.localeCompare(b));
  const body = rows.map(([k, v]) => `<tr><td>${esc(String(k).replace(/^TASK_(STATE|KIND)_/, "").toLowerCase())}</td><td class="num">${esc(v)}</td></tr>`).join("");
  return `<table class="grid small" data-group="${esc(title)}"><thead><tr><th>${esc(title)}</th><th class="num">tasks</th></tr></thead>` +
    `<tbody>${body || '<tr><td colspan="2" class="empty">none</td></tr>'}</tbody></table>`;
}

const COLUMNS = [
  ["linguist", "linguist", (r) => esc(r.linguist || "")],
  ["language", "lang", (r) => esc(r.language || "")],
  ["corrected_segments", "corrected", (r) => esc(r.corrected_segments || 0)],
  ["draft_wer", "draft WER", (r) => percent(r.draft_wer || 0)],
  ["gold_segments", "gold", (r) => esc(r.gold_segments || 0)],
  ["gold_accuracy", "gold acc.", (r) => (r.gold_segments ? percent(r.gold_accuracy || 0) : "–")],
  ["flagged", "flagged", (r) => (r.flagged ? '<span class="badge warn">flagged</span>' : "")],
  ["agreement_pairs", "pairs", (r) => esc(r.agreement_pairs || 0)],
  ["agreement_wer", "agreement WER", (r) => (r.agreement_pairs ? percent(r.agreement_wer || 0) : "–")],
];

export class QaPanel {
  constructor(api) {
    this.api = api;
    $("qa-refresh").addEventListener("click", () => this.refresh());
  }

  show(user) {
    $("qa").hidden = !isQaLead(user);
    if (!$("qa").hidden) this.refresh();
  }

  async refresh() {
    await Promise.all([this.stats(), this.linguists()]);
  }

  async stats() {
    try {
      const s = await this.api.call("GetQueueStats", {});
      $("qa-stats").innerHTML =
        `<p class="summary"><span class="${s.overdue ? "overdue" : ""}">${esc(s.overdue || 0)} overdue</span>` +
        ` · oldest open task ${esc(duration(s.oldest_open_age_s || 0))}</p>` +
        `<div class="qa-tables">${countsTable("state", s.by_state)}${countsTable("kind", s.by_kind)}` +
        `${countsTable("language", s.by_language)}${countsTable("open, by tier", s.open_by_tier)}</div>`;
    } catch (error) {
      $("qa-stats").innerHTML = `<p class="error">${esc(error.text || error.message)}</p>`;
    }
  }

  async linguists() {
    try {
      const report = await this.api.linguists({});
      const rows = report.rows || [];
      const head = COLUMNS.map(([key, title]) => `<th data-key="${key}"${key === "linguist" || key === "language" ? "" : ' class="num"'}>${esc(title)}</th>`).join("");
      const body = rows
        .map((r) => `<tr class="${r.flagged ? "flagged-row" : ""}">${COLUMNS.map(([key, , cell]) => `<td data-key="${key}"${key === "linguist" || key === "language" ? "" : ' class="num"'}>${cell(r)}</td>`).join("")}</tr>`)
        .join("");
      const threshold = report.gold_accuracy_threshold ? `<p class="hint">flagged: gold accuracy under ${percent(report.gold_accuracy_threshold)}</p>` : "";
      $("qa-linguists").innerHTML =
        `<table class="grid small"><thead><tr>${head}</tr></thead><tbody>${body || `<tr><td colspan="${COLUMNS.length}" class="empty">no figures yet</td></tr>`}</tbody></table>${threshold}`;
    } catch (error) {
      $("qa-linguists").innerHTML = `<p class="error">${esc(error.text || error.message)}</p>`;
    }
  }
}
