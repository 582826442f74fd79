"""Simulated linguists: real clients of the real API, for the demo, the end-to-end tests and the
concurrency benchmark. Everyone claims whatever their roles allow. On a correction an annotator
submits what its ``answer`` says (a reference transcript, or the draft as is); on a label review
what its ``labels`` says (the model's labels as they are, unless it knows better); a reviewer
approves, or rejects a share with a reason.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import grpc

from protos import dispatch_pb2, events_pb2, transcripts_pb2
from services.dispatch.client import DispatchClient, DispatchError, Labels, model_labels

Answer = Callable[[dispatch_pb2.Task], str]
LabelAnswer = Callable[[dispatch_pb2.Task], Labels]


def as_drafted(task: dispatch_pb2.Task) -> str:
    """Accept the words as they are (what an annotator does with a correct draft)."""
    return task.segment.text or "[no speech]"


def as_labelled(task: dispatch_pb2.Task) -> Labels:
    """Accept the model's labels (its entities, best sentiment and intent), as a person would:
    of entities that overlap (two layers found the same words) the longer stays, and one reaching
    past the text goes (the service refuses both)."""
    labels = model_labels(task.annotation)
    length = len(task.annotation.segment.text)
    kept: list[transcripts_pb2.Entity] = []
    for e in sorted(labels.entities, key=lambda e: (e.start_char - e.end_char, e.start_char)):
        inside = 0 <= e.start_char < e.end_char <= length
        if inside and all(e.end_char <= k.start_char or k.end_char <= e.start_char for k in kept):
            kept.append(e)
    return replace(labels, entities=sorted(kept, key=lambda e: e.start_char))


@dataclass
class CrewStats:
    claims: int = 0
    submits: int = 0
    reviews: int = 0
    rejections: int = 0
    labels: int = 0  # label reviews submitted
    empty_polls: int = 0
    conflicts: int = 0  # refusals from races (another claimed or changed the task first)
    claim_s: list[float] = field(default_factory=list)  # claims that got a task
    empty_poll_s: list[float] = field(default_factory=list)  # claims that found nothing
    submit_s: list[float] = field(default_factory=list)  # corrections and reviews
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, value: float | int = 1) -> None:
        with self.lock:
            current = getattr(self, name)
            if isinstance(current, list):
                current.append(value)
            else:
                setattr(self, name, current + value)


@dataclass
class Linguist:
    client: DispatchClient
    subject: str
    kinds: Sequence[events_pb2.TaskKind.ValueType]
    answer: Answer = as_drafted
    labels: LabelAnswer = as_labelled
    reject_rate: float = 0.0  # reviewers: share of reviews sent back
    think_s: float = 0.0  # pause between claim and submit, as people take
    seed: int = 0

    def step(self, stats: CrewStats) -> bool:
        """Claim and finish one task; False when the queue had nothing for this person."""
        started = time.perf_counter()
        try:
            task = self.client.claim_next(self.kinds)
        except DispatchError as exc:
            stats.add("errors", f"{self.subject} claim: {exc}")  # type: ignore[arg-type]
            return False
        elapsed_s = time.perf_counter() - started
        if task is None:
            stats.add("empty_polls")
            stats.add("empty_poll_s", elapsed_s)
            return False
        stats.add("claim_s", elapsed_s)
        stats.add("claims")
        if self.think_s:
            time.sleep(self.think_s)
        started = time.perf_counter()
        try:
            if task.kind == events_pb2.TASK_KIND_CORRECT:
                self.client.submit_text(task, self.answer(task))
                stats.add("submits")
            elif task.kind == events_pb2.TASK_KIND_LABEL_REVIEW:
                chosen = self.labels(task)
                self.client.submit_labels(task.task_id, chosen.entities, chosen.sentiment, chosen.intent)
                stats.add("labels")
            elif task.kind in (events_pb2.TASK_KIND_REVIEW, events_pb2.TASK_KIND_QA_SAMPLE):
                reject = random.Random(f"{self.seed}:{task.task_id}").random() < self.reject_rate
                self.client.review(
                    task.task_id, approve=not reject, reasons=["simulated: recheck"] if reject else []
                )
                stats.add("rejections" if reject else "reviews")
            else:  # a kind this crew cannot work: back to the queue rather than held till the lease lapses
                kind = events_pb2.TaskKind.Name(task.kind)
                self.client.skip(task.task_id, f"simulated: cannot work a {kind} task")
        except DispatchError as exc:
            if exc.code in (grpc.StatusCode.ABORTED, grpc.StatusCode.FAILED_PRECONDITION):
                stats.add("conflicts")
            else:  # refused: give it back, not held until the lease lapses, and not offered again
                stats.add("errors", f"{self.subject} {task.task_id}: {exc}")  # type: ignore[arg-type]
                with contextlib.suppress(DispatchError):
                    self.client.skip(task.task_id, f"simulated: refused ({exc.code.name})")
            return True
        stats.add("submit_s", time.perf_counter() - started)
        return True


def enrol(
    admin: DispatchClient,
    target: str,
    subject: str,
    roles: Iterable[str],
    languages: Iterable[str],
    **kwargs: object,
) -> Linguist:
    """Create the person, issue their token, and return them as a simulated linguist."""
    roles = list(roles)
    admin.upsert_user(subject, roles, list(languages), ["*"])
    token = admin.issue_token(subject, label="simulated").token
    # Any kind their roles allow: a kind the crew skips would wait for its lease on every claim.
    return Linguist(DispatchClient(target, token), subject, [], **kwargs)  # type: ignore[arg-type]


def run_crew(
    crew: Sequence[Linguist],
    until: Callable[[], bool],
    timeout_s: float,
    idle_sleep_s: float = 0.2,
    stats: CrewStats | None = None,
) -> CrewStats:
    """Everyone works in their own thread until ``until()`` holds (checked between tasks)."""
    stats = CrewStats() if stats is None else stats
    stop = threading.Event()
    deadline = time.monotonic() + timeout_s

    def work(linguist: Linguist) -> None:
        while not stop.is_set():
            if not linguist.step(stats):
                stop.wait(idle_sleep_s)

    threads = [threading.Thread(target=work, args=(p,), name=p.subject, daemon=True) for p in crew]
    for thread in threads:
        thread.start()
    try:
        while not until():
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the simulated linguists did not finish in {timeout_s:.0f} s: {stats.errors[-3:]}"
                )
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    return stats
