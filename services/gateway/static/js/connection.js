// Whether the gateway answers, shown in the header, and the actions waiting for it.
// A linguist on a train loses the connection mid-sentence: the page says so, keeps every edit in
// localStorage, queues a submit (or skip, review...) made meanwhile, probes every few seconds,
// and sends the queue in order once the gateway answers again. A refusal then (the lease lapsed,
// someone else changed the segment) is reported like any other.

import { pending } from "./storage.js";

const RETRY_MS = 5_000;

export class Connection {
  /**
   * @param {HTMLElement} indicator  `#connection`
   * @param {{probe: () => Promise<void>, send: (action) => Promise<object>,
   *          onSent: (action, answer) => void, onRefused: (action, error) => void,
   *          onChange?: (online: boolean, waiting: number) => void}} hooks
   *   probe: one cheap authenticated call; send: perform a queued action.
   */
  constructor(indicator, hooks) {
    this.el = indicator;
    this.hooks = hooks;
    this.online = true;
    this.timer = 0;
    this.flushing = false;
    window.addEventListener("offline", () => this.down());
    window.addEventListener("online", () => this.check());
    this.show();
  }

  show() {
    this.el.dataset.state = this.online ? "online" : "offline";
    this.el.textContent = this.online ? "online" : "offline — your edits are kept locally";
    const waiting = pending.all().length;
    this.el.title = waiting ? `${waiting} action(s) waiting to be sent` : "";
    this.el.dataset.waiting = String(waiting);
    this.hooks.onChange?.(this.online, waiting); // every change passes here: state and queue
  }

  /** A call failed for want of a connection: show it and start probing. */
  down() {
    if (this.online) {
      this.online = false;
      this.show();
    }
    if (!this.timer) this.timer = setInterval(() => this.check(), RETRY_MS);
  }

  /** A call got an answer: back online, and send what waited. */
  up() {
    clearInterval(this.timer);
    this.timer = 0;
    if (!this.online) {
      this.online = true;
      this.show();
    }
    if (pending.all().length) this.flush();
  }

  async check() {
    if (navigator.onLine === false) return this.down();
    try {
      await this.hooks.probe(); // its answer (or refusal) calls up() through the api hooks
    } catch {
      /* still down: the api hook called down() */
    }
  }

  /** Keep an action for later: {method, body, verb, task_id}. */
  enqueue(action) {
    const all = pending.all().filter((a) => !(a.task_id === action.task_id && a.method === action.method));
    all.push({ ...action, queued_at: Date.now() });
    pending.save(all);
    this.show();
    this.down();
  }

  waitingFor(taskId) {
    return pending.all().filter((a) => a.task_id === taskId);
  }

  /** Send queued actions in order; stop at the first that finds the connection still down. */
  async flush() {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (;;) {
        const [action] = pending.all();
        if (!action) break;
        let answer;
        try {
          answer = await this.hooks.send(action);
        } catch (error) {
          if (error.offline || error.code === "UNAUTHENTICATED") break; // kept for the next try
          pending.save(pending.all().slice(1));
          this.hooks.onRefused(action, error);
          continue;
        }
        pending.save(pending.all().slice(1));
        this.hooks.onSent(action, answer);
      }
    } finally {
      this.flushing = false;
      this.show();
    }
  }
}
