"""python -m services.dispatch"""

from pathlib import Path

from protos import dispatch_pb2, dispatch_pb2_grpc
from services.dispatch.handler import make_annotated_handler, make_handler
from services.dispatch.queue import expire_leases
from services.dispatch.security import DatabaseTokens, make_refusal_auditor
from services.dispatch.servicer import DispatchServicer
from services.dispatch.settings import DispatchSettings
from shared.grpc.server import GrpcService
from shared.kafka.consumer import Subscription
from shared.service import ServiceContext, ServiceDefinition, Ticker, main
from shared.topics import TRANSCRIPTS_ANNOTATED, TRANSCRIPTS_QA

MIGRATIONS = Path(__file__).parent / "migrations"
_SERVICE = "/voxloop.v1.DispatchService/"
ADMIN = frozenset({"admin"})
OVERSIGHT = frozenset({"admin", "qa_lead"})
METHOD_ROLES = {
    **{_SERVICE + m: ADMIN for m in ("UpsertUser", "ListUsers", "IssueToken", "RevokeToken")},
    **{_SERVICE + m: OVERSIGHT for m in ("GetQueueStats", "GetAuditTrail")},
}


def lease_ticker(ctx: ServiceContext, interval_s: float) -> Ticker:
    def tick() -> None:
        with ctx.unit_of_work() as (session, outbound):
            outbound += expire_leases(session)

    return Ticker("lease-expiry", interval_s, tick)


def build(settings: DispatchSettings) -> ServiceDefinition:
    return ServiceDefinition(
        settings=settings,
        subscriptions=lambda ctx: [
            Subscription(TRANSCRIPTS_QA.name, make_handler(settings.queue_config())),
            Subscription(TRANSCRIPTS_ANNOTATED.name, make_annotated_handler(settings.queue_config())),
        ],
        grpc_services=lambda ctx: [
            GrpcService.of(
                dispatch_pb2,
                "DispatchService",
                DispatchServicer(ctx, settings),
                dispatch_pb2_grpc.add_DispatchServiceServicer_to_server,
            )
        ],
        migrations=[MIGRATIONS],
        method_roles=METHOD_ROLES,
        tickers=lambda ctx: [lease_ticker(ctx, settings.lease_check_interval_s)],
        immediate_writes=True,
        authenticator=lambda ctx, static: DatabaseTokens(ctx.sessions, static),
        on_refused=lambda ctx: make_refusal_auditor(ctx.sessions),
    )


if __name__ == "__main__":
    main(DispatchSettings, build)
