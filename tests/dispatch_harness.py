"""The dispatch service in-process for tests: its real database (SQLite or PostgreSQL), its real
gRPC server with the real interceptor, tokens and audit; verdicts fed through its real handler.
The outbox is read back from the database instead of a broker (the e2e tests use the broker)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.message import Message
from sqlalchemy import select

from protos import dispatch_pb2, dispatch_pb2_grpc, transcripts_pb2
from services.dispatch.__main__ import METHOD_ROLES, MIGRATIONS
from services.dispatch.client import DispatchClient
from services.dispatch.handler import make_annotated_handler, make_handler
from services.dispatch.security import DatabaseTokens, make_refusal_auditor
from services.dispatch.servicer import DispatchServicer
from services.dispatch.settings import DispatchSettings
from services.dispatch.workload import make_verdict
from shared.db import OutboxEntry
from shared.grpc.auth import AccessPolicy, StaticTokens, hash_token, new_token
from shared.grpc.server import GrpcService, RunningServer, start_server
from shared.kafka import codec
from shared.kafka.consumer import Inbound
from shared.service import ServiceContext, build_context
from shared.settings import TokenSpec
from shared.topics import TRANSCRIPTS_ANNOTATED

__all__ = ["DispatchHarness", "make_annotated", "make_verdict", "running_dispatch"]


@dataclass
class DispatchHarness:
    ctx: ServiceContext
    server: RunningServer
    admin_token: str
    settings: DispatchSettings
    clients: list[DispatchClient] = field(default_factory=list)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def client(self, token: str) -> DispatchClient:
        client = DispatchClient(self.target, token)
        self.clients.append(client)
        return client

    @property
    def admin(self) -> DispatchClient:
        return self.client(self.admin_token)

    def person(
        self, subject: str, roles: Sequence[str], languages: Sequence[str], domains: Sequence[str] = ()
    ) -> DispatchClient:
        """Create the person and a client holding a fresh token of theirs."""
        admin = self.admin
        admin.upsert_user(subject, roles, languages, list(domains))
        return self.client(admin.issue_token(subject).token)

    def feed(self, verdict: transcripts_pb2.QaVerdict) -> None:
        """Deliver one verdict to the consumer's handler, in one transaction, as the consumer does."""
        handler = make_handler(self.settings.queue_config())
        with self.ctx.unit_of_work() as (session, outbound):
            inbound = Inbound(verdict, codec.new_id(), codec.new_id(), "transcripts.qa.v1", 0, 0, None)
            outbound += handler(session, inbound)

    def feed_annotated(self, annotated: transcripts_pb2.AnnotatedTranscript, trace_id: str = "") -> None:
        """Deliver one annotated transcript to its handler, as the consumer does."""
        handler = make_annotated_handler(self.settings.queue_config())
        with self.ctx.unit_of_work() as (session, outbound):
            topic = TRANSCRIPTS_ANNOTATED.name
            inbound = Inbound(annotated, codec.new_id(), trace_id or codec.new_id(), topic, 0, 0, None)
            outbound += handler(session, inbound)

    def published(self, topic: str) -> list[Message]:
        with self.ctx.sessions() as session:
            rows = session.scalars(
                select(OutboxEntry).where(OutboxEntry.topic == topic).order_by(OutboxEntry.id)
            )
            return [codec.decode(topic, r.value, [(k, v.encode()) for k, v in r.headers]) for r in rows]


def make_annotated(
    segment_id: str,
    text: str = "Anna Berg called about order 4417 and she is not happy",
    version: int = 3,
    language: str = "en",
    recording_id: str = "rec-1",
    needs_label_review: bool = True,
) -> transcripts_pb2.AnnotatedTranscript:
    """An annotated segment the model was unsure of: two entities (one a person's name), three
    sentiment and three intent labels best first, and its reasons."""
    verdict = make_verdict(segment_id, text, language=language, recording_id=recording_id)
    annotated = transcripts_pb2.AnnotatedTranscript(
        context=verdict.context,
        segment=verdict.draft.segment,
        pipeline=f"{language}_core_web_sm",
        trained_pipeline=True,
        needs_label_review=needs_label_review,
        version=version,
        review_reasons=["sentiment: negative 0.41 vs neutral 0.38"] if needs_label_review else [],
    )
    for label, surface, source in (("PERSON", "Anna Berg", "model:ner"), ("CARDINAL", "4417", "model:ner")):
        start = text.find(surface)
        if start >= 0:
            annotated.entities.add(
                label=label,
                text=surface,
                start_char=start,
                end_char=start + len(surface),
                confidence=0.7,
                source=source,
                personal_data=label == "PERSON",
            )
    for label, score in (("negative", 0.41), ("neutral", 0.38), ("positive", 0.21)):
        annotated.sentiment.add(label=label, confidence=score)
    for label, score in (("complaint", 0.5), ("order_status", 0.3), ("other", 0.2)):
        annotated.intent.add(label=label, confidence=score)
    return annotated


@contextmanager
def running_dispatch(db_url: str, data_dir: Path, **overrides: object) -> Iterator[DispatchHarness]:
    admin_token = new_token()
    settings = DispatchSettings(
        database_url=db_url,
        data_dir=data_dir,
        auth_tokens=[TokenSpec(sha256=hash_token(admin_token), subject="root", roles=["admin"])],
        **overrides,  # type: ignore[arg-type]
    )
    ctx = build_context(settings, [MIGRATIONS], immediate_writes=True)
    server = start_server(
        "dispatch",
        [
            GrpcService.of(
                dispatch_pb2,
                "DispatchService",
                DispatchServicer(ctx, settings),
                dispatch_pb2_grpc.add_DispatchServiceServicer_to_server,
            )
        ],
        "127.0.0.1",
        0,
        AccessPolicy(required=True, method_roles=METHOD_ROLES),
        DatabaseTokens(ctx.sessions, StaticTokens(settings.auth_tokens)),
        max_workers=settings.grpc_max_workers,
        on_refused=make_refusal_auditor(ctx.sessions),
        tls=settings.grpc_tls,
    )
    harness = DispatchHarness(ctx, server, admin_token, settings)
    try:
        yield harness
    finally:
        for client in harness.clients:
            client.close()
        server.stop(0)
        ctx.sessions.kw["bind"].dispose()
