// The lease on the open task: a countdown in the header and the heartbeats that renew it.
// Dispatch gives a claimed task to someone else once its lease lapses, so the page beats every
// 60 s while the task is held, and sooner once under 90 s remain (a short lease, a sleeping
// laptop waking up). A refused heartbeat (lapsed, taken) stops the beating and says why.

import { countdown, epochS } from "./format.js";

const TICK_MS = 1_000;
export const HEARTBEAT_EVERY_S = 60;
export const HEARTBEAT_BELOW_S = 90;
/** However short the lease, never beat more often than this. */
const MIN_GAP_S = 10;

export class Lease {
  /**
   * @param {HTMLElement} el  `#lease`
   * @param {{beat: (taskId: string) => Promise<object>, held: () => boolean,
   *          online: () => boolean, onLost: (error) => void}} hooks
   */
  constructor(el, hooks) {
    this.el = el;
    this.hooks = hooks;
    this.task = null;
    this.lastBeatS = 0;
    this.beating = false;
    this.lost = false;
    this.timer = 0;
  }

  start(task) {
    this.stop();
    this.task = task;
    this.lastBeatS = Date.now() / 1000;
    this.lost = false;
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.tick();
  }

  stop() {
    clearInterval(this.timer);
    this.timer = 0;
    this.task = null;
    this.el.hidden = true;
    this.el.removeAttribute("data-seconds");
  }

  /** Seconds left, or NaN when the task has no lease. */
  remaining() {
    return epochS(this.task?.lease_expires_at) - Date.now() / 1000;
  }

  tick() {
    const left = this.remaining();
    if (!this.task || Number.isNaN(left)) {
      this.el.hidden = true;
      return;
    }
    const seconds = Math.max(0, Math.floor(left));
    this.el.hidden = false;
    this.el.dataset.seconds = String(seconds);
    this.el.textContent = left > 0 ? countdown(seconds) : "0:00";
    this.el.dataset.level = left <= 0 ? "expired" : left < 120 ? "low" : "ok";
    this.el.title = left > 0 ? `lease: ${countdown(seconds)} left; renewed automatically while you work` : "lease expired: the task may be given to someone else";
    const now = Date.now() / 1000;
    const since = now - this.lastBeatS;
    const due = since >= HEARTBEAT_EVERY_S || (left < HEARTBEAT_BELOW_S && since >= MIN_GAP_S);
    if (due && !this.lost && this.hooks.held() && this.hooks.online()) this.beat();
  }

  async beat() {
    if (this.beating || !this.task) return;
    this.beating = true;
    const task = this.task;
    this.lastBeatS = Date.now() / 1000;
    try {
      const answer = await this.hooks.beat(task.task_id);
      if (this.task === task && answer.lease_expires_at) task.lease_expires_at = answer.lease_expires_at;
    } catch (error) {
      if (!error.offline && this.task === task) {
        this.lost = true;
        this.hooks.onLost(error);
      }
    } finally {
      this.beating = false;
      if (this.task === task) this.tick();
    }
  }
}
