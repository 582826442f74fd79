"""python -m services.annotate"""

from protos import annotate_pb2, annotate_pb2_grpc
from services.annotate.handler import make_handlers
from services.annotate.servicer import AnnotateServicer
from services.annotate.settings import AnnotateSettings
from shared.grpc.server import GrpcService
from shared.kafka.consumer import Subscription
from shared.service import ServiceContext, ServiceDefinition, main
from shared.topics import TRANSCRIPTS_CORRECTED, TRANSCRIPTS_QA


def subscriptions(ctx: ServiceContext) -> list[Subscription]:
    on_verdict, on_corrected = make_handlers(ctx)
    return [
        Subscription(TRANSCRIPTS_QA.name, on_verdict),
        Subscription(TRANSCRIPTS_CORRECTED.name, on_corrected),
    ]


def build(settings: AnnotateSettings) -> ServiceDefinition:
    return ServiceDefinition(
        settings=settings,
        subscriptions=subscriptions,
        grpc_services=lambda ctx: [
            GrpcService.of(
                annotate_pb2,
                "AnnotateService",
                AnnotateServicer(ctx),
                annotate_pb2_grpc.add_AnnotateServiceServicer_to_server,
            )
        ],
    )


if __name__ == "__main__":
    main(AnnotateSettings, build)
