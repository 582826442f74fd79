"""Kafka plumbing on kafka-python: codec, topic admin, outbox relay, consumer loop with DLQ."""
