// The reviewer's word diff, draft -> correction, computed here (a longest common subsequence over
// the words) so deletions and insertions sit inline in the text, and dispatch's own diff text
// (`-[old] +[new]`, `~[word] 1.20-1.50 -> 1.25-1.50`) shown beside it, coloured as the terminal does.

import { esc } from "./format.js";

/** Past this many cells the quadratic table is not worth it: fall back to a plain rewrite. */
const MAX_CELLS = 4_000_000;

// Case counts: "paris" -> "Paris" is an edit the reviewer must see (as dispatch's own diff does).
const norm = (w) => String(w).normalize("NFC");

/**
 * An edit script between two word lists: [{op: "equal"|"del"|"ins", text}], in reading order.
 * Runs of deletions come before the insertions that replace them, as people read a correction.
 */
export function wordDiff(before, after) {
  const a = before.map(String);
  const b = after.map(String);
  const n = a.length;
  const m = b.length;
  if (n * m > MAX_CELLS) {
    return [...a.map((text) => ({ op: "del", text })), ...b.map((text) => ({ op: "ins", text }))];
  }
  // lcs[i][j]: length of the LCS of a[i:] and b[j:], one flat array.
  const width = m + 1;
  const lcs = new Uint32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * width + j] =
        norm(a[i]) === norm(b[j])
          ? lcs[(i + 1) * width + j + 1] + 1
          : Math.max(lcs[(i + 1) * width + j], lcs[i * width + j + 1]);
    }
  }
  const out = [];
  let dels = [];
  let ins = [];
  const flush = () => {
    out.push(...dels, ...ins);
    dels = [];
    ins = [];
  };
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && norm(a[i]) === norm(b[j])) {
      flush();
      out.push({ op: "equal", text: b[j] });
      i++;
      j++;
    } else if (j >= m || (i < n && lcs[(i + 1) * width + j] >= lcs[i * width + j + 1])) {
      dels.push({ op: "del", text: a[i++] });
    } else {
      ins.push({ op: "ins", text: b[j++] });
    }
  }
  flush();
  return out;
}

/** The diff as HTML: <del> and <ins> around changed words, joined as the language writes. */
export function diffHtml(ops, joiner = " ") {
  return ops
    .map(({ op, text }) =>
      op === "equal" ? `<span class="same">${esc(text)}</span>` : op === "del" ? `<del>${esc(text)}</del>` : `<ins>${esc(text)}</ins>`,
    )
    .join(joiner);
}

/** Counts of a diff, for the summary line above it. */
export function diffCounts(ops) {
  const counts = { equal: 0, del: 0, ins: 0 };
  ops.forEach(({ op }) => counts[op]++);
  return counts;
}

const DISPATCH_TOKEN = /([-+~])\[([^\]]*)\]/g;
const DISPATCH_CLASS = { "-": "del", "+": "ins", "~": "retimed" };

/** Dispatch's diff text (services/dispatch/versions.py word_diff) with its edits coloured. */
export function dispatchDiffHtml(diff) {
  return String(diff || "")
    .split("\n")
    .map((line) => {
      let html = "";
      let at = 0;
      for (const m of line.matchAll(DISPATCH_TOKEN)) {
        html += esc(line.slice(at, m.index));
        html += `<span class="${DISPATCH_CLASS[m[1]]}">${esc(m[0])}</span>`;
        at = m.index + m[0].length;
      }
      return `<div>${html}${esc(line.slice(at))}</div>`;
    })
    .join("");
}
