"""python -m services.ingest"""

from protos import ingest_pb2, ingest_pb2_grpc
from services.ingest.handler import make_handler
from services.ingest.servicer import IngestServicer
from services.ingest.settings import IngestSettings
from shared.grpc.server import GrpcService
from shared.kafka.consumer import Subscription
from shared.service import ServiceDefinition, main
from shared.topics import AUDIO_CHUNKS


def build(settings: IngestSettings) -> ServiceDefinition:
    return ServiceDefinition(
        settings=settings,
        subscriptions=lambda ctx: [Subscription(AUDIO_CHUNKS.name, make_handler(ctx))],
        grpc_services=lambda ctx: [
            GrpcService.of(
                ingest_pb2,
                "IngestService",
                IngestServicer(ctx),
                ingest_pb2_grpc.add_IngestServiceServicer_to_server,
            )
        ],
    )


if __name__ == "__main__":
    main(IngestSettings, build)
