"""ASR: audio segments in, draft transcripts out (faster-whisper + pyannote)."""
