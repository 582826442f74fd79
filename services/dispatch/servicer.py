"""gRPC DispatchService: thin over ``queue``, ``security`` and ``views``.

Each call runs as one transaction: the state change, its audit row and its events commit together.
A refused call (``tasks.Refused``) is audited in a transaction of its own, then answered with its
gRPC status; the interceptor audits the calls it refuses itself (no token, missing role).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import grpc
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from protos import dispatch_pb2, dispatch_pb2_grpc, events_pb2
from services.dispatch import corrections, labels, queue, security, tasks, versions, views
from services.dispatch.rules import CLAIMED, Person
from services.dispatch.settings import DispatchSettings
from services.dispatch.store import AuditRow, DispatchTask, DispatchUser
from services.dispatch.tasks import QueueConfig, Refused
from shared.grpc.auth import current_principal
from shared.kafka.outbox import Outbound
from shared.service import ServiceContext

T = TypeVar("T")
WATCH_POLL_S = 0.5


class DispatchServicer(dispatch_pb2_grpc.DispatchServiceServicer):
    def __init__(self, ctx: ServiceContext, settings: DispatchSettings) -> None:
        self._ctx = ctx
        self._settings = settings
        self._config: QueueConfig = settings.queue_config()

    # -- plumbing ---------------------------------------------------------------------------

    def _run(
        self,
        context: grpc.ServicerContext,
        action: str,
        task_id: str,
        work: Callable[[Session, Person], tuple[T, list[Outbound]]],
    ) -> T:
        """Run ``work`` in one unit of work; audit and answer a refusal."""
        person = security.person_of(current_principal())
        try:
            with self._ctx.unit_of_work() as (session, outbound):
                result, out = work(session, person)
                outbound += out
            return result
        except IntegrityError as exc:  # a concurrent change got there first (a guard, not expected)
            refused = Refused("ABORTED", f"{action}: a concurrent change collided with this one; try again")
            raise self._refuse(context, person, action, task_id, refused) from exc
        except Refused as exc:
            raise self._refuse(context, person, action, task_id, exc) from exc

    def _refuse(
        self, context: grpc.ServicerContext, person: Person, action: str, task_id: str, exc: Refused
    ) -> AssertionError:
        """Audit the refusal (unless it is only an answer, like an empty queue), then abort."""
        if not exc.quiet:
            with self._ctx.sessions.begin() as session:
                tasks.audit(
                    session,
                    person.subject,
                    action,
                    allowed=False,
                    outcome=exc.code,
                    detail=str(exc),
                    task_id=task_id,
                )
        context.abort(getattr(grpc.StatusCode, exc.code), str(exc))
        return AssertionError("unreachable: context.abort raises")

    def _task(self, session: Session, task: DispatchTask) -> dispatch_pb2.Task:
        return views.to_task(session, task, self._settings.guidelines_url, self._settings.context_segments)

    def _visible(self, session: Session, person: Person, task: DispatchTask, action: str) -> None:
        """Holders see their task; others only tasks they could work (or oversee, as QA leads)."""
        if (
            task.assignee == person.subject
            or person.admin
            or "qa_lead" in person.roles
            and person.speaks(task.language, task.dialect)
        ):
            return
        reason = queue.why_not(person, task, queue.parts_of(session, task.segment_id), self._config)
        if reason:
            raise Refused("PERMISSION_DENIED", f"{action}: {reason}")

    # -- linguists ---------------------------------------------------------------------------

    def ClaimNextTask(
        self, request: dispatch_pb2.ClaimNextTaskRequest, context: grpc.ServicerContext
    ) -> dispatch_pb2.Task:
        def work(session: Session, person: Person) -> tuple[dispatch_pb2.Task, list[Outbound]]:
            claimed = queue.claim_next(session, person, self._config, request.kinds, request.languages)
            if claimed is None:
                raise Refused(
                    "NOT_FOUND",
                    f"no task for {person.subject} in their languages and roles right now",
                    quiet=True,
                )
            task, out = claimed
            return self._task(session, task), out

        return self._run(context, "ClaimNextTask", "", work)

    def GetTask(
        self, request: dispatch_pb2.GetTaskRequest, context: grpc.ServicerContext
    ) -> dispatch_pb2.Task:
        def work(session: Session, person: Person) -> tuple[dispatch_pb2.Task, list[Outbound]]:
            if request.task_id:
                task = tasks.load(session, request.task_id)
            elif request.segment_id:
                found = session.scalars(
                    select(DispatchTask)
                    .where(DispatchTask.segment_id == request.segment_id)
                    .order_by(DispatchTask.created_at.desc())
                    .limit(1)
                ).first()
                if found is None:
                    raise Refused("NOT_FOUND", f"no task for segment {request.segment_id!r}")
                task = found
            else:
                raise Refused("INVALID_ARGUMENT", "GetTask needs task_id or segment_id")
            self._visible(session, person, task, "GetTask")
            return self._task(session, task), []

        return self._run(context, "GetTask", request.task_id, work)

    def StreamTaskAudio(
        self, request: dispatch_pb2.StreamTaskAudioRequest, context: grpc.ServicerContext
    ) -> Iterator[dispatch_pb2.AudioBytes]:
        def work(session: Session, person: Person) -> tuple[tuple[bytes, float, float], list[Outbound]]:
            task = tasks.load(session, request.task_id)
            if not person.admin and (task.state != CLAIMED or task.assignee != person.subject):
                raise Refused(
                    "PERMISSION_DENIED",
                    f"StreamTaskAudio: only the holder of {request.task_id} may hear its audio",
                )
            tasks.audit(session, person.subject, "StreamTaskAudio", task, before=tasks.snapshot(task))
            return views.audio_span(session, self._ctx.blobs, task, request.context_s), []

        data, start, end = self._run(context, "StreamTaskAudio", request.task_id, work)
        for piece in views.chunks(data):
            yield dispatch_pb2.AudioBytes(data=piece, mime_type="audio/wav", start_s=start, end_s=end)

    def SubmitCorrection(
        self, request: dispatch_pb2.SubmitCorrectionRequest, context: grpc.ServicerContext
    ) -> dispatch_pb2.Task:
        def work(session: Session, person: Person) -> tuple[dispatch_pb2.Task, list[Outbound]]:
            task, out = corrections.submit_correction(
                session,
                person,
                request.task_id,
                request.segment,
                list(request.flags),
                request.notes,
                request.base_version,
                self._config,
                request.parts,
                request.merge_next_segment_id,
            )
            return views.task_state(task), out

        return self._run(context, "SubmitCorrection", request.task_id, work)

    def SubmitLabels(
        self, request: dispatch_pb2.SubmitLabelsRequest, context: grpc.ServicerContext
    ) -> dispatch_pb2.Task:
        return self._action(
            context,
            "SubmitLabels",
            request.task_id,
            lambda s, p: labels.submit_labels(
                s,
                p,
                request.task_id,
                request.entities,
                request.sentiment,
                request.intent,
                request.notes,
                self._ctx.provenance(),
            ),
        )

    def ReviewTask(
        self, request: dispatch_pb2.ReviewTaskRequest, context: grpc.ServicerContext
    ) -> dispatch_pb2.Task:
        def work(session: Session, person: Person) -> tuple[dispatch_pb2.Task, list[Outbound]]:
            task, out = corrections.review(
                session, person, request.task_id, request.approve, list(request.reasons), self._config
            )
            return views.task_state(task), out

        return self._run(context, "ReviewTask", request.task_id, work)

    def EscalateTask(
        self, request: dispatch_pb2.EscalateTaskRequest, context: grpc.ServicerContext
    ) -> dispatch_pb2.Task:
        return self._action(
            context,
            "EscalateTask",
            request.task_id,
            lambda s, p: queue.escalate(s, p, request.task_id, request.reason),
        )

    def SkipTask(
        self, request: dispatch_pb2.TaskActionRequest, context: grpc.ServicerContext
    ) -> dispatch_pb2.Task:
        return self._action(
            context,
            "SkipTask",
            request.task_id,
            lambda s, p: queue.skip(s, p, request.task_id, request.reason),
        )

    def ReleaseTask(
        self, request: dispatch_pb2.TaskActionRequest, context: grpc.ServicerContext
    ) -> dispatch_pb2.Task:
        return self._action(
            context,
            "ReleaseTask",
            request.task_id,
            lambda s, p: queue.release(s, p, request.task_id, request.reason),
        )

    def Heartbeat(
        self, request: dispatch_pb2.TaskActionRequest, context: grpc.ServicerContext
    ) -> dispatch_pb2.Task:
        return self._action(
            context,
            "Heartbeat",
            request.task_id,
            lambda s, p: queue.heartbeat(s, p, request.task_id, self._config),
        )

    def _action(
        self,
        context: grpc.ServicerContext,
        action: str,
        task_id: str,
        change: Callable[[Session, Person], tuple[DispatchTask, list[Outbound]]],
    ) -> dispatch_pb2.Task:
        def work(session: Session, person: Person) -> tuple[dispatch_pb2.Task, list[Outbound]]:
            task, out = change(session, person)
            return views.task_state(task), out

        return self._run(context, action, task_id, work)

    def ListQueue(
        self, request: dispatch_pb2.ListQueueRequest, context: grpc.ServicerContext
    ) -> dispatch_pb2.ListQueueResponse:
        def work(session: Session, person: Person) -> tuple[dispatch_pb2.ListQueueResponse, list[Outbound]]:
            found = queue.open_tasks(
                session, person, self._config, request.kinds, request.languages, request.limit or 50
            )
            if request.summary:
                return dispatch_pb2.ListQueueResponse(tasks=views.queue_rows(session, found)), []
            return dispatch_pb2.ListQueueResponse(tasks=[self._task(session, t) for t in found]), []

        return self._run(context, "ListQueue", "", work)

    def WatchQueue(
        self, request: dispatch_pb2.WatchQueueRequest, context: grpc.ServicerContext
    ) -> Iterator[events_pb2.TaskEvent]:
        """Queue changes in the caller's languages as they happen (polls the audit trail, so every
        replica's changes are seen)."""
        person = security.person_of(current_principal())
        scope = {lang.split("-")[0].lower() for lang in request.languages} or None
        with self._ctx.sessions() as session:
            last = session.scalar(select(func.max(AuditRow.entry_id))) or 0
        while context.is_active():
            with self._ctx.sessions() as session:
                rows = session.scalars(
                    select(AuditRow)
                    .where(AuditRow.entry_id > last, AuditRow.allowed.is_(True), AuditRow.task_id != "")
                    .order_by(AuditRow.entry_id)
                    .limit(500)
                ).all()
                for row in rows:
                    last = row.entry_id
                    task = session.get(DispatchTask, row.task_id)
                    if (
                        task is None
                        or not person.speaks(task.language, task.dialect)
                        or (scope and task.language not in scope)
                    ):
                        continue
                    event = events_pb2.TaskEvent(
                        event_id=str(row.entry_id),
                        task_id=task.task_id,
                        kind=task.kind,  # type: ignore[arg-type]
                        segment_id=task.segment_id,
                        recording_id=task.recording_id,
                        to_state=task.state,  # type: ignore[arg-type]
                        actor=row.actor,
                        reason=row.detail,
                        details={"action": row.action, "tier": task.tier, "language": task.language},
                    )
                    event.at.FromNanoseconds(int(row.at * 1e9))
                    yield event
            time.sleep(WATCH_POLL_S)

    def GetTranscriptHistory(
        self, request: dispatch_pb2.GetTranscriptHistoryRequest, context: grpc.ServicerContext
    ) -> dispatch_pb2.TranscriptHistory:
        def work(session: Session, person: Person) -> tuple[dispatch_pb2.TranscriptHistory, list[Outbound]]:
            on_segment = session.scalars(
                select(DispatchTask).where(DispatchTask.segment_id == request.segment_id)
            ).all()
            if not on_segment:
                raise Refused("NOT_FOUND", f"no tasks for segment {request.segment_id!r}")
            if not (
                person.admin
                or "qa_lead" in person.roles
                or person.subject in {s for t in on_segment for s in t.worked_by or []}
            ):
                self._visible(session, person, on_segment[0], "GetTranscriptHistory")
            rows = versions.history(session, request.segment_id)
            return dispatch_pb2.TranscriptHistory(
                segment_id=request.segment_id, versions=[versions.to_message(r) for r in rows]
            ), []

        return self._run(context, "GetTranscriptHistory", "", work)

    def WhoAmI(self, request: dispatch_pb2.WhoAmIRequest, context: grpc.ServicerContext) -> dispatch_pb2.User:
        p = current_principal()
        return dispatch_pb2.User(
            subject=p.subject,
            roles=sorted(p.roles),
            languages=sorted(p.languages),
            domains=sorted(p.domains),
            active=True,
        )

    # -- admin (roles enforced by the interceptor, see __main__.METHOD_ROLES) ------------------

    def UpsertUser(self, request: dispatch_pb2.User, context: grpc.ServicerContext) -> dispatch_pb2.User:
        return self._run(
            context, "UpsertUser", "", lambda s, p: (security.upsert_user(s, p.subject, request), [])
        )

    def ListUsers(
        self, request: dispatch_pb2.ListUsersRequest, context: grpc.ServicerContext
    ) -> dispatch_pb2.ListUsersResponse:
        def work(session: Session, person: Person) -> tuple[dispatch_pb2.ListUsersResponse, list[Outbound]]:
            rows = session.scalars(select(DispatchUser).order_by(DispatchUser.subject)).all()
            return dispatch_pb2.ListUsersResponse(users=[security.to_message(r) for r in rows]), []

        return self._run(context, "ListUsers", "", work)

    def IssueToken(
        self, request: dispatch_pb2.IssueTokenRequest, context: grpc.ServicerContext
    ) -> dispatch_pb2.IssuedToken:
        return self._run(
            context,
            "IssueToken",
            "",
            lambda s, p: (
                security.issue_token(s, p.subject, request.subject, request.ttl_days, request.label),
                [],
            ),
        )

    def RevokeToken(
        self, request: dispatch_pb2.RevokeTokenRequest, context: grpc.ServicerContext
    ) -> dispatch_pb2.RevokeTokenResponse:
        def work(session: Session, person: Person) -> tuple[dispatch_pb2.RevokeTokenResponse, list[Outbound]]:
            return dispatch_pb2.RevokeTokenResponse(
                revoked=security.revoke_tokens(session, person.subject, request.token_id, request.subject)
            ), []

        return self._run(context, "RevokeToken", "", work)

    def GetQueueStats(
        self, request: dispatch_pb2.QueueStatsRequest, context: grpc.ServicerContext
    ) -> dispatch_pb2.QueueStats:
        def work(session: Session, person: Person) -> tuple[dispatch_pb2.QueueStats, list[Outbound]]:
            return queue.queue_stats(session, time.time()), []

        return self._run(context, "GetQueueStats", "", work)

    def GetAuditTrail(
        self, request: dispatch_pb2.AuditTrailRequest, context: grpc.ServicerContext
    ) -> dispatch_pb2.AuditTrail:
        def work(session: Session, person: Person) -> tuple[dispatch_pb2.AuditTrail, list[Outbound]]:
            query = select(AuditRow).order_by(AuditRow.entry_id.desc()).limit(request.limit or 100)
            if request.task_id:
                query = query.where(AuditRow.task_id == request.task_id)
            if request.actor:
                query = query.where(AuditRow.actor == request.actor)
            entries = []
            for row in session.scalars(query):
                entry = dispatch_pb2.AuditEntry(
                    entry_id=row.entry_id,
                    actor=row.actor,
                    action=row.action,
                    task_id=row.task_id,
                    allowed=row.allowed,
                    outcome=row.outcome,
                    before=row.before,
                    after=row.after,
                    detail=row.detail,
                )
                entry.at.FromNanoseconds(int(row.at * 1e9))
                entries.append(entry)
            return dispatch_pb2.AuditTrail(entries=entries), []

        return self._run(context, "GetAuditTrail", "", work)
