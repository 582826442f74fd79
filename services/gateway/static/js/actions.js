// What the linguist does to a task (submit, split, merge, approve, reject, label, skip,
// escalate, release) and what follows: on success the draft is dropped and the queue shown with
// a confirmation; on a refusal the draft stays and `CODE: message` is shown; without a
// connection the action is queued (Connection) and sent when the gateway answers again.
// The buttons and the keyboard shortcuts go through the same functions.

import { drafts, openTask } from "./storage.js";

const $ = (id) => document.getElementById(id);

/** Codes that mean "someone changed it first": the task must be read again. */
const STALE = new Set(["ABORTED", "ALREADY_EXISTS"]);
/** What the linguist reads when an action waits for the connection. */
export function offlineNote(action) {
  return `offline: ${action.what || "the action"} is kept and will be sent when the connection is back`;
}

const ACTION_BUTTONS = ["submit", "approve", "reject", "submit-labels", "skip", "escalate", "release", "split", "merge"];

/**
 * @param {{api, connection, say: (kind: string, text: string) => void, panels: object,
 *          current: () => object|null, done: () => void}} deps
 */
export function taskActions({ api, connection, say, panels, current, done }) {
  let busy = false;
  const self = { panel: null };

  function setBusy(on) {
    busy = on;
    for (const id of ACTION_BUTTONS) $(id).toggleAttribute("aria-busy", on);
  }

  /** Build a request with `make` (a panel's), then send it; a local refusal is shown as one. */
  async function perform(make) {
    const task = current();
    if (!task || busy) return;
    let request;
    try {
      request = make();
    } catch (error) {
      say("error", error.message);
      return;
    }
    const action = { ...request, task_id: task.task_id };
    if (!connection.online) {
      connection.enqueue(action);
      say("warn", offlineNote(action));
      return;
    }
    setBusy(true);
    try {
      self.finished(action, await api.call(action.method, action.body));
    } catch (error) {
      if (error.offline) {
        connection.enqueue(action);
        say("warn", offlineNote(action));
      } else {
        self.refused(action, error);
      }
    } finally {
      setBusy(false);
    }
  }

  /** Dispatch took it: nothing local is wanted any more; back to the queue if it was on screen. */
  self.finished = (action, answer) => {
    drafts.clear(action.task_id);
    openTask.forget(action.task_id);
    const state = String(answer?.state || "").replace(/^TASK_STATE_/, "").toLowerCase();
    const shown = current();
    if (!shown || shown.task_id === action.task_id) done(); // a queue on screen is redrawn too
    say("ok", `Task ${action.task_id} ${action.verb}${state ? ` (now ${state})` : ""}.`);
  };

  self.refused = (action, error) => {
    if (error.code === "UNAUTHENTICATED") return; // the login screen says it
    const stale = STALE.has(error.code) ? " — reload the task (Esc, then open it again) to work on the newer version" : "";
    say("error", `${error.text}${stale}`);
  };

  const panel = (name) => () => (self.panel === panels[name] ? self.panel : null);
  const correct = panel("correct");
  const review = panel("review");
  const labels = panel("labels");
  const taskId = () => current()?.task_id;

  const submit = () => correct() && perform(() => correct().submitRequest());
  const split = () => correct() && perform(() => correct().splitRequest());
  const merge = () => correct() && perform(() => correct().mergeRequest());
  const approve = () => review() && perform(() => review().approveRequest());
  const reject = () => review() && perform(() => review().rejectRequest());
  const submitLabels = () => labels() && perform(() => labels().submitRequest());
  const skip = () => perform(() => ({ method: "SkipTask", body: { task_id: taskId() }, verb: "skipped", what: "the skip" }));
  const release = () => perform(() => ({ method: "ReleaseTask", body: { task_id: taskId() }, verb: "released", what: "the release" }));
  const escalate = () =>
    perform(() => {
      const reason = $("escalate-reason").value.trim();
      if (!reason) {
        $("escalate-reason").focus();
        throw new Error("escalating needs a reason: type it next to the Escalate button");
      }
      return { method: "EscalateTask", body: { task_id: taskId(), reason }, verb: "escalated", what: "the escalation" };
    });
  const primary = () => (correct() ? submit() : review() ? approve() : labels() ? submitLabels() : undefined);

  for (const [id, run] of [
    ["submit", submit], ["split", split], ["merge", merge], ["approve", approve], ["reject", reject],
    ["submit-labels", submitLabels], ["skip", skip], ["release", release], ["escalate", escalate],
  ]) {
    $(id).addEventListener("click", run);
  }

  /** The keyboard's handlers (shortcuts.js action names) over the task view. */
  self.shortcuts = (view) => {
    const low = (direction) => {
      const i = view.stepLow(direction);
      if (i < 0) return say("info", "no low-confidence word in this segment");
      view.select(i);
      correct()?.selectInText(i);
    };
    const nudge = (edge, delta) => correct()?.nudge(edge, delta);
    return {
      togglePlay: () => view.player.toggle(),
      replay: () => view.player.replay(2),
      nextLow: () => low(1),
      previousLow: () => low(-1),
      primary,
      skip,
      escalate,
      toggleLoop: () => view.toggleLoop(),
      startEarlier: () => nudge("start", -0.05),
      startLater: () => nudge("start", 0.05),
      endEarlier: () => nudge("end", -0.05),
      endLater: () => nudge("end", 0.05),
      speedUp: () => view.stepSpeed(1),
      speedDown: () => view.stepSpeed(-1),
      split,
      merge,
      back: () => done(),
    };
  };

  return self;
}
