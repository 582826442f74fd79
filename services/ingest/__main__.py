"""python -m services.ingest"""

import time
from pathlib import Path

from protos import ingest_pb2, ingest_pb2_grpc
from services.ingest.handler import make_batch_handler, make_handler
from services.ingest.intake import IntakeConfig, expire_stream, receiving_stream_ids
from services.ingest.servicer import IngestServicer
from services.ingest.settings import IngestSettings
from shared.grpc.server import GrpcService
from shared.kafka.consumer import Subscription
from shared.service import ServiceContext, ServiceDefinition, Ticker, main
from shared.topics import AUDIO_CHUNKS

MIGRATIONS = Path(__file__).parent / "migrations"


def expire_streams(ctx: ServiceContext, config: IntakeConfig) -> None:
    """Give every idle stream its explicit end state (gap or timeout), one transaction each."""
    with ctx.sessions() as session:
        stream_ids = receiving_stream_ids(session)
    for stream_id in stream_ids:
        with ctx.unit_of_work() as (session, outbound):
            outbound.extend(expire_stream(ctx, config, session, stream_id, time.time()))


def build(settings: IngestSettings) -> ServiceDefinition:
    config = IntakeConfig.from_settings(settings)
    return ServiceDefinition(
        settings=settings,
        migrations=[MIGRATIONS],
        subscriptions=lambda ctx: [
            Subscription(AUDIO_CHUNKS.name, make_handler(ctx, config), make_batch_handler(ctx, config))
        ],
        grpc_services=lambda ctx: [
            GrpcService.of(
                ingest_pb2,
                "IngestService",
                IngestServicer(ctx, config),
                ingest_pb2_grpc.add_IngestServiceServicer_to_server,
            )
        ],
        tickers=lambda ctx: [
            Ticker("expire-streams", settings.sweep_interval_s, lambda: expire_streams(ctx, config))
        ],
    )


if __name__ == "__main__":
    main(IngestSettings, build)
