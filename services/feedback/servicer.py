"""gRPC FeedbackService: examples, dataset snapshots and their exports (thin over ``catalog``)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from sqlalchemy import select

from protos import common_pb2, events_pb2, feedback_pb2, feedback_pb2_grpc
from services.feedback import catalog, vocabulary
from services.feedback.settings import FeedbackSettings
from services.feedback.store import ExampleRow
from shared.grpc.auth import current_principal
from shared.records import get_or_abort
from shared.service import ServiceContext

ML_ENGINEERS = frozenset({"admin", "ml_engineer"})
VOCABULARY_REVIEWERS = frozenset({"admin", "qa_lead"})
METHOD_ROLES = {
    "/voxloop.v1.FeedbackService/CreateSnapshot": ML_ENGINEERS,
    "/voxloop.v1.FeedbackService/ExportSnapshot": ML_ENGINEERS,
    "/voxloop.v1.FeedbackService/ReviewTerm": VOCABULARY_REVIEWERS,
}


class FeedbackServicer(feedback_pb2_grpc.FeedbackServiceServicer):
    def __init__(self, ctx: ServiceContext, settings: FeedbackSettings) -> None:
        self._ctx = ctx
        self._settings = settings

    def GetExample(
        self, request: feedback_pb2.GetExampleRequest, context: grpc.ServicerContext
    ) -> events_pb2.TrainingExample:
        return get_or_abort(self._ctx.sessions, request.segment_id, events_pb2.TrainingExample, context)

    def ExportDataset(
        self, request: feedback_pb2.ExportDatasetRequest, context: grpc.ServicerContext
    ) -> Iterator[events_pb2.TrainingExample]:
        if request.split and request.split not in ("train", "dev", "test"):
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"split: {request.split!r} is not train, dev or test"
            )
        query = select(ExampleRow).order_by(ExampleRow.segment_id)
        if request.language:
            query = query.where(ExampleRow.language == request.language)
        with self._ctx.sessions() as session:
            examples = [row.example() for row in session.scalars(query)]
        for example in examples:
            if request.split and example.split != request.split:
                continue
            if request.kind and example.kind != request.kind:
                continue
            yield example

    def CreateSnapshot(
        self, request: feedback_pb2.CreateSnapshotRequest, context: grpc.ServicerContext
    ) -> feedback_pb2.DatasetSnapshot:
        try:
            with self._ctx.unit_of_work() as (session, _):
                return catalog.create_snapshot(
                    session,
                    self._settings.resolved_datasets_dir,
                    language=request.language,
                    note=request.note,
                    created_by=current_principal().subject,
                )
        except catalog.EmptySnapshot as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        raise AssertionError("unreachable: context.abort raises")

    def ListSnapshots(
        self, request: feedback_pb2.ListSnapshotsRequest, context: grpc.ServicerContext
    ) -> feedback_pb2.ListSnapshotsResponse:
        with self._ctx.sessions() as session:
            return feedback_pb2.ListSnapshotsResponse(snapshots=catalog.list_snapshots(session))

    def ExportSnapshot(
        self, request: feedback_pb2.ExportSnapshotRequest, context: grpc.ServicerContext
    ) -> feedback_pb2.ExportSnapshotResponse:
        if not request.snapshot_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "snapshot_id is required")
        try:
            with self._ctx.sessions() as session:
                return catalog.export(session, request.snapshot_id, self._audio, list(request.formats))
        except catalog.SnapshotNotFound as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except ValueError as exc:  # an unknown format: the message lists the known ones
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"formats: {exc}")
        raise AssertionError("unreachable: context.abort raises")

    def ListVocabulary(
        self, request: feedback_pb2.ListVocabularyRequest, context: grpc.ServicerContext
    ) -> feedback_pb2.ListVocabularyResponse:
        if request.state and request.state not in vocabulary.STATES:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"state: {request.state!r} is not one of {sorted(vocabulary.STATES)}",
            )
        with self._ctx.sessions() as session:
            return feedback_pb2.ListVocabularyResponse(
                terms=vocabulary.list_terms(session, request.domain, request.state)
            )

    def ReviewTerm(
        self, request: feedback_pb2.ReviewTermRequest, context: grpc.ServicerContext
    ) -> feedback_pb2.VocabularyCandidate:
        """Approve or reject a mined term; the domain's approved vocabulary goes to the ASR service."""
        if not request.term_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "term_id is required")
        try:
            with self._ctx.unit_of_work() as (session, outbound):
                candidate, published = vocabulary.review_term(
                    session,
                    request.term_id,
                    request.approve,
                    current_principal().subject,
                    self._ctx.provenance(),
                )
                outbound += published
                return candidate
        except vocabulary.TermNotFound as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        raise AssertionError("unreachable: context.abort raises")

    def _audio(self, ref: common_pb2.AudioRef) -> bytes:
        return self._ctx.blobs.get(ref.uri)
