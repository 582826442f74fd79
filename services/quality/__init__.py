"""Quality gate: hallucination checks and confidence routing of draft transcripts."""
