"""gRPC QualityService: verdicts, the calibration, WER and linguist reports, gold references."""

from __future__ import annotations

import grpc

from protos import quality_pb2, quality_pb2_grpc, transcripts_pb2
from services.quality.calibration import DEFAULT_TARGET_RESIDUAL_WER, calibration_report
from services.quality.corrections import (
    GROUPS,
    AuditConfig,
    add_gold,
    build_linguist_report,
    build_wer_report,
    calibration_samples,
)
from shared.records import get_or_abort
from shared.service import ServiceContext


class QualityServicer(quality_pb2_grpc.QualityServiceServicer):
    def __init__(self, ctx: ServiceContext, audit: AuditConfig, target_residual_wer: float) -> None:
        self._ctx = ctx
        self._audit = audit
        self._target = target_residual_wer

    def GetVerdict(
        self, request: quality_pb2.GetVerdictRequest, context: grpc.ServicerContext
    ) -> transcripts_pb2.QaVerdict:
        return get_or_abort(self._ctx.sessions, request.segment_id, transcripts_pb2.QaVerdict, context)

    def GetCalibrationReport(
        self, request: quality_pb2.CalibrationReportRequest, context: grpc.ServicerContext
    ) -> quality_pb2.CalibrationReport:
        target = request.target_residual_wer or self._target or DEFAULT_TARGET_RESIDUAL_WER
        if not 0 < target < 1:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"target_residual_wer must be in (0, 1), not {target}"
            )
        with self._ctx.sessions() as session:
            samples = calibration_samples(session, request.language)
        if not samples:
            where = f" in {request.language!r}" if request.language else ""
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION, f"no corrected segments with a confidence{where} yet"
            )
        return calibration_report(samples, target)

    def GetWerReport(
        self, request: quality_pb2.WerReportRequest, context: grpc.ServicerContext
    ) -> quality_pb2.WerReport:
        group_by = request.group_by or "language"
        if group_by not in GROUPS:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"group_by must be one of {', '.join(GROUPS)}, not {group_by!r}",
            )
        with self._ctx.sessions() as session:
            return build_wer_report(session, group_by, request.top_confusions or 10)

    def GetLinguistReport(
        self, request: quality_pb2.LinguistReportRequest, context: grpc.ServicerContext
    ) -> quality_pb2.LinguistReport:
        with self._ctx.sessions() as session:
            return build_linguist_report(session, request.language, self._audit)

    def AddGoldSegment(
        self, request: quality_pb2.AddGoldSegmentRequest, context: grpc.ServicerContext
    ) -> quality_pb2.GoldSegment:
        if not request.segment_id or not request.reference.strip():
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "segment_id and a non-empty reference are required"
            )
        try:
            with self._ctx.unit_of_work() as (session, _):
                return add_gold(session, request.segment_id, request.reference, request.source or "grpc")
        except LookupError as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        raise AssertionError("unreachable: context.abort raises")
