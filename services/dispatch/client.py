"""Python client for the dispatch API: what linguists' tools and scripts use.

    client = DispatchClient("127.0.0.1:50054", token)
    task = client.claim_next()              # None when the queue has nothing for you
    wav = client.audio(task.task_id)        # the span, as WAV bytes
    client.submit_text(task, "the corrected text")
    client.review(task_id, approve=False, reasons=["misheard name"])
    client.submit_labels(task_id, entities, sentiment="negative", intent="complaint")

Every refusal arrives as ``DispatchError`` with the gRPC status name and the server's message.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import grpc

from protos import common_pb2, dispatch_pb2, dispatch_pb2_grpc, events_pb2, transcripts_pb2

DEFAULT_TIMEOUT_S = 30.0


class DispatchError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


def retime(draft: Sequence[common_pb2.Word], text: str) -> list[common_pb2.Word]:
    """Words for a corrected text with the draft's times: a kept or one-for-one replaced word keeps
    its times and speaker; an uneven run of new words shares the span (or gap) it was typed into."""
    new = text.split()
    old = [w.text.strip() for w in draft]
    out: list[common_pb2.Word] = []
    matcher = difflib.SequenceMatcher(a=[w.lower() for w in old], b=[w.lower() for w in new], autojunk=False)
    for _, i1, i2, j1, j2 in matcher.get_opcodes():
        if j1 == j2:
            continue  # deleted words leave nothing behind
        if i2 - i1 == j2 - j1:  # kept or replaced one for one: each word keeps its own times
            for k, word in enumerate(new[j1:j2]):
                was = draft[i1 + k]
                out.append(
                    common_pb2.Word(
                        text=word,
                        start_s=was.start_s,
                        end_s=was.end_s,
                        probability=was.probability if old[i1 + k].lower() == word.lower() else 1.0,
                        speaker=was.speaker,
                    )
                )
            continue
        if i1 < i2:
            start, end, speaker = draft[i1].start_s, draft[i2 - 1].end_s, draft[i1].speaker
        else:  # an insertion: the gap between the neighbouring draft words
            start = draft[i1 - 1].end_s if i1 > 0 else (draft[0].start_s if draft else 0.0)
            end = draft[i1].start_s if i1 < len(draft) else start
            speaker = draft[min(i1, len(draft) - 1)].speaker if draft else ""
        step = (end - start) / (j2 - j1)
        for k, word in enumerate(new[j1:j2]):  # typed by a person: certain, times shared out
            out.append(
                common_pb2.Word(
                    text=word,
                    start_s=start + k * step,
                    end_s=start + (k + 1) * step,
                    probability=1.0,
                    speaker=speaker,
                )
            )
    return out


@dataclass(frozen=True)
class Labels:
    """A label review's answer: the whole entity set, one sentiment and one intent label."""

    entities: list[transcripts_pb2.Entity]
    sentiment: str
    intent: str


def model_labels(annotation: transcripts_pb2.AnnotatedTranscript) -> Labels:
    """The model's labels as they are: its entities, its best sentiment and intent (each label set
    comes best first)."""
    return Labels(
        entities=list(annotation.entities),
        sentiment=annotation.sentiment[0].label if annotation.sentiment else "",
        intent=annotation.intent[0].label if annotation.intent else "",
    )


class DispatchClient:
    def __init__(
        self,
        target: str,
        token: str,
        root_certificates: Path | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if root_certificates is not None:
            credentials = grpc.ssl_channel_credentials(root_certificates.read_bytes())
            self._channel = grpc.secure_channel(target, credentials)
        else:
            self._channel = grpc.insecure_channel(target)
        self._stub = dispatch_pb2_grpc.DispatchServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._timeout = timeout_s

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> DispatchClient:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def _call(self, method: str, request: object) -> object:
        try:
            return getattr(self._stub, method)(request, metadata=self._metadata, timeout=self._timeout)
        except grpc.RpcError as exc:
            raise DispatchError(exc.code(), exc.details() or "") from None

    # -- linguists ---------------------------------------------------------------------------

    def whoami(self) -> dispatch_pb2.User:
        return self._call("WhoAmI", dispatch_pb2.WhoAmIRequest())  # type: ignore[return-value]

    def claim_next(
        self, kinds: Iterable[events_pb2.TaskKind.ValueType] = (), languages: Iterable[str] = ()
    ) -> dispatch_pb2.Task | None:
        try:
            return self._call(  # type: ignore[return-value]
                "ClaimNextTask",
                dispatch_pb2.ClaimNextTaskRequest(kinds=list(kinds), languages=list(languages)),
            )
        except DispatchError as exc:
            if exc.code == grpc.StatusCode.NOT_FOUND:
                return None
            raise

    def get_task(self, task_id: str = "", segment_id: str = "") -> dispatch_pb2.Task:
        return self._call("GetTask", dispatch_pb2.GetTaskRequest(task_id=task_id, segment_id=segment_id))  # type: ignore[return-value]

    def queue(
        self,
        kinds: Iterable[events_pb2.TaskKind.ValueType] = (),
        languages: Iterable[str] = (),
        limit: int = 50,
    ) -> list[dispatch_pb2.Task]:
        request = dispatch_pb2.ListQueueRequest(kinds=list(kinds), languages=list(languages), limit=limit)
        return list(self._call("ListQueue", request).tasks)  # type: ignore[attr-defined]

    def audio(self, task_id: str, context_s: float = 0.0) -> bytes:
        """The task's audio span as WAV bytes (only for the task's holder)."""
        request = dispatch_pb2.StreamTaskAudioRequest(task_id=task_id, context_s=context_s)
        try:
            stream = self._stub.StreamTaskAudio(request, metadata=self._metadata, timeout=self._timeout)
            return b"".join(piece.data for piece in stream)
        except grpc.RpcError as exc:
            raise DispatchError(exc.code(), exc.details() or "") from None

    def submit(
        self,
        task: dispatch_pb2.Task,
        segment: common_pb2.TranscriptSegment,
        flags: Iterable[transcripts_pb2.CorrectionFlag.ValueType] = (),
        notes: str = "",
    ) -> dispatch_pb2.Task:
        request = dispatch_pb2.SubmitCorrectionRequest(
            task_id=task.task_id, segment=segment, flags=list(flags), notes=notes, base_version=task.version
        )
        return self._call("SubmitCorrection", request)  # type: ignore[return-value]

    def split(
        self,
        task: dispatch_pb2.Task,
        at_s: Sequence[float],
        segment: common_pb2.TranscriptSegment | None = None,
    ) -> dispatch_pb2.Task:
        """Submit the segment (the task's, or a corrected one) cut into parts before each time in ``at_s``."""
        whole = segment or task.segment
        bounds = [whole.start_s, *sorted(at_s), whole.end_s + 1.0]
        parts = []
        for start, end in zip(bounds, bounds[1:], strict=False):
            part = common_pb2.TranscriptSegment(segment_id=whole.segment_id, start_s=start)
            part.words.extend(w for w in whole.words if start <= (w.start_s + w.end_s) / 2 < end)
            part.text = " ".join(w.text.strip() for w in part.words)
            parts.append(part)
        request = dispatch_pb2.SubmitCorrectionRequest(
            task_id=task.task_id, parts=parts, base_version=task.version
        )
        return self._call("SubmitCorrection", request)  # type: ignore[return-value]

    def merge_next(
        self, task: dispatch_pb2.Task, next_segment_id: str, segment: common_pb2.TranscriptSegment
    ) -> dispatch_pb2.Task:
        """Submit ``segment`` as the correction of this segment and the next one, merged."""
        request = dispatch_pb2.SubmitCorrectionRequest(
            task_id=task.task_id,
            segment=segment,
            merge_next_segment_id=next_segment_id,
            base_version=task.version,
        )
        return self._call("SubmitCorrection", request)  # type: ignore[return-value]

    def submit_text(
        self,
        task: dispatch_pb2.Task,
        text: str,
        flags: Iterable[transcripts_pb2.CorrectionFlag.ValueType] = (),
        notes: str = "",
    ) -> dispatch_pb2.Task:
        """Submit a corrected text; word times come from the draft (``retime``)."""
        segment = common_pb2.TranscriptSegment()
        segment.CopyFrom(task.segment)
        segment.text = " ".join(text.split())
        del segment.words[:]
        segment.words.extend(retime(task.segment.words, text))
        return self.submit(task, segment, flags, notes)

    def submit_labels(
        self,
        task_id: str,
        entities: Iterable[transcripts_pb2.Entity],
        sentiment: str,
        intent: str,
        notes: str = "",
    ) -> dispatch_pb2.Task:
        """A label review: the whole entity set (label, start_char, end_char into the segment's
        text), one of the annotation's sentiment labels and one of its intent labels."""
        request = dispatch_pb2.SubmitLabelsRequest(
            task_id=task_id, entities=list(entities), sentiment=sentiment, intent=intent, notes=notes
        )
        return self._call("SubmitLabels", request)  # type: ignore[return-value]

    def review(self, task_id: str, approve: bool, reasons: Iterable[str] = ()) -> dispatch_pb2.Task:
        request = dispatch_pb2.ReviewTaskRequest(task_id=task_id, approve=approve, reasons=list(reasons))
        return self._call("ReviewTask", request)  # type: ignore[return-value]

    def escalate(self, task_id: str, reason: str) -> dispatch_pb2.Task:
        return self._call("EscalateTask", dispatch_pb2.EscalateTaskRequest(task_id=task_id, reason=reason))  # type: ignore[return-value]

    def skip(self, task_id: str, reason: str = "") -> dispatch_pb2.Task:
        return self._call("SkipTask", dispatch_pb2.TaskActionRequest(task_id=task_id, reason=reason))  # type: ignore[return-value]

    def release(self, task_id: str, reason: str = "") -> dispatch_pb2.Task:
        return self._call("ReleaseTask", dispatch_pb2.TaskActionRequest(task_id=task_id, reason=reason))  # type: ignore[return-value]

    def heartbeat(self, task_id: str) -> dispatch_pb2.Task:
        return self._call("Heartbeat", dispatch_pb2.TaskActionRequest(task_id=task_id))  # type: ignore[return-value]

    def history(self, segment_id: str) -> dispatch_pb2.TranscriptHistory:
        request = dispatch_pb2.GetTranscriptHistoryRequest(segment_id=segment_id)
        return self._call("GetTranscriptHistory", request)  # type: ignore[return-value]

    def watch(self, languages: Iterable[str] = ()) -> Iterator[events_pb2.TaskEvent]:
        """Queue changes as they happen; iterate, and cancel by closing the client."""
        request = dispatch_pb2.WatchQueueRequest(languages=list(languages))
        try:
            yield from self._stub.WatchQueue(request, metadata=self._metadata)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                raise DispatchError(exc.code(), exc.details() or "") from None

    # -- admin -------------------------------------------------------------------------------

    def upsert_user(
        self,
        subject: str,
        roles: Iterable[str],
        languages: Iterable[str],
        domains: Iterable[str] = (),
        display_name: str = "",
        active: bool = True,
    ) -> dispatch_pb2.User:
        user = dispatch_pb2.User(
            subject=subject,
            display_name=display_name,
            roles=list(roles),
            languages=list(languages),
            domains=list(domains),
            active=active,
        )
        return self._call("UpsertUser", user)  # type: ignore[return-value]

    def users(self) -> list[dispatch_pb2.User]:
        return list(self._call("ListUsers", dispatch_pb2.ListUsersRequest()).users)  # type: ignore[attr-defined]

    def issue_token(self, subject: str, ttl_days: int = 0, label: str = "") -> dispatch_pb2.IssuedToken:
        request = dispatch_pb2.IssueTokenRequest(subject=subject, ttl_days=ttl_days, label=label)
        return self._call("IssueToken", request)  # type: ignore[return-value]

    def revoke(self, token_id: str = "", subject: str = "") -> int:
        request = dispatch_pb2.RevokeTokenRequest(token_id=token_id, subject=subject)
        return int(self._call("RevokeToken", request).revoked)  # type: ignore[attr-defined]

    def stats(self) -> dispatch_pb2.QueueStats:
        return self._call("GetQueueStats", dispatch_pb2.QueueStatsRequest())  # type: ignore[return-value]

    def audit_trail(
        self, task_id: str = "", actor: str = "", limit: int = 100
    ) -> list[dispatch_pb2.AuditEntry]:
        request = dispatch_pb2.AuditTrailRequest(task_id=task_id, actor=actor, limit=limit)
        return list(self._call("GetAuditTrail", request).entries)  # type: ignore[attr-defined]
