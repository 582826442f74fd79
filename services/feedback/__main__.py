"""python -m services.feedback"""

from pathlib import Path

from protos import feedback_pb2, feedback_pb2_grpc
from services.feedback.handler import make_alert_handler, make_handler, make_loop
from services.feedback.servicer import METHOD_ROLES, FeedbackServicer
from services.feedback.settings import FeedbackSettings
from shared.grpc.server import GrpcService
from shared.kafka.consumer import Subscription
from shared.service import ServiceDefinition, Ticker, main
from shared.topics import QUALITY_ALERTS, TRANSCRIPTS_VALIDATED

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: FeedbackSettings) -> ServiceDefinition:
    return ServiceDefinition(
        settings=settings,
        subscriptions=lambda ctx: [
            Subscription(TRANSCRIPTS_VALIDATED.name, make_handler(ctx, settings)),
            Subscription(QUALITY_ALERTS.name, make_alert_handler(ctx, settings)),
        ],
        grpc_services=lambda ctx: [
            GrpcService.of(
                feedback_pb2,
                "FeedbackService",
                FeedbackServicer(ctx, settings),
                feedback_pb2_grpc.add_FeedbackServiceServicer_to_server,
            )
        ],
        migrations=[MIGRATIONS],
        method_roles=METHOD_ROLES,
        tickers=lambda ctx: [Ticker("feedback-loop", settings.loop_interval_s, make_loop(ctx, settings))],
    )


if __name__ == "__main__":
    main(FeedbackSettings, build)
