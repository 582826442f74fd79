"""Annotate: entities, sentiment and intent; publishes validated transcripts."""
