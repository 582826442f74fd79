// The work queue: what the linguist could claim (best first) and what they hold, one table row a
// task. Rows are built as one HTML string and set once, and a refresh that brings the same answer
// touches nothing: with hundreds of tasks a per-row DOM build or a redraw every 15 s would make
// the page stutter under the transcriber's hands.

import { due, esc, kindName, preview, stateName, timecode } from "./format.js";
import { textDirection } from "./align.js";

const $ = (id) => document.getElementById(id);
export const QUEUE_LIMIT = 1000;
export const REFRESH_MS = 15_000;

/** Held by `subject` right now: the rows that open on a click. */
export function isHeld(task, subject) {
  return task.state === "TASK_STATE_CLAIMED" && !!subject && task.assignee === subject;
}

function rowHtml(task, subject, nowS) {
  const held = isHeld(task, subject);
  const seg = task.segment || {};
  const deadline = due(task.deadline, nowS);
  const language = task.dialect || task.language || seg.language || "";
  return (
    `<tr data-task-id="${esc(task.task_id)}" data-kind="${esc(task.kind || "")}" class="${held ? "held" : ""}"` +
    ` tabindex="${held ? 0 : -1}" title="${held ? "yours: click to open" : "claim it with “Claim next”"}">` +
    `<td>${held ? '<span class="badge held-badge">held</span>' : ""}</td>` +
    `<td><span class="badge" data-kind="${esc(task.kind || "")}">${esc(kindName(task.kind))}</span></td>` +
    `<td>${esc(language)}</td>` +
    `<td>${esc(task.tier || "")}</td>` +
    `<td><span class="risk risk-${esc(task.verdict?.risk_tier || "none")}">${esc(task.verdict?.risk_tier || "–")}</span></td>` +
    `<td class="num">${esc(task.priority ?? 0)}</td>` +
    `<td class="${deadline.overdue ? "overdue" : ""}">${esc(deadline.text)}</td>` +
    `<td class="mono">${timecode(seg.start_s)}–${timecode(seg.end_s)}</td>` +
    `<td>${esc(stateName(task.state))}${task.rejections ? ` <span class="hint">↺${task.rejections}</span>` : ""}</td>` +
    `<td class="preview" dir="${textDirection(language)}" lang="${esc(language)}">${esc(preview(seg.text))}</td></tr>`
  );
}

export class QueueView {
  /** @param {{api, subject: () => string, open: (taskId: string) => void, say: Function}} hooks */
  constructor(hooks) {
    this.hooks = hooks;
    this.signature = "";
    this.tasks = [];
    this.timer = 0;
    $("queue-rows").addEventListener("click", (event) => this.onRow(event.target.closest("tr[data-task-id]")));
    $("queue-rows").addEventListener("keydown", (event) => {
      if (event.key === "Enter") this.onRow(event.target.closest("tr[data-task-id]"));
    });
    $("queue-refresh").addEventListener("click", () => this.refresh(true));
  }

  onRow(row) {
    if (!row) return;
    const task = this.tasks.find((t) => t.task_id === row.dataset.taskId);
    if (task && isHeld(task, this.hooks.subject())) this.hooks.open(task.task_id);
    else this.hooks.say("info", "Only tasks you hold open here: use “Claim next” to take the best task for you.");
  }

  start() {
    this.stop();
    this.refresh();
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = 0;
  }

  /** Fetch and show the queue; unchanged answers are not redrawn unless `force`. */
  async refresh(force = false) {
    let answer;
    try {
      answer = await this.hooks.api.call("ListQueue", { limit: QUEUE_LIMIT, summary: true });
    } catch (error) {
      if (!error.offline && error.code !== "UNAUTHENTICATED") this.hooks.say("error", error.text || error.message);
      return;
    }
    const tasks = answer.tasks || [];
    const signature = JSON.stringify(tasks);
    if (!force && signature === this.signature) return;
    this.signature = signature;
    this.render(tasks);
  }

  render(tasks) {
    const subject = this.hooks.subject();
    // Held tasks first (they are the linguist's work in hand), then dispatch's own order.
    this.tasks = [...tasks.filter((t) => isHeld(t, subject)), ...tasks.filter((t) => !isHeld(t, subject))];
    const nowS = Date.now() / 1000;
    $("queue-rows").innerHTML = this.tasks.map((t) => rowHtml(t, subject, nowS)).join("");
    $("queue-empty").hidden = this.tasks.length > 0;
    $("queue-table").hidden = !this.tasks.length;
    const held = this.tasks.filter((t) => isHeld(t, subject)).length;
    $("queue-title").textContent = `Queue · ${this.tasks.length} task${this.tasks.length === 1 ? "" : "s"}${held ? ` · ${held} held` : ""}`;
  }

  /** Forget the last answer, so the next refresh redraws (after claiming or finishing a task). */
  invalidate() {
    this.signature = "";
  }
}
