// The page's wiring: login, the three screens (login, queue, task), the header (who, connection,
// lease), the actions on a task and what happens after them, drafts and queued actions.
// Modules below it know nothing of each other's elements; this one decides what shows when.

import { createApi } from "./api.js";
import { Connection } from "./connection.js";
import { CorrectionEditor } from "./editor.js";
import { LabelsPanel } from "./labels.js";
import { Lease } from "./lease.js";
import { QaPanel } from "./qa.js";
import { QueueView, isHeld } from "./queue.js";
import { ReviewPanel } from "./review.js";
import { bindShortcuts, shortcutsHtml } from "./shortcuts.js";
import { drafts, openTask, prefs, token } from "./storage.js";
import { TaskView } from "./taskview.js";
import { offlineNote, taskActions } from "./actions.js";

const $ = (id) => document.getElementById(id);

/** What tests and people poking at the console can read; kept true to the screen. */
const voxloop = { ready: false, state: "login", task: null, words: [], audioReady: false, user: null, pending: 0 };
window.voxloop = voxloop;

let currentToken = token.get();
let user = null;

// -- messages ----------------------------------------------------------------------------------

/** One status line under the header: ok, info, warn or error. It stays until the next one. */
function say(kind, text) {
  const el = $("message");
  el.dataset.kind = kind;
  el.textContent = text;
  el.hidden = !text;
}
$("message").addEventListener("click", () => say("", ""));

// -- services ----------------------------------------------------------------------------------

const api = createApi({
  token: () => currentToken,
  onOnline: () => connection?.up(),
  onOffline: () => connection?.down(),
  onUnauthenticated: (error) => toLogin(error.text),
});

const connection = new Connection($("connection"), {
  probe: () => api.call("WhoAmI", {}),
  send: (action) => api.call(action.method, action.body),
  onSent: (action, answer) => actions.finished(action, answer),
  onRefused: (action, error) => actions.refused(action, error),
  onChange: (_online, waiting) => (voxloop.pending = waiting),
});

const view = new TaskView({
  api,
  onWordsShown: (words) => (voxloop.words = words),
  onAudioReady: (ready) => (voxloop.audioReady = ready),
});

const changed = () => saveDraft();
const panels = {
  correct: new CorrectionEditor(view, changed),
  review: new ReviewPanel(view, changed),
  labels: new LabelsPanel(view, changed),
};

const lease = new Lease($("lease"), {
  beat: (taskId) => api.call("Heartbeat", { task_id: taskId }),
  held: () => isHeld(voxloop.task || {}, user?.subject),
  online: () => connection.online,
  onLost: (error) => say("error", `${error.text} — the lease on this task could not be renewed`),
});

const queue = new QueueView({ api, subject: () => user?.subject || "", open: (id) => openById(id), say });
const qa = new QaPanel(api);

const actions = taskActions({ api, connection, say, panels, current: () => voxloop.task, done: () => toQueue() });

// -- screens -----------------------------------------------------------------------------------

function show(state) {
  voxloop.state = state;
  document.body.dataset.state = state;
  for (const id of ["login", "queue", "task"]) $(id).hidden = id !== state;
  $("logout").hidden = state === "login";
  if (state !== "task") {
    lease.stop();
    view.close();
    voxloop.task = null;
    voxloop.words = [];
    document.title = "voxloop · transcription";
  }
  if (state === "queue") queue.start();
  else queue.stop();
}

function toLogin(error = "") {
  currentToken = "";
  token.clear();
  user = null;
  voxloop.user = null;
  $("whoami").textContent = "";
  $("login-error").textContent = error;
  show("login");
  $("login-token").focus();
}

function toQueue() {
  openTask.clear();
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  queue.invalidate();
  show("queue");
  qa.show(user);
}

function showUser(who) {
  user = who;
  voxloop.user = who;
  prefs.set("user", who);
  const roles = (who.roles || []).join(", ") || "no roles";
  const languages = (who.languages || []).join(", ") || "no languages";
  $("whoami").innerHTML = "";
  const name = document.createElement("b");
  name.textContent = who.display_name || who.subject;
  $("whoami").append(name, ` · ${roles} · ${languages}`);
  $("whoami").title = `${who.subject}: roles ${roles}; languages ${languages}`;
}

// -- tasks -------------------------------------------------------------------------------------

function panelOf(task) {
  if (task.kind === "TASK_KIND_REVIEW" || task.kind === "TASK_KIND_QA_SAMPLE") return "review";
  if (task.kind === "TASK_KIND_LABEL_REVIEW") return "labels";
  return "correct";
}

function saveDraft() {
  const task = voxloop.task;
  if (!task || !actions.panel) return;
  const ok = drafts.save(task.task_id, task.version, { ...actions.panel.draft(), escalate_reason: $("escalate-reason").value });
  if (!ok) say("warn", "this browser refused to keep the draft (storage full?): submit soon");
}
$("escalate-reason").addEventListener("input", changed);

/** Show a task with its draft, if one was kept for this version. */
function showTask(task, { restoring = false } = {}) {
  show("task");
  voxloop.task = task;
  openTask.set(task);
  openTask.cache(task);
  const kind = panelOf(task);
  const panel = panels[kind];
  actions.panel = panel;
  for (const [name, id] of [["correct", "correct-panel"], ["review", "review-panel"], ["labels", "labels-panel"]]) $(id).hidden = name !== kind;
  $("word-panel").hidden = kind !== "correct";
  $("submit").hidden = kind !== "correct";
  $("approve").hidden = $("reject").hidden = kind !== "review";
  $("submit-labels").hidden = kind !== "labels";
  view.open(task, panel);
  const draft = drafts.load(task.task_id, task.version);
  panel.open(task, draft);
  $("escalate-reason").value = draft?.escalate_reason ?? "";
  $("restored").hidden = !draft;
  document.title = `voxloop · ${task.task_id}`;
  history.replaceState(null, "", `#task=${encodeURIComponent(task.task_id)}`);
  lease.start(task);
  const waiting = connection.waitingFor(task.task_id);
  if (waiting.length) say("warn", offlineNote(waiting[0]));
  else if (user && !isHeld(task, user.subject)) {
    say("warn", `You do not hold this task (it is ${String(task.state || "").replace(/^TASK_STATE_/, "").toLowerCase()}${task.assignee ? `, held by ${task.assignee}` : ""}): it is read-only for you.`);
  } else if (!restoring) say("", "");
}

async function openById(taskId, options = {}) {
  try {
    showTask(await api.call("GetTask", { task_id: taskId }), options);
    return true;
  } catch (error) {
    const cached = openTask.cached(taskId);
    if (error.offline && cached) {
      showTask(cached, options);
      say("warn", "offline: showing the task as it was last loaded; your edits are kept locally");
      return true;
    }
    if (error.code !== "UNAUTHENTICATED") {
      say("error", error.text);
      if (error.code === "NOT_FOUND" || error.code === "PERMISSION_DENIED") openTask.forget(taskId);
    }
    return false;
  }
}

$("discard-draft").addEventListener("click", () => {
  const task = voxloop.task;
  if (!task) return;
  drafts.clear(task.task_id);
  showTask(task);
  say("info", "unsaved edits discarded: back to the task as dispatch has it");
});
$("back").addEventListener("click", () => toQueue());

$("claim-next").addEventListener("click", async () => {
  const kind = $("claim-kind").value;
  prefs.set("claim_kind", kind);
  $("claim-next").disabled = true;
  try {
    const task = await api.call("ClaimNextTask", { kinds: kind ? [kind] : [] });
    if (!task.task_id) say("info", "nothing to claim right now");
    else showTask(task);
  } catch (error) {
    if (error.code === "NOT_FOUND") say("info", `nothing to claim right now (${error.detail})`);
    else if (error.code !== "UNAUTHENTICATED") say("error", error.text);
  } finally {
    $("claim-next").disabled = false;
  }
});
$("claim-kind").value = prefs.get("claim_kind", "");

// -- login and boot ----------------------------------------------------------------------------

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const typed = $("login-token").value.trim();
  if (!typed) return;
  $("login-error").textContent = "";
  $("login-submit").disabled = true;
  currentToken = typed;
  try {
    const who = await api.call("WhoAmI", {});
    token.set(typed);
    $("login-token").value = "";
    await enter(who);
  } catch (error) {
    currentToken = "";
    $("login-error").textContent = error.text || String(error);
  } finally {
    $("login-submit").disabled = false;
  }
});

$("logout").addEventListener("click", () => {
  openTask.clear();
  toLogin("");
});

/** A task named in the address (`#task=<id>`): a link from a chat or a ticket opens it. */
function linkedTask() {
  const m = /^#task=(.+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : "";
}

/** Signed in: send what waited, then open the linked task, or the one that was open, or the queue. */
async function enter(who) {
  showUser(who);
  connection.flush();
  const linked = linkedTask();
  if (linked && (await openById(linked))) return;
  const open = openTask.get();
  if (!linked && open?.task_id && (await openById(open.task_id, { restoring: true }))) return;
  toQueue();
}

window.addEventListener("hashchange", () => {
  const linked = linkedTask();
  if (linked && user && linked !== voxloop.task?.task_id) openById(linked);
});

bindShortcuts(actions.shortcuts(view), () => voxloop.state === "task");
$("shortcuts").innerHTML = shortcutsHtml();

async function boot() {
  if (!currentToken) {
    toLogin("");
  } else {
    try {
      await enter(await api.call("WhoAmI", {}));
    } catch (error) {
      if (error.offline && prefs.get("user", null)) {
        await enter(prefs.get("user", null));
      } else if (error.code !== "UNAUTHENTICATED") {
        toLogin(error.text);
      }
    }
  }
  voxloop.ready = true;
  document.body.dataset.ready = "true";
}

boot();
