"""python -m services.quality"""

from pathlib import Path

from protos import quality_pb2, quality_pb2_grpc
from services.quality.corrections import AuditConfig, refresh_thresholds
from services.quality.detectors import DetectorConfig
from services.quality.drift import DriftSettings
from services.quality.gate import GateConfig
from services.quality.handler import make_corrected_handler, make_draft_handler
from services.quality.phrases import load_phrases
from services.quality.policy import load_policy
from services.quality.servicer import QualityServicer
from services.quality.settings import QualitySettings
from shared.grpc.server import GrpcService
from shared.kafka.consumer import Subscription
from shared.service import ServiceContext, ServiceDefinition, Ticker, main
from shared.topics import TRANSCRIPTS_CORRECTED, TRANSCRIPTS_DRAFT

MIGRATIONS = Path(__file__).parent / "migrations"
QA_LEADS = frozenset({"admin", "qa_lead"})


def audit_config(s: QualitySettings) -> AuditConfig:
    return AuditConfig(
        drift=DriftSettings(
            baseline_samples=s.drift_baseline_samples,
            smoothing=s.drift_smoothing,
            min_samples=s.drift_min_samples,
            absolute_rise=s.drift_absolute_rise,
            relative_rise=s.drift_relative_rise,
        ),
        gold_accuracy_threshold=s.gold_accuracy_threshold,
        min_gold_segments=s.min_gold_segments,
    )


def build(settings: QualitySettings) -> ServiceDefinition:
    # A bad policy or phrase file stops the service here, naming the file and the entry.
    gate = GateConfig(
        policy=load_policy(settings.policy_path),
        phrases=load_phrases(settings.phrases_path),
        detectors=DetectorConfig(),
        max_attempts=settings.max_attempts,
        accept_after_redecode=settings.accept_after_redecode,
        double_blind_share=settings.double_blind_share,
    )
    audit = audit_config(settings)

    def calibrate(ctx: ServiceContext) -> None:
        with ctx.unit_of_work() as (session, _):
            refresh_thresholds(session, settings.target_residual_wer, settings.calibration_min_samples)

    return ServiceDefinition(
        settings=settings,
        migrations=[MIGRATIONS],
        subscriptions=lambda ctx: [
            Subscription(TRANSCRIPTS_DRAFT.name, make_draft_handler(ctx, gate, settings.gold_rate)),
            Subscription(TRANSCRIPTS_CORRECTED.name, make_corrected_handler(audit)),
        ],
        grpc_services=lambda ctx: [
            GrpcService.of(
                quality_pb2,
                "QualityService",
                QualityServicer(ctx, audit, settings.target_residual_wer),
                quality_pb2_grpc.add_QualityServiceServicer_to_server,
            )
        ],
        method_roles={"/voxloop.v1.QualityService/AddGoldSegment": QA_LEADS},
        tickers=lambda ctx: [Ticker("calibration", settings.calibration_interval_s, lambda: calibrate(ctx))],
    )


if __name__ == "__main__":
    main(QualitySettings, build)
