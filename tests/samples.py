"""Real evaluation audio: pyannote.audio's own sample (30 s, 16 kHz, two speakers on the phone).

Located through the installed distribution's files, without importing pyannote (which loads torch).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    wav: Path
    stm: Path  # reference transcript: "<file> <channel> <speaker> <start> <end> <text>"
    rttm: Path  # reference speaker turns

    def reference_text(self) -> str:
        return " ".join(line.split(None, 5)[5] for line in self.stm.read_text().splitlines() if line.strip())


def pyannote_sample() -> Sample:
    folder = Path(str(metadata.distribution("pyannote.audio").locate_file("pyannote/audio/sample")))
    sample = Sample(folder / "sample.wav", folder / "sample.stm", folder / "sample.rttm")
    missing = [p for p in (sample.wav, sample.stm, sample.rttm) if not p.exists()]
    assert not missing, f"pyannote.audio's sample files are missing: {missing}"
    return sample


def normalise_for_wer(text: str) -> str:
    """Lower-case, punctuation removed (apostrophes kept: "didn't"), spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s']", " ", text.lower())).strip()
