"""python -m services.feedback"""

from pathlib import Path

from protos import feedback_pb2, feedback_pb2_grpc
from services.feedback.handler import make_handler
from services.feedback.servicer import FeedbackServicer
from services.feedback.settings import FeedbackSettings
from shared.grpc.server import GrpcService
from shared.kafka.consumer import Subscription
from shared.service import ServiceDefinition, main
from shared.topics import TRANSCRIPTS_VALIDATED

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: FeedbackSettings) -> ServiceDefinition:
    return ServiceDefinition(
        settings=settings,
        subscriptions=lambda ctx: [Subscription(TRANSCRIPTS_VALIDATED.name, make_handler(ctx))],
        grpc_services=lambda ctx: [
            GrpcService.of(
                feedback_pb2,
                "FeedbackService",
                FeedbackServicer(ctx),
                feedback_pb2_grpc.add_FeedbackServiceServicer_to_server,
            )
        ],
        migrations=[MIGRATIONS],
    )


if __name__ == "__main__":
    main(FeedbackSettings, build)
