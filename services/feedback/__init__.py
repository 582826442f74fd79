"""Feedback: validated transcripts in, training examples and datasets out."""
