"""Ingest: audio chunks and uploads in, audio segments out."""
