"""``voxloop work`` and ``voxloop dispatch`` (typer's CliRunner) against the real dispatch service
in-process: an admin adds people and tokens, a linguist logs in, claims, listens, corrects; a
reviewer sends it back and the linguist sees why."""

from __future__ import annotations

import re
import stat
import threading
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from protos import transcripts_pb2
from services.dispatch import connection
from shared.cli import app
from shared.stack.processes import ProcessInfo, StackState, free_port
from shared.stack.stack import token_path
from shared.topics import LABELS_REVIEWED
from tests.dispatch_harness import DispatchHarness, make_annotated, make_verdict, running_dispatch

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture(autouse=True)
def client_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The login file in tmp_path, no token from the environment, and wide tables."""
    path = tmp_path / "config" / "client.json"
    monkeypatch.setenv("VOXLOOP_CLIENT_CONFIG", str(path))
    for name in ("VOXLOOP_TOKEN", "VOXLOOP_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(connection.out, "width", 240)
    monkeypatch.setattr(connection.err, "width", 240)
    return path


def vox(*args: str, stdin: str | None = None) -> Result:
    return runner.invoke(app, list(args), input=stdin)


def ok(*args: str, stdin: str | None = None) -> str:
    result = vox(*args, stdin=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def issue(d: DispatchHarness, subject: str, role: str) -> str:
    """Add a person and issue their token, both through the admin commands."""
    admin = ("--server", d.target, "--token", d.admin_token)
    name = subject.title()
    ok("dispatch", "user", "add", subject, "--role", role, "--language", "en", "--name", name, *admin)
    printed = ok("dispatch", "token", "issue", subject, "--label", "laptop", *admin)
    assert "will not be shown again" in printed
    return re.findall(r"^vxl_\S+$", printed, re.MULTILINE)[0]


def draft_with_doubts() -> transcripts_pb2.QaVerdict:
    verdict = make_verdict("seg-1", "hello there this is a test")
    verdict.draft.segment.words[1].probability = 0.2  # "there"
    verdict.detectors.add(
        name="repetition_loop", fired=True, score=0.9, threshold=0.5, evidence="[loop] at 0.4 s"
    )
    verdict.detectors.add(name="speech_rate", fired=False, score=0.1, threshold=0.5)
    return verdict


@pytest.fixture
def dispatch(db_url: str, tmp_path: Path) -> Iterator[DispatchHarness]:
    with running_dispatch(db_url, tmp_path) as d:
        d.feed(draft_with_doubts())
        neighbour = make_verdict(
            "seg-2", "and the next words", index=1, start_s=3.0, route=transcripts_pb2.ROUTE_AUTO_ACCEPT
        )
        d.feed(neighbour)
        yield d


def test_admin_adds_people_linguist_corrects_reviewer_sends_back(
    dispatch: DispatchHarness, client_config: Path, tmp_path: Path
) -> None:
    d = dispatch
    anna, rita = issue(d, "anna", "annotator"), issue(d, "rita", "reviewer")
    admin = ("--server", d.target, "--token", d.admin_token)
    people = ok("dispatch", "user", "list", *admin)
    assert "anna" in people and "rita" in people and "Anna" in people

    assert "logged in as anna" in ok("work", "login", "--server", d.target, "--token", anna)
    assert stat.S_IMODE(client_config.stat().st_mode) == 0o600
    assert "annotator" in ok("work", "whoami")
    queue = ok("work", "queue")
    assert "correct" in queue and "queued" in queue

    claimed = ok("work", "claim", "--kind", "correct", "--language", "en")
    task_id = d.admin.get_task(segment_id="seg-1").task_id
    assert f"task {task_id}" in claimed and "lease:" in claimed
    shown = ok("work", "show", task_id)
    assert "uncertain (p < 0.5): there 0.20" in shown
    assert "flagged repetition_loop" in shown and "[loop] at 0.4 s" in shown and "speech_rate" not in shown
    assert "and the next words" in shown  # the neighbour, for context

    wav_path = tmp_path / "span.wav"
    played = ok("work", "play", task_id, "--out", str(wav_path), "--context", "2")
    assert str(wav_path) in played and "no audio" in played  # the harness keeps no audio blobs
    with wave.open(str(wav_path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        assert wav.getnframes() == 0

    submitted = ok("work", "submit", task_id, "--text", "hello there this was a test", "--flag", "overlap")
    assert f"task {task_id} submitted" in submitted

    review = ok("work", "claim", "--kind", "review", "--token", rita)
    assert "-[is] +[was]" in review  # brackets survive rich markup
    review_id = d.admin.get_task(segment_id="seg-1").task_id
    rejected = ok("work", "review", review_id, "--reject", "--reason", "misheard: is", "--token", rita)
    assert f"task {review_id} rejected" in rejected

    sent_back = ok("work", "show", task_id)
    assert "sent back" in sent_back and "misheard: is" in sent_back
    history = ok("work", "history", "seg-1")
    assert "correction" in history and "anna" in history and "+[was]" in history

    audit = ok("dispatch", "audit", "--actor", "anna", *admin)
    assert "SubmitCorrection" in audit and "ClaimNextTask" in audit


def test_edit_reads_text_from_stdin_and_review_approves(dispatch: DispatchHarness) -> None:
    d = dispatch
    anna, rita = issue(d, "anna", "annotator"), issue(d, "rita", "reviewer")
    ok("work", "login", "--server", d.target, "--token", anna)
    ok("work", "claim")
    task_id = d.admin.get_task(segment_id="seg-1").task_id
    empty = vox("work", "edit", task_id, stdin="# only a comment\n")
    assert empty.exit_code == 1 and "nothing submitted" in empty.output
    ok("work", "edit", task_id, stdin="hello there this is the test\n# ignored\n")
    review_id = d.client(rita).claim_next()
    assert review_id is not None
    assert "approved" in ok("work", "review", review_id.task_id, "--approve", "--token", rita)
    history = ok("work", "history", "seg-1", "--token", rita)
    assert "+[the]" in history and "review" in history
    usage = vox("work", "review", review_id.task_id, "--reject", "--token", rita)
    assert usage.exit_code == 2 and "--reason" in usage.output
    assert "by state" in ok("dispatch", "stats", "--server", d.target, "--token", d.admin_token)


def test_refusals_are_one_red_line(dispatch: DispatchHarness) -> None:
    d = dispatch
    anna, rita = issue(d, "anna", "annotator"), issue(d, "rita", "reviewer")
    denied = vox("dispatch", "user", "list", "--server", d.target, "--token", anna)
    assert denied.exit_code == 1 and "Traceback" not in denied.output
    assert denied.stderr.startswith("refused: PERMISSION_DENIED: ")  # the server logs to stdout here
    assert len(denied.stderr.strip().splitlines()) == 1

    ok("work", "login", "--server", d.target, "--token", anna)
    ok("work", "claim")
    task_id = d.admin.get_task(segment_id="seg-1").task_id
    not_a_review = vox("work", "review", task_id, "--approve")
    assert not_a_review.exit_code == 1 and "refused: FAILED_PRECONDITION" in not_a_review.stderr
    audit = ok("dispatch", "audit", "--actor", "anna", "--server", d.target, "--token", d.admin_token)
    assert "PERMISSION_DENIED" in audit

    admin = ("--server", d.target, "--token", d.admin_token)
    assert "revoked 1 token" in ok("dispatch", "token", "revoke", "--subject", "anna", *admin)
    revoked = vox("work", "whoami")
    assert revoked.exit_code == 1 and revoked.stderr.startswith("refused: UNAUTHENTICATED")
    assert "disabled rita" in ok("dispatch", "user", "disable", "rita", *admin)
    disabled = vox("work", "whoami", "--token", rita)
    assert disabled.exit_code == 1 and disabled.stderr.startswith("refused: UNAUTHENTICATED")


def test_watch_prints_queue_events(dispatch: DispatchHarness) -> None:
    d = dispatch
    anna = issue(d, "anna", "annotator")
    stop = threading.Event()

    def feed_until_seen() -> None:
        for i in range(40):  # the watch starts from the newest entry: keep changing the queue
            if stop.wait(0.25):
                return
            d.feed(make_verdict(f"seg-w{i}", "more words to correct", index=10 + i, start_s=10.0 + i))
        d.server.stop(0)  # nothing arrived: end the stream so the test fails instead of hanging

    feeder = threading.Thread(target=feed_until_seen, daemon=True)
    feeder.start()
    try:
        watched = vox("work", "watch", "--max-events", "1", "--server", d.target, "--token", anna)
    finally:
        stop.set()
        feeder.join()
    assert watched.exit_code == 0, watched.output
    assert re.search(r"correct en -> queued\s+created by", watched.output), watched.output


def test_not_logged_in_and_unreachable_server() -> None:
    missing = vox("work", "queue")
    assert missing.exit_code == 1 and "not logged in" in missing.output
    target = f"127.0.0.1:{free_port()}"
    unreachable = vox("work", "queue", "--server", target, "--token", "vxl_nothing")
    assert unreachable.exit_code == 1
    assert f"could not reach the dispatch server at {target}" in unreachable.output
    no_stack = vox("dispatch", "stats", "--home", "/nonexistent/voxloop")
    assert no_stack.exit_code == 1 and "no dispatch service running" in no_stack.output


def test_admin_commands_default_to_the_local_stack(dispatch: DispatchHarness, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    port = int(dispatch.target.rsplit(":", 1)[1])
    services = [ProcessInfo("dispatch", 0, "dispatch.log", grpc_port=port)]
    StackState(str(home), "127.0.0.1:9092", ProcessInfo("broker", 0, "broker.log"), services).save()
    token_path(home).write_text(dispatch.admin_token)
    ok("dispatch", "user", "add", "li", "--role", "senior", "--language", "*", "--home", str(home))
    assert "li" in ok("dispatch", "user", "list", "--home", str(home))
    assert "root" in ok("work", "whoami", "--local", "--home", str(home))
    queue = ok("work", "queue", "--local", "--home", str(home))
    assert "seg-1:correct" in queue


def test_split_and_merge_from_the_command_line(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        d.feed(make_verdict("m0", "so I was", index=0))
        d.feed(make_verdict("m1", "saying that", index=1, start_s=1.2))
        d.feed(make_verdict("m2", "hello there how are you", index=0, recording_id="rec-2"))
        anna = ("--server", d.target, "--token", issue(d, "anna", "annotator"))
        merged = ok("work", "claim", *anna)
        assert "m0:correct" in merged
        out = ok("work", "merge", "m0:correct", "m1", "--text", "so I was saying that", *anna)
        assert "merged with m1" in out
        ok("work", "claim", *anna)  # m1 is closed: the next task is rec-2's
        assert "in 2 parts" in ok("work", "split", "m2:correct", "--at", "0.8", *anna)
        assert list(d.admin.get_task(task_id="m2:correct").split_at) == [pytest.approx(0.8)]
        assert d.admin.get_task(task_id="m1:correct").review_reasons == ["merged into m0"]


def test_label_review_from_the_command_line(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        text = "Anna Berg called about order 4417 and she is not happy"
        d.feed_annotated(make_annotated("l1", text, version=3))
        d.feed_annotated(make_annotated("l2", text, version=3, recording_id="rec-2"))
        anna = ("--server", d.target, "--token", issue(d, "anna", "annotator"))
        assert "label" in ok("work", "queue", "--kind", "label", *anna)

        shown = ok("work", "claim", "--kind", "label", *anna)
        assert "l1:label:3" in shown and "labels to check (en_core_web_sm)" in shown
        assert (
            "0:9:PERSON  'Anna Berg'" in shown and "Anna Berg[PERSON]" in shown and "personal data" in shown
        )
        assert "sentiment: negative 0.41 · neutral 0.38 · positive 0.21" in shown
        assert (
            "intent: complaint 0.50" in shown and "unsure: sentiment: negative 0.41 vs neutral 0.38" in shown
        )
        assert "voxloop work labels l1:label:3 --keep" in shown

        order = text.index("order 4417")
        bad = vox(
            "work", "labels", "l1:label:3", "--keep", "--entity", "0:9:PERSON", "--entity", "5:12:ORG", *anna
        )
        assert (
            bad.exit_code == 1 and "refused: INVALID_ARGUMENT: entities[1] (ORG 5-12) overlaps" in bad.stderr
        )
        usage = vox("work", "labels", "l1:label:3", "--entity", "PERSON", *anna)
        assert usage.exit_code == 2 and "12:17:PERSON" in usage.output
        changed = ok(
            "work", "labels", "l1:label:3", "--keep", "--sentiment", "neutral",
            "--entity", "0:9:PERSON", "--entity", f"{order}:{order + 10}:ORDER_ID", "--note", "calm", *anna,
        )  # fmt: skip
        assert "task l1:label:3 labelled (2 entities) (now done)" in changed

        ok("work", "claim", *anna)
        assert "labelled (2 entities)" in ok("work", "labels", "l2:label:3", "--keep", *anna)
        first, kept = d.published(LABELS_REVIEWED.name)
        assert isinstance(first, transcripts_pb2.LabelReview) and isinstance(
            kept, transcripts_pb2.LabelReview
        )
        assert (first.sentiment, first.intent, first.notes) == ("neutral", "complaint", "calm")
        assert [(e.label, e.text) for e in first.entities] == [
            ("PERSON", "Anna Berg"),
            ("ORDER_ID", "order 4417"),
        ]
        assert (kept.sentiment, kept.intent) == ("negative", "complaint")
        assert [(e.label, e.text) for e in kept.entities] == [("PERSON", "Anna Berg"), ("CARDINAL", "4417")]
        nothing = vox("work", "labels", "l2:label:3", *anna)
        assert nothing.exit_code == 2 and "give --keep" in nothing.output
