"""The feedback service's gRPC API through the real server and its access policy, on SQLite and
PostgreSQL: who may snapshot and export, the precise refusals, and a snapshot exported from
real audio in the blob store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from sqlalchemy import select

from protos import events_pb2, feedback_pb2, feedback_pb2_grpc
from services.feedback.__main__ import MIGRATIONS
from services.feedback.handler import make_handler
from services.feedback.servicer import METHOD_ROLES, FeedbackServicer
from services.feedback.settings import FeedbackSettings
from shared.audio import TARGET_RATE_HZ, to_wav
from shared.db import OutboxEntry
from shared.grpc.auth import AccessPolicy, StaticTokens, hash_token, new_token
from shared.grpc.server import GrpcService, start_server
from shared.kafka import codec
from shared.kafka.consumer import Inbound
from shared.service import ServiceContext, build_context
from shared.settings import TokenSpec
from shared.stack.demo import sample_recording
from shared.topics import ASR_VOCABULARY, TRANSCRIPTS_VALIDATED
from tests.integration.test_feedback_flow import validated

pytestmark = pytest.mark.integration

ROLES = {"root": ["admin"], "mia": ["ml_engineer"], "ana": ["annotator"], "quinn": ["qa_lead"]}


@dataclass
class Api:
    ctx: ServiceContext
    target: str
    tokens: dict[str, str]

    def call(self, who: str, method: str, request: object) -> object:
        with grpc.insecure_channel(self.target) as channel:
            stub = feedback_pb2_grpc.FeedbackServiceStub(channel)  # type: ignore[no-untyped-call]
            metadata = (("authorization", f"Bearer {self.tokens[who]}"),)
            reply = getattr(stub, method)(request, metadata=metadata, timeout=120)
            return list(reply) if method == "ExportDataset" else reply  # a stream: read it here

    def refused(self, who: str, method: str, request: object) -> grpc.RpcError:
        with pytest.raises(grpc.RpcError) as caught:
            self.call(who, method, request)
        return caught.value

    def validate_sample_calls(self) -> None:
        """Three recordings cut from pyannote's sample, stored as the ASR service stores audio."""
        samples = sample_recording().samples
        handler = make_handler(self.ctx, self.ctx.settings)  # type: ignore[arg-type]
        for n, (start, end, text) in enumerate(
            [(6.7, 9.9, "Oh hello"), (10.0, 14.3, "Neither did I"), (14.5, 19.0, "This is Diane")]
        ):
            blob = self.ctx.blobs.put(
                to_wav(samples[int(start * TARGET_RATE_HZ) : int(end * TARGET_RATE_HZ)]), ".wav"
            )
            v = validated(f"rec-{n}:0", f"rec-{n}", text, text.lower() + " uh", start_s=start)
            v.segment.end_s = end
            v.audio.uri, v.audio.sha256, v.audio.encoding = blob.uri, blob.sha256, "wav"
            v.audio.sample_rate_hz, v.audio.channels, v.audio.duration_s = TARGET_RATE_HZ, 1, end - start
            with self.ctx.sessions.begin() as session:
                handler(session, Inbound(v, codec.new_id(), "t", TRANSCRIPTS_VALIDATED.name, 0, n, b"k"))


@contextmanager
def running_feedback(db_url: str, data_dir: Path) -> Iterator[Api]:
    tokens = {who: new_token() for who in ROLES}
    settings = FeedbackSettings(
        database_url=db_url,
        data_dir=data_dir,
        auth_tokens=[TokenSpec(sha256=hash_token(tokens[w]), subject=w, roles=r) for w, r in ROLES.items()],
    )
    ctx = build_context(settings, [MIGRATIONS])
    service = GrpcService.of(
        feedback_pb2,
        "FeedbackService",
        FeedbackServicer(ctx, settings),
        feedback_pb2_grpc.add_FeedbackServiceServicer_to_server,
    )
    server = start_server(
        "feedback",
        [service],
        "127.0.0.1",
        0,
        AccessPolicy(required=True, method_roles=METHOD_ROLES),
        StaticTokens(settings.auth_tokens),
    )
    try:
        yield Api(ctx, f"127.0.0.1:{server.port}", tokens)
    finally:
        server.stop(0)
        ctx.sessions.kw["bind"].dispose()


def test_snapshot_and_export_refusals_are_precise(db_url: str, tmp_path: Path) -> None:
    with running_feedback(db_url, tmp_path) as api:
        empty = api.refused("mia", "CreateSnapshot", feedback_pb2.CreateSnapshotRequest())
        assert empty.code() == grpc.StatusCode.FAILED_PRECONDITION and "no validated examples" in (
            empty.details() or ""
        )
        denied = api.refused("ana", "CreateSnapshot", feedback_pb2.CreateSnapshotRequest())
        assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
        missing = api.refused(
            "mia", "ExportSnapshot", feedback_pb2.ExportSnapshotRequest(snapshot_id="ds-nope")
        )
        assert missing.code() == grpc.StatusCode.NOT_FOUND and "ds-nope" in (missing.details() or "")
        blank = api.refused("mia", "ExportSnapshot", feedback_pb2.ExportSnapshotRequest())
        assert blank.code() == grpc.StatusCode.INVALID_ARGUMENT and "snapshot_id" in (blank.details() or "")
        bad_split = api.refused("ana", "ExportDataset", feedback_pb2.ExportDatasetRequest(split="training"))
        assert bad_split.code() == grpc.StatusCode.INVALID_ARGUMENT and "split" in (bad_split.details() or "")


def test_an_ml_engineer_snapshots_and_exports_real_audio(db_url: str, tmp_path: Path) -> None:
    with running_feedback(db_url, tmp_path) as api:
        api.validate_sample_calls()
        made = api.call("mia", "CreateSnapshot", feedback_pb2.CreateSnapshotRequest(note="api test"))
        assert isinstance(made, feedback_pb2.DatasetSnapshot)
        assert made.examples == 3 and made.created_by == "mia" and made.note == "api test"
        assert sorted(s.split for s in made.splits if s.examples) == ["dev", "test", "train"]
        listed = api.call("ana", "ListSnapshots", feedback_pb2.ListSnapshotsRequest())
        assert [s.snapshot_id for s in listed.snapshots] == [made.snapshot_id]  # type: ignore[attr-defined]
        unknown = api.refused(
            "mia",
            "ExportSnapshot",
            feedback_pb2.ExportSnapshotRequest(snapshot_id=made.snapshot_id, formats=["mp4"]),
        )
        assert unknown.code() == grpc.StatusCode.INVALID_ARGUMENT and "mp4" in (unknown.details() or "")
        written = api.call(
            "mia", "ExportSnapshot", feedback_pb2.ExportSnapshotRequest(snapshot_id=made.snapshot_id)
        )
        assert isinstance(written, feedback_pb2.ExportSnapshotResponse)
        formats = {e.format: e for e in written.exports}
        assert set(formats) == {
            "hf_audiofolder",
            "nemo",
            "kaldi",
            "rttm",
            "stm",
            "ctm",
            "srt",
            "vtt",
            "docbin",
            "label_studio",
        }
        wavs = sorted(Path(formats["hf_audiofolder"].path).rglob("*.wav"))
        assert len(wavs) == 3 and all(Path(e.path).exists() and e.files > 0 for e in formats.values())
        streamed = api.call("ana", "ExportDataset", feedback_pb2.ExportDatasetRequest(language="en"))
        assert isinstance(streamed, list)
        assert sorted(e.segment_id for e in streamed) == ["rec-0:0", "rec-1:0", "rec-2:0"]


def test_a_qa_lead_approves_a_mined_term_and_the_domains_vocabulary_goes_to_asr(
    db_url: str, tmp_path: Path
) -> None:
    with running_feedback(db_url, tmp_path) as api:
        handler = make_handler(api.ctx, api.ctx.settings)  # type: ignore[arg-type]
        for n in range(2):  # linguists fixed the same product name in two recordings
            v = validated(f"r{n}:0", f"r{n}", "my Quorvia router is down", "my core via router is down")
            with api.ctx.sessions.begin() as session:
                handler(session, Inbound(v, codec.new_id(), "t", TRANSCRIPTS_VALIDATED.name, 0, n, b"k"))
        listed = api.call("ana", "ListVocabulary", feedback_pb2.ListVocabularyRequest(domain="support"))
        terms = {t.term: t for t in listed.terms}  # type: ignore[attr-defined]
        assert terms["Quorvia"].state == "candidate" and terms["Quorvia"].recordings == 2
        bad_state = api.refused("ana", "ListVocabulary", feedback_pb2.ListVocabularyRequest(state="maybe"))
        assert bad_state.code() == grpc.StatusCode.INVALID_ARGUMENT and "state" in (bad_state.details() or "")
        review = feedback_pb2.ReviewTermRequest(term_id=terms["Quorvia"].term_id, approve=True)
        assert api.refused("ana", "ReviewTerm", review).code() == grpc.StatusCode.PERMISSION_DENIED
        unknown = api.refused(
            "quinn", "ReviewTerm", feedback_pb2.ReviewTermRequest(term_id="nope", approve=True)
        )
        assert unknown.code() == grpc.StatusCode.NOT_FOUND
        blank = api.refused("quinn", "ReviewTerm", feedback_pb2.ReviewTermRequest(approve=True))
        assert blank.code() == grpc.StatusCode.INVALID_ARGUMENT
        approved = api.call("quinn", "ReviewTerm", review)
        assert isinstance(approved, feedback_pb2.VocabularyCandidate)
        assert approved.state == "approved" and approved.reviewed_by == "quinn"
        with api.ctx.sessions() as session:
            rows = list(session.scalars(select(OutboxEntry).where(OutboxEntry.topic == ASR_VOCABULARY.name)))
        (update,) = [events_pb2.VocabularyUpdate.FromString(r.value) for r in rows]
        assert update.domain == "support" and [t.term for t in update.terms] == ["Quorvia"]
        assert update.terms[0].approved_by == "quinn"
