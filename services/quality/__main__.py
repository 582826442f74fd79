"""python -m services.quality"""

from protos import quality_pb2, quality_pb2_grpc
from services.quality.handler import make_handler
from services.quality.servicer import QualityServicer
from services.quality.settings import QualitySettings
from shared.grpc.server import GrpcService
from shared.kafka.consumer import Subscription
from shared.service import ServiceDefinition, main
from shared.topics import TRANSCRIPTS_DRAFT


def build(settings: QualitySettings) -> ServiceDefinition:
    return ServiceDefinition(
        settings=settings,
        subscriptions=lambda ctx: [Subscription(TRANSCRIPTS_DRAFT.name, make_handler(ctx))],
        grpc_services=lambda ctx: [
            GrpcService.of(
                quality_pb2,
                "QualityService",
                QualityServicer(ctx),
                quality_pb2_grpc.add_QualityServiceServicer_to_server,
            )
        ],
    )


if __name__ == "__main__":
    main(QualitySettings, build)
