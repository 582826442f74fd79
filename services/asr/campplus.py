"""CAM++ speaker embeddings (192-dim, 16 kHz) and their adapter for pyannote.audio diarization.

CAM++ is the network of H. Wang, S. Zheng, Y. Chen, L. Cheng and Q. Chen, "CAM++: A Fast and
Efficient Network for Speaker Verification Using Context-Aware Masking", Interspeech 2023
(arXiv 2303.00332). The published weights (``campplus-sv-zh-en-16k``, trained by 3D-Speaker on
Chinese and English speech) are a plain state dict whose names follow the reference
implementation in modelscope/3D-Speaker (``speakerlab/models/campplus``, Apache-2.0); this
module is the project's own inference-only rewrite, checked to load that state dict with
``strict=True``. Building blocks live in ``services.asr.campplus_layers``.

Front end, as in 3D-Speaker's ``FBank(80, 16000, mean_nor=True)``: 80 Kaldi mel filterbanks
(25 ms window, 10 ms shift, no dither) of the float waveform in [-1, 1], minus their mean over
time.

pyannote.audio 4.0.7 accepts a local ``pyannote.audio.Model`` as the embedding of its
``SpeakerDiarization`` pipeline (``PretrainedSpeakerEmbedding`` falls back to
``PyannoteAudioPretrainedSpeakerEmbedding``, which calls ``model(waveforms, weights=masks)``
and reads ``model.dimension`` and ``model.audio.sample_rate``): ``CAMPPlusEmbedding`` is that
model. ``diarization_pipeline`` assembles the pipeline with it.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pyannote.audio import Model
from pyannote.audio.core.plda import PLDA
from pyannote.audio.pipelines import SpeakerDiarization
from torch import nn
from torchaudio.compliance import kaldi

from services.asr.campplus_layers import (
    DenseTDNNBlock,
    EmbeddingLayer,
    FrontEndConv,
    StatsPool,
    TDNNLayer,
    TransitLayer,
    batchnorm_relu,
)
from shared.models import locate

MODEL_NAME = "campplus-sv-zh-en-16k"  # name in shared.models.CATALOG
WEIGHTS_FILE = "campplus_cn_en_common.pt"
SAMPLE_RATE = 16_000
FBANK_BINS = 80
EMBEDDING_DIM = 192
FRAME_SHIFT_SAMPLES = 160  # Kaldi default 10 ms at 16 kHz
FRAME_LENGTH_SAMPLES = 400  # Kaldi default 25 ms at 16 kHz
# Fewer frames than this give no usable statistics (the trunk halves time, the pooling takes an
# unbiased std); ~0.1 s of audio. pyannote probes this limit for ``min_num_samples``.
MIN_NUM_FRAMES = 10
MIN_NUM_SAMPLES = FRAME_LENGTH_SAMPLES + (MIN_NUM_FRAMES - 1) * FRAME_SHIFT_SAMPLES

# (layers, kernel size, dilation) of the three dense blocks, as in 3D-Speaker's CAMPPlus.
DENSE_BLOCKS: tuple[tuple[int, int, int], ...] = ((12, 3, 1), (24, 3, 2), (16, 3, 2))

# Hyper-parameters for SpeakerDiarization with CAM++ and segmentation-3.0. The clustering
# follows pyannote/speaker-diarization-3.1 (centroid linkage, min cluster size 12) with the
# cosine-distance threshold tuned for this embedding (see tests/unit/asr/test_campplus.py).
DIARIZATION_PARAMETERS: dict[str, dict[str, Any]] = {
    "segmentation": {"min_duration_off": 0.0},
    "clustering": {"method": "centroid", "min_cluster_size": 12, "threshold": 0.7},
}


class CAMPPlus(nn.Module):
    """The CAM++ network: mean-normalised fbank (B, T, 80) -> embedding (B, 192).

    ``head`` is the 2-D front-end convolution module; ``xvector`` is the D-TDNN trunk with
    context-aware masking, statistics pooling and the embedding layer (names as in the
    checkpoint, hence the ``nn.Sequential`` keyed by name).
    """

    def __init__(
        self,
        feat_dim: int = FBANK_BINS,
        embedding_dim: int = EMBEDDING_DIM,
        growth: int = 32,
        bottleneck_factor: int = 4,
        init_channels: int = 128,
    ) -> None:
        super().__init__()
        self.head = FrontEndConv(feat_dim=feat_dim)
        trunk: OrderedDict[str, nn.Module] = OrderedDict()
        # 5-frame TDNN with stride 2: the trunk runs at 50 frames per second.
        trunk["tdnn"] = TDNNLayer(self.head.out_channels, init_channels, 5, stride=2)
        channels = init_channels
        for i, (num_layers, kernel_size, dilation) in enumerate(DENSE_BLOCKS, start=1):
            block = DenseTDNNBlock(
                num_layers, channels, growth, bottleneck_factor * growth, kernel_size, dilation
            )
            trunk[f"block{i}"] = block
            trunk[f"transit{i}"] = TransitLayer(block.out_channels, block.out_channels // 2)
            channels = block.out_channels // 2
        trunk["out_nonlinear"] = batchnorm_relu(channels)
        trunk["stats"] = StatsPool()
        trunk["dense"] = EmbeddingLayer(2 * channels, embedding_dim)
        self.xvector = nn.Sequential(trunk)
        self.embedding_dim = embedding_dim

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, T, F) features -> (B, embedding_dim) embeddings."""
        embeddings: torch.Tensor = self.xvector(self.head(feats.transpose(1, 2)))
        return embeddings

    @torch.inference_mode()
    def embed(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Embeddings of 16 kHz mono waveforms (B, samples) or (samples,), one per row."""
        batch = waveforms.reshape(-1, waveforms.shape[-1])
        feats = torch.stack([fbank(waveform) for waveform in batch])
        embeddings: torch.Tensor = self(feats.to(next(self.parameters()).device))
        return embeddings


def fbank(waveform: torch.Tensor) -> torch.Tensor:
    """Mean-normalised 80-bin Kaldi fbank of a 16 kHz mono waveform (samples,) -> (T, 80)."""
    if waveform.shape[-1] < MIN_NUM_SAMPLES:
        raise ValueError(
            f"CAM++ needs at least {MIN_NUM_SAMPLES} samples ({MIN_NUM_FRAMES} frames), "
            f"got {waveform.shape[-1]}"
        )
    return mean_normalised(kaldi_fbank(waveform))


def kaldi_fbank(waveform: torch.Tensor) -> torch.Tensor:
    """80-bin Kaldi fbank (25 ms / 10 ms, no dither) of a 16 kHz waveform -> (T, 80)."""
    feats: torch.Tensor = kaldi.fbank(
        waveform.reshape(1, -1).float().cpu(),
        num_mel_bins=FBANK_BINS,
        sample_frequency=SAMPLE_RATE,
        dither=0.0,
    )
    return feats


def mean_normalised(feats: torch.Tensor) -> torch.Tensor:
    """Features minus their mean over time (the network was trained on these)."""
    return feats - feats.mean(dim=0, keepdim=True)


def load_campplus(models_dir: Path | None = None) -> CAMPPlus:
    """The CAM++ network with the provisioned weights, in eval mode, on the CPU.

    Raises ``shared.models`` ``ModelNotProvisioned`` when ``voxloop models fetch
    campplus-sv-zh-en-16k`` has not been run for ``models_dir``.
    """
    weights = locate(MODEL_NAME, models_dir) / WEIGHTS_FILE
    network = CAMPPlus()
    state = torch.load(weights, map_location="cpu", weights_only=True)
    network.load_state_dict(state, strict=True)
    return network.eval()


class CAMPPlusEmbedding(Model):
    """CAM++ as a pyannote.audio ``Model``: usable as ``SpeakerDiarization(embedding=...)``.

    ``forward(waveforms (B, 1, samples), weights (B, frames) | None) -> (B, 192)``. With
    ``weights`` (pyannote's per-frame speaker activity in a chunk), the embedding is computed
    on the fbank frames where that speaker is active (weight > 0.5), mean-normalised over those
    frames, so that CAM++'s context masks and statistics pooling see only that speaker (the
    network knows no per-frame weights). Rows whose active speech is shorter than
    ``MIN_NUM_FRAMES`` come back as NaN, which pyannote's clustering skips.
    """

    def __init__(self, network: CAMPPlus | None = None) -> None:
        super().__init__(sample_rate=SAMPLE_RATE, num_channels=1)
        self.campplus = network if network is not None else CAMPPlus()

    @classmethod
    def from_models_dir(cls, models_dir: Path | None = None) -> CAMPPlusEmbedding:
        return cls(load_campplus(models_dir)).eval()

    @property
    def dimension(self) -> int:
        return self.campplus.embedding_dim

    def forward(
        self, waveforms: torch.Tensor, weights: torch.Tensor | None = None, **kwargs: Any
    ) -> torch.Tensor:
        if kwargs:  # the signature of Model.forward allows them; none is meaningful here
            raise TypeError(f"unexpected arguments: {', '.join(kwargs)}")
        batch_size = waveforms.shape[0]
        # Mono, as pyannote guarantees (num_channels == 1); fbank runs on the CPU.
        signals = waveforms.reshape(batch_size, -1).cpu()
        if weights is None:
            whole: torch.Tensor = self.campplus(torch.stack([fbank(s) for s in signals]).to(self.device))
            return whole

        embeddings = torch.full((batch_size, self.dimension), float("nan"), device=self.device)
        for row, (signal, weight) in enumerate(zip(signals, weights.cpu(), strict=True)):
            if weight.max() <= 0.5:  # speaker silent in this chunk: nothing to embed
                continue
            raw = kaldi_fbank(signal)
            active = _frame_mask(weight, raw.shape[0])
            if int(active.sum()) < MIN_NUM_FRAMES:
                continue
            feats = mean_normalised(raw[active])
            embeddings[row] = self.campplus(feats.unsqueeze(0).to(self.device))[0]
        return embeddings


def _frame_mask(weight: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Speaker activity (segmentation frames) resampled to fbank frames, as booleans."""
    resampled = F.interpolate(weight.reshape(1, 1, -1).float(), size=num_frames, mode="nearest")
    return resampled.reshape(-1) > 0.5


class UnusedPLDA(PLDA):
    """Stand-in for pyannote 4.0.7's ``plda`` argument when clustering is agglomerative.

    ``SpeakerDiarization.__init__`` always loads a PLDA (by default from Hugging Face, which
    is unreachable offline) although only ``VBxClustering`` uses it, and the published PLDA
    is fitted to another embedding anyway. Calling this one is a bug, so it raises.
    """

    def __init__(self) -> None:  # deliberately skips PLDA.__init__: there are no files
        pass

    def __call__(self, embeddings: np.ndarray) -> np.ndarray:
        raise RuntimeError("CAM++ diarization has no PLDA; use AgglomerativeClustering")


def diarization_pipeline(
    segmentation: Model,
    embedding: CAMPPlusEmbedding,
    parameters: dict[str, dict[str, Any]] | None = None,
    embedding_batch_size: int = 32,
    segmentation_batch_size: int = 32,
    segmentation_step: float = 0.1,
) -> SpeakerDiarization:
    """pyannote's SpeakerDiarization on segmentation-3.0 + CAM++, instantiated and ready.

    ``segmentation`` is ``Model.from_pretrained(<pyannote-segmentation-3.0>/pytorch_model.bin)``;
    ``parameters`` default to ``DIARIZATION_PARAMETERS``. ``segmentation_step`` is the hop
    between 10 s chunks as a fraction of their duration: every second of audio is embedded
    about ``1 / segmentation_step`` times, which dominates the run time on a CPU.
    """
    pipeline = SpeakerDiarization(
        segmentation=segmentation,
        embedding=embedding,
        plda=UnusedPLDA(),
        clustering="AgglomerativeClustering",
        embedding_batch_size=embedding_batch_size,
        segmentation_batch_size=segmentation_batch_size,
        segmentation_step=segmentation_step,
    )
    pipeline.instantiate(parameters or DIARIZATION_PARAMETERS)
    return pipeline
