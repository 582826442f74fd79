"""CAM++ speaker embeddings: exact weight loading, embeddings, and diarization through pyannote.

Measured on the 2-core dev machine, one torch thread (see ``conftest.one_torch_thread``):
same-speaker cosine 0.65 on average against 0.32 across speakers (reference turns of the
sample); diarization finds 2 speakers with DER 5.6% (no collar) for any threshold in
0.6-0.9, in about 7 s for the 30 s sample.
"""

from __future__ import annotations

import itertools
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch
from pyannote.audio import Model
from pyannote.audio.pipelines.speaker_verification import PretrainedSpeakerEmbedding
from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.diarization import DiarizationErrorRate

from services.asr.campplus import (
    EMBEDDING_DIM,
    MIN_NUM_SAMPLES,
    SAMPLE_RATE,
    WEIGHTS_FILE,
    CAMPPlus,
    CAMPPlusEmbedding,
    diarization_pipeline,
)

MIN_TURN_S = 1.5


def crop(waveform: torch.Tensor, start_s: float, end_s: float) -> torch.Tensor:
    return waveform[round(start_s * SAMPLE_RATE) : round(end_s * SAMPLE_RATE)]


def test_state_dict_loads_strictly_with_identical_keys_and_shapes(campplus_folder: Path) -> None:
    state = torch.load(campplus_folder / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    network = CAMPPlus()
    expected = network.state_dict()

    assert set(state) == set(expected)
    mismatched = {
        k: (tuple(v.shape), tuple(expected[k].shape))
        for k, v in state.items()
        if v.shape != expected[k].shape
    }
    assert not mismatched
    network.load_state_dict(state, strict=True)
    assert sum(p.numel() for p in network.parameters()) == 6_848_544  # 6.85 M


def test_embeddings_of_a_batch_are_finite_192_dim_and_deterministic(
    campplus: CAMPPlus, sample_waveform: torch.Tensor
) -> None:
    clips = torch.stack([crop(sample_waveform, 11.0, 13.0), crop(sample_waveform, 22.0, 24.0)])  # 2 s each

    first = campplus.embed(clips)
    second = campplus.embed(clips)

    assert first.shape == (2, EMBEDDING_DIM)
    assert torch.isfinite(first).all()
    assert torch.equal(first, second)


def test_too_short_audio_is_refused_with_its_minimum(campplus: CAMPPlus) -> None:
    with pytest.raises(ValueError, match=str(MIN_NUM_SAMPLES)):
        campplus.embed(torch.zeros(MIN_NUM_SAMPLES - 1))


def single_speaker_turns(reference: Annotation) -> list[tuple[str, Segment]]:
    """Reference turns with overlapping speech cut out, at least MIN_TURN_S long."""
    turns = []
    for speaker in reference.labels():
        others = reference.subset([s for s in reference.labels() if s != speaker])
        own = reference.label_timeline(speaker).support()
        for turn in own.extrude(others.get_timeline().support()):
            if turn.duration >= MIN_TURN_S:
                turns.append((speaker, turn))
    return turns


def test_same_speaker_turns_are_closer_than_turns_of_different_speakers(
    campplus: CAMPPlus, sample_waveform: torch.Tensor, sample_reference: Annotation
) -> None:
    turns = single_speaker_turns(sample_reference)
    assert len({speaker for speaker, _ in turns}) == 2 and len(turns) >= 4
    embeddings = [campplus.embed(crop(sample_waveform, t.start, t.end))[0] for _, t in turns]

    same, different = [], []
    for (i, (a, _)), (j, (b, _)) in itertools.combinations(enumerate(turns), 2):
        cosine = torch.cosine_similarity(embeddings[i], embeddings[j], dim=0).item()
        (same if a == b else different).append(cosine)

    mean_same, mean_different = statistics.mean(same), statistics.mean(different)
    print(
        f"cosine same speaker {mean_same:.3f} (n={len(same)}), "
        f"different {mean_different:.3f} (n={len(different)})"
    )
    # Measured 0.653 against 0.315.
    assert mean_same > mean_different + 0.2


def test_pyannote_sees_a_cosine_embedding_of_the_right_shape(
    campplus: CAMPPlus, sample_waveform: torch.Tensor
) -> None:
    embedding = PretrainedSpeakerEmbedding(CAMPPlusEmbedding(campplus))
    assert (embedding.sample_rate, embedding.dimension, embedding.metric) == (
        SAMPLE_RATE,
        EMBEDDING_DIM,
        "cosine",
    )
    assert 400 <= embedding.min_num_samples <= MIN_NUM_SAMPLES

    chunk = crop(sample_waveform, 10.0, 20.0)
    waveforms = chunk.expand(3, 1, -1)
    masks = torch.zeros(3, 589)  # segmentation-3.0 frames in a 10 s chunk
    masks[0] = 1.0  # everything: the same as embedding the whole chunk
    masks[1, 300:] = 1.0  # a part
    # masks[2]: silent speaker
    embeddings = embedding(waveforms, masks=masks)

    assert embeddings.shape == (3, EMBEDDING_DIM)
    np.testing.assert_allclose(embeddings[0], campplus.embed(chunk)[0].numpy(), atol=1e-5)
    assert np.isfinite(embeddings[1]).all()
    assert np.isnan(embeddings[2]).all()  # pyannote's clustering drops NaN rows


def test_diarization_of_the_sample_finds_its_two_speakers(
    campplus: CAMPPlus,
    segmentation_folder: Path,
    sample_waveform: torch.Tensor,
    sample_reference: Annotation,
) -> None:
    segmentation = Model.from_pretrained(str(segmentation_folder / "pytorch_model.bin"))
    pipeline = diarization_pipeline(segmentation, CAMPPlusEmbedding(campplus))

    output = pipeline({"waveform": sample_waveform[None], "sample_rate": SAMPLE_RATE})

    hypothesis = output.speaker_diarization
    assert len(hypothesis.labels()) == 2
    assert output.speaker_embeddings.shape == (2, EMBEDDING_DIM)
    # pyannote.metrics' collar is the total width around each boundary: 0.0 is the strictest.
    whole_file = Timeline([Segment(0.0, len(sample_waveform) / SAMPLE_RATE)])
    der = DiarizationErrorRate(collar=0.0, skip_overlap=False)(sample_reference, hypothesis, uem=whole_file)
    print(f"DER (no collar, overlap scored) {der:.4f}")
    assert der < 0.15  # measured 0.0556 (0.0 with collar=0.5, i.e. +-0.25 s)
