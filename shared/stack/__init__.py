"""The embedded stack: the PyPI Kafka-compatible broker plus every service as its own process."""
