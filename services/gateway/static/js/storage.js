// What the browser keeps between reloads, all in localStorage under "voxloop.":
// the token, the open task (its id and its last JSON, so a reload without a connection still
// shows it), unsaved drafts keyed by task id and version, queued actions, and a few preferences.
// A draft is keyed by version too: work typed against version 3 must not be replayed onto
// version 4 after someone else changed the segment.

const PREFIX = "voxloop.";

function read(key, fallback = null) {
  try {
    const raw = localStorage.getItem(PREFIX + key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback; // unreadable or not JSON: as if absent
  }
}

/** Write a value; false when the browser refuses (quota, private mode), so callers can say so. */
function write(key, value) {
  try {
    localStorage.setItem(PREFIX + key, JSON.stringify(value));
    return true;
  } catch {
    return false;
  }
}

function remove(key) {
  try {
    localStorage.removeItem(PREFIX + key);
  } catch {
    /* nothing kept, nothing to remove */
  }
}

export const token = {
  get: () => read("token", ""),
  set: (value) => write("token", value),
  clear: () => remove("token"),
};

/** The task open on screen, so a reload opens it again. */
export const openTask = {
  get: () => read("open-task", null),
  set: (task) => write("open-task", { task_id: task.task_id, version: task.version || 0 }),
  clear: () => remove("open-task"),
  /** The task's last JSON, for showing it while the connection is down. */
  cached: (taskId) => read(`task.${taskId}`, null),
  cache: (task) => write(`task.${task.task_id}`, task),
  forget: (taskId) => remove(`task.${taskId}`),
};

function draftKey(taskId, version) {
  return `draft.${taskId}.${version || 0}`;
}

export const drafts = {
  load: (taskId, version) => read(draftKey(taskId, version), null),
  save: (taskId, version, draft) => write(draftKey(taskId, version), { ...draft, saved_at: Date.now() }),
  /** Every version's draft of a task: once it is submitted none of them is wanted. */
  clear(taskId) {
    const start = `${PREFIX}draft.${taskId}.`;
    const keys = [];
    for (let i = 0; i < localStorage.length; i++) {
      const key = localStorage.key(i);
      if (key && key.startsWith(start)) keys.push(key);
    }
    keys.forEach((key) => localStorage.removeItem(key));
  },
};

/** Actions typed while offline, sent in order once the gateway answers again. */
export const pending = {
  all: () => read("pending", []),
  save: (actions) => write("pending", actions),
};

export const prefs = {
  get: (name, fallback) => read(`pref.${name}`, fallback),
  set: (name, value) => write(`pref.${name}`, value),
};
