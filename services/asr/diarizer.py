"""Who spoke when: pyannote's SpeakerDiarization on segmentation-3.0 and the project's CAM++.

Both models load once, from the offline weights in the models dir. A result carries, beside the
turns, each local speaker's CAM++ centroid, so the service can tell whether the speaker of this
segment is one it already met earlier in the recording (``speakers.SpeakerRegistry``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from pyannote.audio import Model
from pyannote.core import Annotation

from services.asr.campplus import SAMPLE_RATE, CAMPPlusEmbedding, diarization_pipeline
from services.asr.speakers import Turn, turns_from_annotation
from shared.models import locate

SEGMENTATION_MODEL = "pyannote-segmentation-3.0"


@dataclass(frozen=True)
class Diarization:
    turns: tuple[Turn, ...]
    embeddings: dict[str, NDArray[np.float32]]  # local label -> CAM++ centroid (may be NaN)
    speech_s: dict[str, float]  # local label -> seconds spoken


class Diarizer:
    def __init__(self, models_dir: Path | None = None, torch_threads: int = 1, device: str = "cpu") -> None:
        torch.set_num_threads(torch_threads)
        segmentation = Model.from_pretrained(
            str(locate(SEGMENTATION_MODEL, models_dir) / "pytorch_model.bin")
        )
        if segmentation is None:
            raise RuntimeError(f"{SEGMENTATION_MODEL}: pyannote could not load the checkpoint")
        self.pipeline = diarization_pipeline(segmentation, CAMPPlusEmbedding.from_models_dir(models_dir))
        self.pipeline.to(torch.device(device))

    def diarize(self, samples: NDArray[np.float32]) -> Diarization:
        """16 kHz mono float32 in; times in seconds from the start of ``samples``."""
        waveform = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))[None]
        with torch.inference_mode():
            output = self.pipeline({"waveform": waveform, "sample_rate": SAMPLE_RATE})
        annotation: Annotation = output.speaker_diarization  # type: ignore[union-attr]
        labels = [str(label) for label in annotation.labels()]
        centroids = output.speaker_embeddings  # type: ignore[union-attr]
        embeddings = {
            label: np.asarray(centroids[i], dtype=np.float32)
            for i, label in enumerate(labels)
            if centroids is not None and i < len(centroids)
        }
        speech_s = {label: float(annotation.label_duration(label)) for label in labels}
        return Diarization(turns_from_annotation(annotation), embeddings, speech_s)
