"""python -m services.annotate"""

from pathlib import Path

from protos import annotate_pb2, annotate_pb2_grpc
from services.annotate.handler import (
    from_corrected,
    from_verdict,
    make_promotion_handler,
    make_review_handler,
    make_trusted_handlers,
)
from services.annotate.labeller import Labeller
from services.annotate.servicer import AnnotateServicer
from services.annotate.settings import AnnotateSettings
from shared.grpc.server import GrpcService
from shared.kafka.consumer import Subscription
from shared.service import ServiceContext, ServiceDefinition, Ticker, main
from shared.topics import LABELS_REVIEWED, MODELS_PROMOTED, TRANSCRIPTS_CORRECTED, TRANSCRIPTS_QA

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: AnnotateSettings) -> ServiceDefinition:
    labeller = Labeller(settings)
    labeller.preload()  # load every configured pipeline now, not on the first message

    def refresh_classifiers() -> None:
        labeller.refresh()

    def subscriptions(ctx: ServiceContext) -> list[Subscription]:
        verdicts = make_trusted_handlers(ctx, labeller, settings, from_verdict)
        corrections = make_trusted_handlers(ctx, labeller, settings, from_corrected)
        return [
            Subscription(TRANSCRIPTS_QA.name, *verdicts),
            Subscription(TRANSCRIPTS_CORRECTED.name, *corrections),
            Subscription(LABELS_REVIEWED.name, make_review_handler(settings)),
            Subscription(MODELS_PROMOTED.name, make_promotion_handler(labeller)),
        ]

    return ServiceDefinition(
        settings=settings,
        migrations=[MIGRATIONS],
        subscriptions=subscriptions,
        # A promoted classifier reaches every replica: the one that gets models.promoted.v1 at
        # once, the others when they next look at the registry.
        tickers=lambda ctx: [
            Ticker("classifier-refresh", settings.classifier_refresh_s, refresh_classifiers)
        ],
        grpc_services=lambda ctx: [
            GrpcService.of(
                annotate_pb2,
                "AnnotateService",
                AnnotateServicer(ctx, labeller, settings),
                annotate_pb2_grpc.add_AnnotateServiceServicer_to_server,
            )
        ],
    )


if __name__ == "__main__":
    main(AnnotateSettings, build)
