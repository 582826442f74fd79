"""python -m services.dispatch"""

from protos import dispatch_pb2, dispatch_pb2_grpc
from services.dispatch.handler import make_handler
from services.dispatch.servicer import DispatchServicer
from services.dispatch.settings import DispatchSettings
from shared.grpc.server import GrpcService
from shared.kafka.consumer import Subscription
from shared.service import ServiceDefinition, main
from shared.topics import TRANSCRIPTS_QA


def build(settings: DispatchSettings) -> ServiceDefinition:
    return ServiceDefinition(
        settings=settings,
        subscriptions=lambda ctx: [Subscription(TRANSCRIPTS_QA.name, make_handler(ctx))],
        grpc_services=lambda ctx: [
            GrpcService.of(
                dispatch_pb2,
                "DispatchService",
                DispatchServicer(ctx),
                dispatch_pb2_grpc.add_DispatchServiceServicer_to_server,
            )
        ],
        method_roles={"/voxloop.v1.DispatchService/GetQueueStats": frozenset({"admin", "qa_lead"})},
    )


if __name__ == "__main__":
    main(DispatchSettings, build)
