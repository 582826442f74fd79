"""``voxloop work``: the linguists' client. Log in once, then claim a task, listen to its audio,
correct the text (in $EDITOR or with --text) and submit; reviewers approve or send back with
reasons; label reviews are answered with ``work labels`` (in ``labels_cli``). The admins'
commands (``voxloop dispatch``) are in ``admin_cli``."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import time
import wave
from contextlib import AbstractContextManager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.text import Text

from protos import common_pb2, dispatch_pb2, events_pb2, transcripts_pb2
from services.dispatch import labels_cli, render
from services.dispatch.admin_cli import dispatch_app
from services.dispatch.client import DispatchClient, retime
from services.dispatch.connection import (
    DEFAULT_HOME,
    Connection,
    Home,
    Local,
    Server,
    Token,
    config_path,
    connected,
    err,
    fail,
    out,
    save_login,
    work_connection,
)

__all__ = ["dispatch_app", "work_app"]

work_app = typer.Typer(
    help="Work the transcription queue: claim, listen, correct, review.", no_args_is_help=True
)

PLAYERS = (
    ("aplay", ["aplay", "-q"]),
    ("paplay", ["paplay"]),
    ("ffplay", ["ffplay", "-nodisp", "-autoexit", "-loglevel", "quiet"]),
)


class Kind(StrEnum):
    correct = "correct"
    review = "review"
    qa = "qa"
    label = "label"


class Flag(StrEnum):
    unintelligible = "unintelligible"
    overlap = "overlap"
    personal_data = "personal-data"
    non_speech = "non-speech"


KIND_VALUES = {
    Kind.correct: events_pb2.TASK_KIND_CORRECT,
    Kind.review: events_pb2.TASK_KIND_REVIEW,
    Kind.qa: events_pb2.TASK_KIND_QA_SAMPLE,
    Kind.label: events_pb2.TASK_KIND_LABEL_REVIEW,
}

REVIEW_KINDS = (events_pb2.TASK_KIND_REVIEW, events_pb2.TASK_KIND_QA_SAMPLE)

Kinds = Annotated[list[Kind] | None, typer.Option("--kind", help="Task kind; repeat for several.")]
Languages = Annotated[list[str] | None, typer.Option("--language", help="Language (BCP-47); repeat.")]
Flags = Annotated[list[Flag] | None, typer.Option("--flag", help="Mark the segment; repeat for several.")]
Note = Annotated[str, typer.Option("--note", help="A note for the reviewer.")]


def _work(server: str, token: str, local: bool, home: Path) -> AbstractContextManager[DispatchClient]:
    return connected(work_connection(server, token, local, home))


def _kinds(kinds: list[Kind] | None) -> list[events_pb2.TaskKind.ValueType]:
    return [KIND_VALUES[k] for k in kinds or []]


def _flags(flags: list[Flag] | None) -> list[transcripts_pb2.CorrectionFlag.ValueType]:
    return [
        transcripts_pb2.CorrectionFlag.Value("CORRECTION_FLAG_" + f.value.upper().replace("-", "_"))
        for f in flags or []
    ]


def _result(task: dispatch_pb2.Task, verb: str) -> None:
    out.print(render.result_line(task, verb, time.time()))


# -- linguists -------------------------------------------------------------------------------


@work_app.command()
def login(
    server: Annotated[str, typer.Option(help="Dispatch gRPC address HOST:PORT.")],
    token: Annotated[
        str, typer.Option(envvar="VOXLOOP_TOKEN", prompt=True, hide_input=True, help="Your token.")
    ],
    ca_cert: Annotated[Path | None, typer.Option(help="CA certificate of a TLS server (PEM).")] = None,
) -> None:
    """Check the token against the server and keep both for the other `work` commands."""
    conn = Connection(server, token, ca_cert.resolve() if ca_cert else None)
    with connected(conn) as client:
        user = client.whoami()
    path = save_login(conn)
    out.print(Text("logged in as ") + render.user_line(user))
    out.print(Text(f"saved to {path} (readable by you only)", style="dim"))


@work_app.command()
def logout() -> None:
    """Forget the saved server and token."""
    path = config_path()
    path.unlink(missing_ok=True)
    out.print(f"removed {path}")


@work_app.command()
def whoami(server: Server = "", token: Token = "", local: Local = False, home: Home = DEFAULT_HOME) -> None:
    """Who the token belongs to: roles, languages and domains."""
    with _work(server, token, local, home) as client:
        out.print(render.user_line(client.whoami()))


@work_app.command("queue")
def queue_(
    kind: Kinds = None,
    language: Languages = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    server: Server = "",
    token: Token = "",
    local: Local = False,
    home: Home = DEFAULT_HOME,
) -> None:
    """What you could claim, best first, and what you hold."""
    with _work(server, token, local, home) as client:
        tasks = client.queue(_kinds(kind), language or [], limit)
    out.print(render.queue_table(tasks))


@work_app.command()
def claim(
    kind: Kinds = None,
    language: Languages = None,
    server: Server = "",
    token: Token = "",
    local: Local = False,
    home: Home = DEFAULT_HOME,
) -> None:
    """Take the next task for your roles and languages, and show it."""
    with _work(server, token, local, home) as client:
        task = client.claim_next(_kinds(kind), language or [])
    if task is None:
        out.print("nothing to claim for you right now; `voxloop work watch` shows new tasks")
        return
    out.print(render.task_view(task))
    then = "review {} --approve (or --reject --reason R)" if task.kind in REVIEW_KINDS else "edit {}"
    if task.kind == events_pb2.TASK_KIND_LABEL_REVIEW:
        then = "labels {} --keep (or --sentiment S --intent I --entity START:END:LABEL ...)"
    out.print(
        Text(
            f"next: voxloop work play {task.task_id} --play, then voxloop work " + then.format(task.task_id),
            "dim",
        )
    )


@work_app.command()
def show(
    task_id: str, server: Server = "", token: Token = "", local: Local = False, home: Home = DEFAULT_HOME
) -> None:
    """A task: the segment with uncertain words marked, its neighbours, why it was sent back."""
    with _work(server, token, local, home) as client:
        out.print(render.task_view(client.get_task(task_id)))


def wav_seconds(wav: bytes) -> float:
    try:
        with wave.open(io.BytesIO(wav)) as reader:
            return float(reader.getnframes() / reader.getframerate())
    except (wave.Error, EOFError):
        return 0.0


def audio_player() -> list[str] | None:
    return next((command for name, command in PLAYERS if shutil.which(name)), None)


@work_app.command()
def play(
    task_id: str,
    out_file: Annotated[Path | None, typer.Option("--out", help="Where to write the WAV.")] = None,
    context: Annotated[float, typer.Option(min=0, max=10, help="Seconds of audio around the span.")] = 0.0,
    play_it: Annotated[bool, typer.Option("--play", help="Play it with aplay, paplay or ffplay.")] = False,
    server: Server = "",
    token: Token = "",
    local: Local = False,
    home: Home = DEFAULT_HOME,
) -> None:
    """Write the audio of a task you hold to a WAV file (and play it with --play)."""
    with _work(server, token, local, home) as client:
        wav = client.audio(task_id, context)
    path = out_file or Path(re.sub(r"[^A-Za-z0-9._-]", "_", task_id) + ".wav")
    path.write_bytes(wav)
    seconds = wav_seconds(wav)
    out.print(f"wrote {path} ({seconds:.1f} s of audio)")
    if seconds == 0:
        err.print(Text("the span has no audio: the recording's audio was not kept", style="yellow"))
    if not play_it or seconds == 0:
        return
    player = audio_player()
    if player is None:
        err.print(Text("no audio player on PATH (aplay, paplay or ffplay); open the file yourself", "yellow"))
        return
    subprocess.run([*player, str(path)], check=False)


def _submit(client: DispatchClient, task: dispatch_pb2.Task, text: str, flags: list[Flag], note: str) -> None:
    if not text.strip() and not flags:
        fail("nothing submitted: the text is empty (mark a segment without speech with --flag non-speech)")
    _result(client.submit_text(task, text, _flags(flags), note), "submitted")


@work_app.command()
def submit(
    task_id: str,
    text: Annotated[str, typer.Option(help="The corrected text of the whole segment.")],
    flag: Flags = None,
    note: Note = "",
    server: Server = "",
    token: Token = "",
    local: Local = False,
    home: Home = DEFAULT_HOME,
) -> None:
    """Submit the corrected text; word times are carried over from the draft."""
    with _work(server, token, local, home) as client:
        _submit(client, client.get_task(task_id), text, flag or [], note)


@work_app.command()
def split(
    task_id: str,
    at: Annotated[list[float], typer.Option(help="Recording time (s) where a new part starts; repeat.")],
    server: Server = "",
    token: Token = "",
    local: Local = False,
    home: Home = DEFAULT_HOME,
) -> None:
    """Cut the segment into parts (the words as they stand); the reviewer sees the cut."""
    with _work(server, token, local, home) as client:
        _result(client.split(client.get_task(task_id), at), f"submitted in {len(at) + 1} parts")


@work_app.command()
def merge(
    task_id: str,
    next_segment: Annotated[str, typer.Argument(help="The next segment's id (from `work show`).")],
    text: Annotated[str, typer.Option(help="The corrected text of both segments together.")],
    server: Server = "",
    token: Token = "",
    local: Local = False,
    home: Home = DEFAULT_HOME,
) -> None:
    """Merge the next segment into this one and submit the text of both; its own task closes."""
    with _work(server, token, local, home) as client:
        task = client.get_task(task_id)
        nxt = next((s for s in task.context_segments if s.segment_id == next_segment), None)
        both = [*task.segment.words, *(nxt.words if nxt else [])]
        segment = common_pb2.TranscriptSegment()
        segment.CopyFrom(task.segment)
        del segment.words[:]
        segment.words.extend(retime(both, text))
        segment.end_s = max(task.segment.end_s, nxt.end_s if nxt else 0.0)
        segment.text = " ".join(text.split())
        _result(client.merge_next(task, next_segment, segment), f"submitted merged with {next_segment}")


def editor_template(task: dispatch_pb2.Task) -> str:
    comments = [
        f"Correct segment {task.segment.segment_id} (task {task.task_id}) above.",
        "Lines starting with # are ignored; an empty text submits nothing.",
    ]
    uncertain = render.uncertain_words(task.segment)
    if uncertain:
        comments.append("Uncertain words: " + ", ".join(w.text.strip() for w in uncertain))
    comments += [f"Sent back: {r}" for r in task.review_reasons]
    return task.segment.text.strip() + "\n\n" + "".join(f"# {c}\n" for c in comments)


def without_comments(text: str) -> str:
    return " ".join(line for line in text.splitlines() if not line.lstrip().startswith("#")).strip()


@work_app.command()
def edit(
    task_id: str,
    flag: Flags = None,
    note: Note = "",
    server: Server = "",
    token: Token = "",
    local: Local = False,
    home: Home = DEFAULT_HOME,
) -> None:
    """Correct the text in $EDITOR (or read it from stdin when there is no terminal), then submit."""
    with _work(server, token, local, home) as client:
        task = client.get_task(task_id)
        if sys.stdin.isatty():
            edited = click.edit(editor_template(task), require_save=True, extension=".txt")
            if edited is None:
                fail("not saved: nothing submitted")
        else:
            edited = sys.stdin.read()
        _submit(client, task, without_comments(edited), flag or [], note)


work_app.command()(labels_cli.labels)


@work_app.command()
def review(
    task_id: str,
    approve: Annotated[bool, typer.Option("--approve", help="The correction is right.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="Send it back (needs --reason).")] = False,
    reason: Annotated[list[str] | None, typer.Option(help="Why it goes back; repeat for several.")] = None,
    server: Server = "",
    token: Token = "",
    local: Local = False,
    home: Home = DEFAULT_HOME,
) -> None:
    """Approve a correction, or reject it with reasons the annotator will see."""
    if approve == reject:
        raise typer.BadParameter("give exactly one of --approve or --reject")
    if reject and not reason:
        raise typer.BadParameter("--reject needs at least one --reason")
    with _work(server, token, local, home) as client:
        _result(client.review(task_id, approve, reason or []), "approved" if approve else "rejected")


@work_app.command()
def escalate(
    task_id: str,
    reason: Annotated[str, typer.Option(help="What a senior should look at.")],
    server: Server = "",
    token: Token = "",
    local: Local = False,
    home: Home = DEFAULT_HOME,
) -> None:
    """Hand a task you hold to a senior."""
    with _work(server, token, local, home) as client:
        _result(client.escalate(task_id, reason), "escalated")


@work_app.command()
def skip(
    task_id: str,
    reason: str = "",
    server: Server = "",
    token: Token = "",
    local: Local = False,
    home: Home = DEFAULT_HOME,
) -> None:
    """Give a task back and don't be offered it again."""
    with _work(server, token, local, home) as client:
        _result(client.skip(task_id, reason), "skipped")


@work_app.command()
def release(
    task_id: str,
    reason: str = "",
    server: Server = "",
    token: Token = "",
    local: Local = False,
    home: Home = DEFAULT_HOME,
) -> None:
    """Give a task back to the queue."""
    with _work(server, token, local, home) as client:
        _result(client.release(task_id, reason), "released")


@work_app.command()
def heartbeat(
    task_id: str, server: Server = "", token: Token = "", local: Local = False, home: Home = DEFAULT_HOME
) -> None:
    """Extend the lease of a task you hold."""
    with _work(server, token, local, home) as client:
        _result(client.heartbeat(task_id), "extended")


@work_app.command()
def history(
    segment_id: str, server: Server = "", token: Token = "", local: Local = False, home: Home = DEFAULT_HOME
) -> None:
    """Every version of a segment: draft, corrections and reviews, with their diffs."""
    with _work(server, token, local, home) as client:
        out.print(render.history_table(client.history(segment_id)))


@work_app.command()
def watch(
    language: Languages = None,
    max_events: Annotated[int, typer.Option(min=0, help="Stop after this many; 0: until Ctrl-C.")] = 0,
    server: Server = "",
    token: Token = "",
    local: Local = False,
    home: Home = DEFAULT_HOME,
) -> None:
    """Print queue changes in your languages as they happen, until Ctrl-C."""
    with _work(server, token, local, home) as client:
        try:
            for seen, event in enumerate(client.watch(language or []), start=1):
                out.print(render.event_line(event))
                if seen == max_events:
                    break
        except KeyboardInterrupt:
            out.print("stopped")
