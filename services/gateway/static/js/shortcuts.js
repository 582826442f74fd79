// Keyboard shortcuts of the task screen. They work while typing in the transcript (a transcriber's
// hands stay on the keys), so each is a chord no text input needs, and each is prevented from
// reaching the textarea. Alt chords match `event.code` (the physical key): on many layouts Alt
// changes `event.key` (Alt+N is "˜" on a Mac, dead keys elsewhere).

import { esc } from "./format.js";

const plain = (e) => !e.altKey && !e.ctrlKey && !e.metaKey && !e.shiftKey;
const alt = (code, shift = false) => (e) => e.altKey && !e.ctrlKey && !e.metaKey && e.shiftKey === shift && e.code === code;

/** Every shortcut: the keys as shown, what it does, the handler name, and its matcher. */
export const SHORTCUTS = [
  { keys: ["Ctrl", "Space"], what: "play / pause", action: "togglePlay", match: (e) => e.ctrlKey && !e.altKey && e.code === "Space" },
  { keys: ["Alt", "R"], what: "replay the last 2 s", action: "replay", match: alt("KeyR") },
  { keys: ["Alt", "N"], what: "next low-confidence word", action: "nextLow", match: alt("KeyN") },
  { keys: ["Alt", "P"], what: "previous low-confidence word", action: "previousLow", match: alt("KeyP") },
  {
    keys: ["Ctrl", "Enter"],
    what: "submit · approve · submit labels",
    action: "primary",
    match: (e) => (e.ctrlKey || e.metaKey) && !e.altKey && (e.code === "Enter" || e.code === "NumpadEnter" || e.key === "Enter"),
  },
  { keys: ["Alt", "S"], what: "skip the task", action: "skip", match: alt("KeyS") },
  { keys: ["Alt", "E"], what: "escalate (with the reason typed)", action: "escalate", match: alt("KeyE") },
  { keys: ["Alt", "L"], what: "loop on / off", action: "toggleLoop", match: alt("KeyL") },
  { keys: ["Alt", "←"], what: "selected word starts 50 ms earlier", action: "startEarlier", match: alt("ArrowLeft") },
  { keys: ["Alt", "→"], what: "selected word starts 50 ms later", action: "startLater", match: alt("ArrowRight") },
  { keys: ["Alt", "Shift", "←"], what: "selected word ends 50 ms earlier", action: "endEarlier", match: alt("ArrowLeft", true) },
  { keys: ["Alt", "Shift", "→"], what: "selected word ends 50 ms later", action: "endLater", match: alt("ArrowRight", true) },
  { keys: ["Alt", "↑"], what: "faster", action: "speedUp", match: alt("ArrowUp") },
  { keys: ["Alt", "↓"], what: "slower", action: "speedDown", match: alt("ArrowDown") },
  { keys: ["Alt", "K"], what: "split the segment at the selected word", action: "split", match: alt("KeyK") },
  { keys: ["Alt", "M"], what: "merge with the next segment", action: "merge", match: alt("KeyM") },
  { keys: ["Esc"], what: "back to the queue (draft kept)", action: "back", match: (e) => plain(e) && e.key === "Escape" },
];

/** The shortcut list as <dt>/<dd> pairs for the always-visible panel. */
export function shortcutsHtml() {
  return SHORTCUTS.map(
    (s) => `<dt>${s.keys.map((k) => `<kbd>${esc(k)}</kbd>`).join("+")}</dt><dd data-action="${s.action}">${esc(s.what)}</dd>`,
  ).join("");
}

/**
 * Listen on the document (capture phase, so the textarea never sees the chord).
 * @param {Record<string, () => void>} handlers  by action name
 * @param {() => boolean} active  shortcuts apply only on the task screen
 */
export function bindShortcuts(handlers, active) {
  document.addEventListener(
    "keydown",
    (event) => {
      if (!active() || event.isComposing) return;
      const shortcut = SHORTCUTS.find((s) => s.match(event));
      const handler = shortcut && handlers[shortcut.action];
      if (!handler) return;
      event.preventDefault();
      event.stopPropagation();
      if (!event.repeat || /^(start|end)|^speed/.test(shortcut.action)) handler();
    },
    true,
  );
}
