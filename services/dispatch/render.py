"""How the command line shows dispatch data: plain functions from messages to rich renderables,
so what a linguist sees is testable without a terminal.

Data is always wrapped in ``Text`` (never markup): a diff's ``-[a] +[the]`` or a name in square
brackets would otherwise be read as rich markup and vanish."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence

from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from protos import common_pb2, dispatch_pb2, events_pb2, transcripts_pb2

# Below this the ASR is more likely wrong than right about a word: worth a second listen.
UNCERTAIN_BELOW = 0.5
UNCERTAIN_STYLE = "bold yellow underline"
NEIGHBOUR_STYLE = "dim"
ENTITY_STYLE = "bold cyan"
KIND_NAMES: dict[int, str] = {
    events_pb2.TASK_KIND_CORRECT: "correct",
    events_pb2.TASK_KIND_REVIEW: "review",
    events_pb2.TASK_KIND_QA_SAMPLE: "qa",
    events_pb2.TASK_KIND_LABEL_REVIEW: "label",
}
_DIFF_TOKEN = re.compile(r"([-+~])\[[^\]]*\]")
_DIFF_STYLES = {"-": "red strike", "+": "green", "~": "yellow"}


def kind_name(kind: int) -> str:
    return KIND_NAMES.get(kind, "unknown")


def state_name(state: int) -> str:
    return events_pb2.TaskState.Name(state).removeprefix("TASK_STATE_").lower()  # type: ignore[arg-type]


def _is_set(ts: Timestamp) -> bool:
    return ts.seconds != 0 or ts.nanos != 0


def _seconds(ts: Timestamp) -> float:
    return ts.seconds + ts.nanos / 1e9


def span(seconds: float) -> str:
    """A duration for people: ``45 s``, ``12 min 5 s``, ``3 h 20 min``."""
    seconds = abs(int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def clock(ts: Timestamp) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(_seconds(ts))) if _is_set(ts) else "-"


def due(ts: Timestamp, now: float) -> Text:
    """A deadline relative to now, red once it has passed."""
    if not _is_set(ts):
        return Text("-")
    left = _seconds(ts) - now
    if left < 0:
        return Text(f"overdue {span(left)}", style="red")
    return Text(f"in {span(left)}")


def lease(task: dispatch_pb2.Task, now: float) -> Text:
    """The lease countdown: how long the holder keeps the task without a heartbeat."""
    if not _is_set(task.lease_expires_at):
        return Text("no lease")
    left = _seconds(task.lease_expires_at) - now
    if left <= 0:
        return Text("lease expired: the task may be given to someone else", style="bold red")
    style = "yellow" if left < 120 else "green"
    return Text(f"lease: {span(left)} left (heartbeat to keep it)", style=style)


def result_line(task: dispatch_pb2.Task, verb: str, now: float) -> Text:
    """What an action answered: ``task T submitted (now submitted)``, and the lease while held."""
    line = Text(f"task {task.task_id} {verb}", style="green")
    line.append(f" (now {state_name(task.state)})")
    if task.state == events_pb2.TASK_STATE_CLAIMED:
        line.append(" · ")
        line.append_text(lease(task, now))
    return line


def words_text(segment: common_pb2.TranscriptSegment, dim: bool = False) -> Text:
    """The segment's words, one line per speaker turn, uncertain words highlighted."""
    base = NEIGHBOUR_STYLE if dim else ""
    text = Text(style=base)
    if not segment.words:
        text.append(segment.text or "(no words)")
        return text
    speaker = None
    for word in segment.words:
        if word.speaker != speaker:
            if speaker is not None:
                text.append("\n")
            speaker = word.speaker
            text.append(f"{speaker or '?'}: ", style="bold" if not dim else base)
        else:
            text.append(" ")
        uncertain = not dim and word.probability < UNCERTAIN_BELOW
        text.append(word.text.strip(), style=UNCERTAIN_STYLE if uncertain else base)
    return text


def uncertain_words(segment: common_pb2.TranscriptSegment) -> list[common_pb2.Word]:
    return [w for w in segment.words if w.probability < UNCERTAIN_BELOW]


def _segment_block(segment: common_pb2.TranscriptSegment, dim: bool = False) -> Text:
    head = Text(f"{segment.start_s:7.2f}-{segment.end_s:7.2f} s  ", style=NEIGHBOUR_STYLE if dim else "cyan")
    return head + words_text(segment, dim)


def diff_text(diff: str) -> Text:
    """A word diff ``-[old] +[new]`` with removals red, insertions green, retimed words yellow."""
    text = Text(diff)
    for match in _DIFF_TOKEN.finditer(diff):
        text.stylize(_DIFF_STYLES[match.group(1)], match.start(), match.end())
    return text


def _header(task: dispatch_pb2.Task, now: float) -> Text:
    language = task.dialect or task.language
    text = Text(f"task {task.task_id}", style="bold")
    text.append(
        f"  {kind_name(task.kind)} · {state_name(task.state)} · {language} · tier {task.tier}"
        f" · priority {task.priority} · version {task.version}"
    )
    text.append(f"\nsegment {task.segment.segment_id} of recording {task.context.recording_id}")
    if task.context.domain:
        text.append(f" ({task.context.domain})")
    text.append(f"\nassignee {task.assignee or '-'} · deadline ")
    text.append_text(due(task.deadline, now))
    text.append(" · ")
    text.append_text(lease(task, now))
    if task.guidelines_url:
        text.append(f"\nguidelines: {task.guidelines_url}")
    return text


def _detectors(task: dispatch_pb2.Task) -> Text | None:
    verdict = task.verdict
    fired = [d for d in verdict.detectors if d.fired]
    if not fired and not verdict.reasons:
        return None
    text = Text(f"quality gate: confidence {verdict.confidence:.2f}, risk {verdict.risk_tier or '-'}")
    for reason in verdict.reasons:
        text.append(f"\n  reason: {reason}")
    for d in fired:
        text.append(f"\n  flagged {d.name}", style="magenta")
        text.append(f" (score {d.score:.2f} ≥ {d.threshold:.2f})")
        if d.evidence:
            text.append(f": {d.evidence}")
    return text


def _uncertain_line(segment: common_pb2.TranscriptSegment) -> Text | None:
    words = uncertain_words(segment)
    if not words:
        return None
    text = Text(f"uncertain (p < {UNCERTAIN_BELOW}): ")
    for i, w in enumerate(words):
        text.append(", " if i else "")
        text.append(w.text.strip(), style=UNCERTAIN_STYLE)
        text.append(f" {w.probability:.2f} @ {w.start_s:.2f} s")
    return text


def _sent_back(task: dispatch_pb2.Task) -> Text | None:
    if not task.review_reasons:
        return None
    times = f" ({task.rejections} times)" if task.rejections > 1 else ""
    text = Text(f"sent back{times}:", style="bold red")
    for reason in task.review_reasons:
        text.append(f"\n  - {reason}", style="red")
    return text


def _review_part(task: dispatch_pb2.Task) -> Text | None:
    if not task.diff and not task.notes and not task.flags:
        return None
    text = Text("changes from the draft:\n", style="bold")
    text.append_text(diff_text(task.diff or "(none)"))
    if task.flags:
        names = ", ".join(flag_name(f) for f in task.flags)
        text.append(f"\nflags: {names}")
    if task.notes:
        text.append(f"\nnotes: {task.notes}")
    return text


def _scores(scores: Iterable[transcripts_pb2.LabelScore]) -> str:
    return " · ".join(f"{s.label} {s.confidence:.2f}" for s in scores) or "-"


def labelled_text(annotation: transcripts_pb2.AnnotatedTranscript) -> Text:
    """The segment's text with the model's entities highlighted, each followed by its label."""
    text = annotation.segment.text
    out = Text()
    at = 0
    for e in sorted(annotation.entities, key=lambda e: (e.start_char, e.end_char)):
        if e.start_char < at or e.end_char > len(text):
            continue  # overlapping or out of range: listed below, not drawn
        out.append(text[at : e.start_char])
        out.append(text[e.start_char : e.end_char], style=ENTITY_STYLE)
        out.append(f"[{e.label}]", style="dim")
        at = e.end_char
    out.append(text[at:])
    return out


def _labels_part(task: dispatch_pb2.Task) -> Text | None:
    """A label review: the model's entities (with the offsets ``work labels --entity`` takes),
    sentiment and intent scores best first, and why the model was unsure."""
    if task.kind != events_pb2.TASK_KIND_LABEL_REVIEW:
        return None
    a = task.annotation
    text = Text("labels to check", style="bold")
    text.append(f" ({a.pipeline or 'no pipeline'}{'' if a.trained_pipeline else ', rules only'})\n")
    text.append_text(labelled_text(a))
    text.append(f"\nentities ({len(a.entities)}):")
    for e in a.entities:
        text.append(f"\n  {e.start_char}:{e.end_char}:{e.label}", style=ENTITY_STYLE)
        text.append(f"  {e.text or a.segment.text[e.start_char : e.end_char]!r}")
        text.append(f"  {e.confidence:.2f} {e.source}".rstrip(), style="dim")
        if e.personal_data:
            text.append("  personal data", style="magenta")
    text.append(f"\nsentiment: {_scores(a.sentiment)}")
    for s in a.speaker_sentiment:
        text.append(f"\n  {s.speaker or '?'}: {_scores(s.sentiment)}", style="dim")
    text.append(f"\nintent: {_scores(a.intent)}")
    for reason in a.review_reasons:
        text.append(f"\n  unsure: {reason}", style="yellow")
    return text


def flag_name(flag: int) -> str:
    name = transcripts_pb2.CorrectionFlag.Name(flag)  # type: ignore[arg-type]
    return name.removeprefix("CORRECTION_FLAG_").lower().replace("_", "-")


def task_view(task: dispatch_pb2.Task, now: float | None = None) -> RenderableType:
    """Everything a linguist needs to work a task: header and lease, why it was sent back, the
    neighbours dimmed around the segment, uncertain words, the gate's reasons, the diff; for a
    label review the model's labels."""
    now = time.time() if now is None else now
    me = task.segment.start_s
    before = [s for s in task.context_segments if s.start_s < me]
    after = [s for s in task.context_segments if s.start_s >= me]
    parts: list[RenderableType | None] = [
        _header(task, now),
        _sent_back(task),
        Text(""),
        *(_segment_block(s, dim=True) for s in before),
        _segment_block(task.segment),
        *(_segment_block(s, dim=True) for s in after),
        Text(""),
        _uncertain_line(task.segment),
        _detectors(task),
        _review_part(task),
        _labels_part(task),
    ]
    return Group(*(p for p in parts if p is not None))


def queue_table(tasks: Sequence[dispatch_pb2.Task], now: float | None = None) -> Table:
    now = time.time() if now is None else now
    table = Table(title=f"queue ({len(tasks)} tasks)")
    for col in ("task", "kind", "language", "tier", "priority", "deadline", "state", "assignee"):
        table.add_column(col, overflow="fold")
    for t in tasks:
        table.add_row(
            Text(t.task_id),
            kind_name(t.kind),
            Text(t.dialect or t.language),
            Text(t.tier),
            str(t.priority),
            due(t.deadline, now),
            state_name(t.state),
            Text(t.assignee or "-"),
        )
    return table


def history_table(history: dispatch_pb2.TranscriptHistory) -> Table:
    table = Table(title=f"segment {history.segment_id}: {len(history.versions)} versions")
    for col in ("version", "kind", "author", "time", "text", "diff", "note"):
        table.add_column(col, overflow="fold")
    for v in history.versions:
        table.add_row(
            str(v.version),
            Text(v.kind),
            Text(v.author or "-"),
            clock(v.at),
            Text(v.segment.text),
            diff_text(v.diff),
            Text(v.note),
        )
    return table


def user_line(user: dispatch_pb2.User) -> Text:
    text = Text(user.subject, style="bold")
    if user.display_name:
        text.append(f" ({user.display_name})")
    text.append(f": roles {', '.join(user.roles) or '-'}; languages {', '.join(user.languages) or '-'}")
    if user.domains:
        text.append(f"; domains {', '.join(user.domains)}")
    if not user.active:
        text.append(" [disabled]", style="red")
    return text


def users_table(users: Iterable[dispatch_pb2.User]) -> Table:
    table = Table(title="people")
    for col in ("subject", "name", "roles", "languages", "domains", "active"):
        table.add_column(col, overflow="fold")
    for u in users:
        table.add_row(
            Text(u.subject),
            Text(u.display_name),
            Text(", ".join(u.roles)),
            Text(", ".join(u.languages)),
            Text(", ".join(u.domains)),
            Text("yes", style="green") if u.active else Text("no", style="red"),
        )
    return table


def _counts(title: str, counts: Mapping[str, int]) -> Table:
    table = Table("", "tasks", title=title)
    for key, value in sorted(counts.items()):
        table.add_row(Text(key), str(value))
    return table


def stats_view(stats: dispatch_pb2.QueueStats) -> RenderableType:
    summary = Text(f"overdue open tasks: {stats.overdue}; oldest open task: {span(stats.oldest_open_age_s)}")
    if stats.overdue:
        summary.stylize("red", 0, len(f"overdue open tasks: {stats.overdue}"))
    return Group(
        _counts("by state", stats.by_state),
        _counts("by language", stats.by_language),
        _counts("by kind", stats.by_kind),
        _counts("open, by tier", stats.open_by_tier),
        summary,
    )


def audit_table(entries: Iterable[dispatch_pb2.AuditEntry]) -> Table:
    table = Table(title="audit trail (newest first)")
    for col in ("time", "actor", "action", "task", "allowed", "outcome", "detail"):
        table.add_column(col, overflow="fold")
    for e in entries:
        table.add_row(
            clock(e.at),
            Text(e.actor),
            Text(e.action),
            Text(e.task_id or "-"),
            Text("yes", style="green") if e.allowed else Text("no", style="red"),
            Text(e.outcome, style="" if e.outcome == "OK" else "red"),
            Text(e.detail),
        )
    return table


def event_line(event: events_pb2.TaskEvent) -> Text:
    """One queue change, as ``work watch`` prints it."""
    text = Text(f"{clock(event.at)}  ", style="dim")
    text.append(f"{event.task_id}", style="bold")
    action = event.details.get("action", "")
    language = event.details.get("language", "")
    text.append(f" {kind_name(event.kind)} {language} -> {state_name(event.to_state)}")
    text.append(f"  {action} by {event.actor or '-'}")
    if event.reason:
        text.append(f": {event.reason}")
    return text
