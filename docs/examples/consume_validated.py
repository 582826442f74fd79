"""Example downstream consumer of transcripts.validated.v1, with kafka-python.

    python docs/examples/consume_validated.py --bootstrap 127.0.0.1:9092 --group analytics

It keeps the highest version of each segment (redeliveries and older versions are skipped),
commits offsets only after a message is handled, and prints one line per new transcript. Only
kafka-python, protobuf and voxloop's generated contract (``protos``) are needed; see
docs/validated-contract.md for the fields and the guarantees.
"""

from __future__ import annotations

import argparse
import json
import sys

from kafka import KafkaConsumer

from protos.transcripts_pb2 import ValidatedTranscript

TOPIC = "transcripts.validated.v1"


def summary(v: ValidatedTranscript) -> dict[str, object]:
    return {
        "segment": v.segment.segment_id,
        "recording": v.context.recording_id,
        "version": v.version,
        "language": v.segment.language,
        "text": v.segment.text,
        "start_s": v.segment.start_s,
        "end_s": v.segment.end_s,
        "entities": [(e.label, e.text, e.speaker, round(e.start_s, 2)) for e in v.entities],
        "sentiment": v.sentiment[0].label if v.sentiment else None,
        "intent": v.intent[0].label if v.intent else None,
        "labels_reviewed": v.labels_reviewed,
        "redacted": v.redacted,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--group", default="validated-example")
    parser.add_argument("--max-messages", type=int, default=0, help="stop after this many (0: run forever)")
    parser.add_argument("--timeout-s", type=float, default=0, help="stop after this long without a message")
    args = parser.parse_args(argv)

    consumer = KafkaConsumer(
        TOPIC,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        auto_offset_reset="earliest",  # a new group reads the topic from its start
        enable_auto_commit=False,  # commit after handling: at-least-once
        session_timeout_ms=6000,  # kafka-python's defaults make joining a group take ~20 s
        heartbeat_interval_ms=1000,
        consumer_timeout_ms=int(args.timeout_s * 1000) or float("inf"),
    )
    newest: dict[str, int] = {}  # segment -> highest version seen (keep this in your own store)
    handled = 0
    try:
        for record in consumer:
            validated = ValidatedTranscript.FromString(record.value)
            segment_id = validated.segment.segment_id
            if validated.version > newest.get(segment_id, 0):
                newest[segment_id] = validated.version
                print(json.dumps(summary(validated), ensure_ascii=False), flush=True)
                handled += 1
            consumer.commit()
            if args.max_messages and handled >= args.max_messages:
                break
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
