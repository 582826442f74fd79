"""python -m services.asr"""

from pathlib import Path

from protos import asr_pb2, asr_pb2_grpc
from services.asr.drafting import SpeechModels
from services.asr.handler import make_batch_handler, make_handler, make_redecode_handler, wants_rest_of_burst
from services.asr.servicer import AsrServicer
from services.asr.settings import AsrSettings
from services.asr.vocabulary import make_vocabulary_handler
from shared.grpc.server import GrpcService
from shared.kafka.consumer import Subscription
from shared.service import ServiceDefinition, main
from shared.topics import ASR_VOCABULARY, AUDIO_SEGMENTS, TRANSCRIPTS_REDECODE

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: AsrSettings) -> ServiceDefinition:
    models = SpeechModels.load(settings)  # once per process, before the consumer joins its group
    return ServiceDefinition(
        settings=settings,
        migrations=[MIGRATIONS],
        subscriptions=lambda ctx: [
            Subscription(
                AUDIO_SEGMENTS.name,
                make_handler(ctx, models),
                make_batch_handler(ctx, models, settings.coalesce_max_s),
                linger=wants_rest_of_burst,
                linger_s=settings.burst_wait_s,
            ),
            Subscription(TRANSCRIPTS_REDECODE.name, make_redecode_handler(ctx, models)),
            Subscription(ASR_VOCABULARY.name, make_vocabulary_handler()),
        ],
        grpc_services=lambda ctx: [
            GrpcService.of(
                asr_pb2,
                "AsrService",
                AsrServicer(ctx, models, settings.max_transcribe_s),
                asr_pb2_grpc.add_AsrServiceServicer_to_server,
            )
        ],
    )


if __name__ == "__main__":
    main(AsrSettings, build)
