"""Dataset exports of a snapshot, each read back by the library that consumes it (datasets,
pyannote, spaCy, srt, webvtt-py) or by our reader for formats without one (NeMo manifests, Kaldi
data directories, sclite STM/CTM, Label Studio tasks), with real audio: pyannote's sample call,
once as a WAV blob (English) and once as a raw PCM16 chunk that starts 10 s into the recording
(French, so offsets inside a blob and accents are exercised)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from numpy.typing import NDArray

from protos import common_pb2, events_pb2, transcripts_pb2
from services.feedback.exports import FORMATS, ExportedFiles, SpanAudio, UnknownFormat, export_snapshot
from services.feedback.exports.common import in_blob_order
from services.feedback.exports.docbin import read_docbin
from services.feedback.exports.hf_audiofolder import COLUMNS, path_features, read_metadata
from services.feedback.exports.kaldi import read_kaldi, segment_samples, validate_data_dir
from services.feedback.exports.label_studio import read_label_studio
from services.feedback.exports.nemo import manifest_path, read_nemo
from services.feedback.exports.subtitles import read_srt, read_vtt
from services.feedback.exports.turns import read_ctm, read_stm
from services.feedback.snapshot import SnapshotExample
from shared.blobstore import LocalBlobStore
from tests.samples import pyannote_sample

RATE = 16_000
FR_AUDIO_START_S = 10.0
TOLERANCE_S = 0.01


def scores(**labels: float) -> list[transcripts_pb2.LabelScore]:
    return [transcripts_pb2.LabelScore(label=k, confidence=v) for k, v in labels.items()]


def entity(text: str, part: str, label: str, speaker: str) -> transcripts_pb2.Entity:
    start = text.index(part)
    return transcripts_pb2.Entity(
        label=label, text=part, start_char=start, end_char=start + len(part), speaker=speaker
    )


def words(
    text: str, start_s: float, end_s: float, speaker: str, last_speaker: str = ""
) -> list[common_pb2.Word]:
    """The text's words spread evenly over the span; the last one may be another speaker's."""
    tokens = text.split()
    step = (end_s - start_s) / len(tokens)
    return [
        common_pb2.Word(
            text=f" {token}",
            start_s=start_s + n * step,
            end_s=start_s + (n + 0.9) * step,
            probability=0.5 + 0.05 * n,
            speaker=last_speaker if last_speaker and n == len(tokens) - 1 else speaker,
        )
        for n, token in enumerate(tokens)
    ]


# (segment, speaker label, speaker id, start, end, text, entities, sentiment, intent, reviewed)
EN = [
    ("en-1", "SPEAKER_00", "diane", 12.542, 14.184, "This is Diane in New Jersey.",
     [("Diane", "PERSON"), ("New Jersey", "GPE")], {"neutral": 0.7, "positive": 0.3},
     {"greeting": 0.9}, True),
    ("en-2", "SPEAKER_01", "sheila", 14.444, 17.769, "And I'm Sheila in Texas, originally from Chicago.",
     [("Sheila", "PERSON"), ("Texas", "GPE"), ("Chicago", "GPE")], {"positive": 0.6, "neutral": 0.4},
     {"small_talk": 0.8}, False),
    ("en-3", "SPEAKER_00", "diane", 17.789, 20.113, "Oh, I'm originally from Chicago also.",
     [("Chicago", "GPE")], {"positive": 0.9}, {"small_talk": 0.7}, True),
]  # fmt: skip
FR = [
    ("fr-1", "SPEAKER_00", "agent-zürich/02", 20.173, 21.475, "Ça coûte 12 € à Zürich.",
     [("12 €", "MONEY"), ("Zürich", "LOC")], {"negative": 0.8, "neutral": 0.2}, {"billing": 0.95}, True),
    ("fr-2", "SPEAKER_01", "cliente-hélène", 21.935, 23.978, "Très bien, merci Hélène, à demain.",
     [("Hélène", "PER")], {"positive": 0.85}, {"closing": 0.9}, False),
]  # fmt: skip


def make_examples(store: LocalBlobStore, wav: Path) -> list[SnapshotExample]:
    samples, rate = sf.read(wav, dtype="int16")
    assert rate == RATE
    en_blob = store.put(wav.read_bytes(), ".wav")
    fr_pcm = samples[int(FR_AUDIO_START_S * RATE) :].astype("<i2").tobytes()
    fr_blob = store.put(fr_pcm, ".pcm")
    en_ref = common_pb2.AudioRef(
        uri=en_blob.uri, sha256=en_blob.sha256, encoding="wav", sample_rate_hz=RATE, channels=1
    )
    fr_ref = common_pb2.AudioRef(
        uri=fr_blob.uri, sha256=fr_blob.sha256, encoding="pcm_s16le", sample_rate_hz=RATE, channels=1
    )
    # language -> (blob, recording time of its first sample, recording, split)
    refs = {"en": (en_ref, 0.0, "call-en", "train"), "fr": (fr_ref, FR_AUDIO_START_S, "appel-fr", "dev")}
    out = []
    for lang, rows in (("en", EN), ("fr", FR)):
        ref, audio_start_s, recording, split = refs[lang]
        for n, (seg, label, spk_id, start, end, text, ents, senti, intent, reviewed) in enumerate(rows):
            # The last English segment ends with a word of the other speaker (overlap in a turn).
            other = "SPEAKER_01" if seg == "en-3" else ""
            example = events_pb2.TrainingExample(
                example_id=f"asr:{seg}",
                segment_id=seg,
                language=lang,
                context=common_pb2.RecordingContext(recording_id=recording, tenant_id="acme"),
                audio=ref,
                audio_start_s=audio_start_s,
                start_s=start,
                end_s=end,
                target_text=text,
                source_text=text.lower().replace(".", ""),
                entities=[entity(text, part, kind, label) for part, kind in ents],
                sentiment=scores(**senti),
                intent=scores(**intent),
                speaker=label,
                speaker_id=spk_id,
                words=words(text, start, end, label, other),
                labels_reviewed=reviewed,
                quality=events_pb2.ExampleQuality(draft_wer=0.1 * (n + 1)),
                origin=events_pb2.ExampleOrigin(classifier_version="clf-3"),
            )
            out.append(SnapshotExample(example, split))
    return out


@pytest.fixture(scope="module")
def sample_pcm() -> NDArray[np.int16]:
    samples, _ = sf.read(pyannote_sample().wav, dtype="int16")
    return np.asarray(samples, dtype=np.int16)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LocalBlobStore:
    return LocalBlobStore(tmp_path_factory.mktemp("blobs"))


@pytest.fixture(scope="module")
def examples(store: LocalBlobStore) -> list[SnapshotExample]:
    return make_examples(store, pyannote_sample().wav)


@pytest.fixture(scope="module")
def exported(
    examples: list[SnapshotExample], store: LocalBlobStore, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, ExportedFiles]]:
    fetched: list[str] = []

    def audio(ref: common_pb2.AudioRef) -> bytes:
        fetched.append(ref.uri)
        return store.get(ref.uri)

    root = tmp_path_factory.mktemp("export")
    result = export_snapshot(examples, audio, root)
    assert sorted(fetched) == sorted({e.example.audio.uri for e in examples})  # each blob once
    return root, result


def by_segment(examples: list[SnapshotExample]) -> dict[str, SnapshotExample]:
    return {e.example.segment_id: e for e in examples}


def expected_span(item: SnapshotExample, pcm: NDArray[np.int16]) -> NDArray[np.int16]:
    """The span straight from the original file, in recording time."""
    first = round(item.offset_s * RATE) + round(item.example.audio_start_s * RATE)
    return pcm[first : first + round(item.duration_s * RATE)]


def assert_same_audio(path: Path, item: SnapshotExample, pcm: NDArray[np.int16]) -> None:
    data, rate = sf.read(path, dtype="int16")
    assert rate == RATE and data.ndim == 1
    expected = expected_span(item, pcm)
    assert abs(len(data) - len(expected)) <= 1
    n = min(len(data), len(expected))
    np.testing.assert_array_equal(data[:n], expected[:n])


def test_every_format_is_written_and_unknown_formats_are_named(
    exported: tuple[Path, dict[str, ExportedFiles]], examples: list[SnapshotExample], tmp_path: Path
) -> None:
    root, result = exported
    assert list(result) == list(FORMATS)
    for name, files in result.items():
        assert files.path == root / name and files.files > 0 and files.examples == len(examples)
    assert result["docbin"].notes == {"dropped_entities": 0}
    assert result["nemo"].notes == {"shared_audio_files": len(examples)}
    with pytest.raises(UnknownFormat, match=r"'parquet', 'csv'.*known: hf_audiofolder, nemo"):
        export_snapshot(examples, lambda ref: b"", tmp_path, ["kaldi", "parquet", "csv"])
    assert not any(tmp_path.iterdir())  # nothing written before the check
    only = export_snapshot(examples, lambda ref: b"", tmp_path, ["stm", "rttm"])  # no audio needed
    assert list(only) == ["rttm", "stm"] and sorted(p.name for p in tmp_path.iterdir()) == ["rttm", "stm"]


def test_audiofolder_loads_with_datasets(
    exported: tuple[Path, dict[str, ExportedFiles]],
    examples: list[SnapshotExample],
    sample_pcm: NDArray[np.int16],
    tmp_path: Path,
) -> None:
    import datasets

    root, _ = exported
    # datasets 5 encodes and decodes its Audio feature with torchcodec, which does not load
    # beside torch 2.9.1 here (even Audio(decode=False) imports it): the folder is loaded with its
    # metadata's features alone (file_name kept), and the files decoded with soundfile instead.
    loaded = datasets.load_dataset(
        "audiofolder",
        data_dir=str(root / "hf_audiofolder"),
        features=path_features(),
        cache_dir=str(tmp_path / "hf-cache"),
    )
    assert isinstance(loaded, datasets.DatasetDict)
    assert sorted(loaded) == ["train", "validation"]  # datasets names a "dev" folder validation
    wanted = by_segment(examples)
    seen = set()
    for split, expected_split in (("train", "train"), ("validation", "dev")):
        for row in loaded[split]:
            item = wanted[row["segment_id"]]
            seen.add(row["segment_id"])
            ex = item.example
            assert item.split == expected_split
            assert row["text"] == ex.target_text and row["language"] == ex.language
            assert row["speaker_id"] == ex.speaker_id and row["recording_id"] == ex.context.recording_id
            assert abs(row["start_s"] - ex.start_s) < TOLERANCE_S
            assert abs(row["end_s"] - ex.end_s) < TOLERANCE_S
            assert row["sentiment"] == max(ex.sentiment, key=lambda s: s.confidence).label
            assert row["intent"] == ex.intent[0].label
            assert row["draft_text"] == ex.source_text
            assert abs(row["draft_wer"] - ex.quality.draft_wer) < 1e-6
            entities = json.loads(row["entities"])
            assert [(e["start_char"], e["end_char"], e["label"]) for e in entities] == [
                (e.start_char, e.end_char, e.label) for e in ex.entities
            ]
            assert [ex.target_text[e["start_char"] : e["end_char"]] for e in entities] == [
                e.text for e in ex.entities
            ]
            assert set(row) == set(COLUMNS)
            assert_same_audio(root / "hf_audiofolder" / expected_split / row["file_name"], item, sample_pcm)
    assert seen == set(wanted)
    metadata = read_metadata(root / "hf_audiofolder")
    assert {split: len(rows) for split, rows in metadata.items()} == {"dev": 2, "train": 3}
    assert not list((root / "hf_audiofolder").rglob("*.parquet"))  # datasets wants one metadata format


def test_nemo_manifests_share_the_audio_folder_or_write_their_own(
    exported: tuple[Path, dict[str, ExportedFiles]],
    examples: list[SnapshotExample],
    store: LocalBlobStore,
    sample_pcm: NDArray[np.int16],
    tmp_path: Path,
) -> None:
    root, _ = exported
    alone = export_snapshot(examples, lambda ref: store.get(ref.uri), tmp_path, ["nemo"])["nemo"]
    assert alone.notes == {"shared_audio_files": 0}
    for out, shared in ((root / "nemo", True), (tmp_path / "nemo", False)):
        wanted = {e.utterance_id: e for e in examples}
        for split in ("train", "dev"):
            for entry in read_nemo(manifest_path(out, split)):
                item = wanted.pop(entry.audio_filepath.stem)
                assert item.split == split
                assert ("hf_audiofolder" in entry.audio_filepath.parts) is shared
                assert entry.text == item.example.target_text and entry.lang == item.example.language
                assert entry.speaker == item.speaker_key and entry.offset == 0.0
                assert abs(entry.duration - item.duration_s) < TOLERANCE_S
                assert abs(sf.info(entry.audio_filepath).duration - entry.duration) < TOLERANCE_S
                assert_same_audio(entry.audio_filepath, item, sample_pcm)
        assert not wanted


def test_kaldi_data_dirs_pass_validate_data_dir_rules_and_cut_the_same_audio(
    exported: tuple[Path, dict[str, ExportedFiles]],
    examples: list[SnapshotExample],
    sample_pcm: NDArray[np.int16],
) -> None:
    root, _ = exported
    wanted = by_segment(examples)
    for split in ("train", "dev"):
        folder = root / "kaldi" / split
        assert validate_data_dir(folder) == []
        data = read_kaldi(folder)
        items = {e.utterance_id: e for e in examples if e.split == split}
        assert set(data.table("utt2spk")) == set(items)
        assert len(data.table("wav.scp")) == 1  # one blob per recording here
        for utt, item in items.items():
            ex = item.example
            assert utt.startswith(data.table("utt2spk")[utt])
            assert data.table("text")[utt] == ex.target_text
            assert data.table("utt2lang")[utt] == ex.language
            assert abs(float(data.table("utt2dur")[utt]) - item.duration_s) < TOLERANCE_S
            rec, start, end = data.table("segments")[utt].split()
            # Blob time: the French blob starts 10 s into its recording.
            assert abs(float(start) + ex.audio_start_s - ex.start_s) < TOLERANCE_S
            whole, _ = sf.read(data.table("wav.scp")[rec], dtype="int16")
            first, count = segment_samples(float(start), float(end))
            np.testing.assert_array_equal(whole[first : first + count], expected_span(item, sample_pcm))
            assert wanted[ex.segment_id] is item


def test_validate_data_dir_finds_broken_tables(
    exported: tuple[Path, dict[str, ExportedFiles]], tmp_path: Path
) -> None:
    root, _ = exported
    broken = tmp_path / "train"
    broken.mkdir()
    for table in (root / "kaldi" / "train").iterdir():
        (broken / table.name).write_text(table.read_text())
    lines = (broken / "utt2spk").read_text().splitlines()
    (broken / "utt2spk").write_text("\n".join(reversed(lines)) + "\n")
    assert validate_data_dir(broken) == ["utt2spk is not sorted and unique (LC_ALL=C)"]
    (broken / "utt2spk").write_text("\n".join(lines[:-1]) + "\n")
    problems = validate_data_dir(broken)
    assert "text and utt2spk name different utterances" in problems
    assert "spk2utt is not the inverse of utt2spk" in problems


def test_rttm_loads_with_pyannote_as_the_words_speaker_turns(
    exported: tuple[Path, dict[str, ExportedFiles]], examples: list[SnapshotExample]
) -> None:
    from pyannote.database.util import load_rttm

    root, _ = exported
    train = load_rttm(root / "rttm" / "train.rttm")
    assert set(train) == {"call-en"} and set(load_rttm(root / "rttm" / "dev.rttm")) == {"appel-fr"}
    turns = [(seg.start, seg.end, label) for seg, _, label in train["call-en"].itertracks(yield_label=True)]
    en = {e.example.segment_id: e.example for e in examples}
    expected = [
        (en["en-1"].words[0].start_s, en["en-1"].words[-1].end_s, "diane"),
        (en["en-2"].words[0].start_s, en["en-2"].words[-1].end_s, "sheila"),
        (en["en-3"].words[0].start_s, en["en-3"].words[-2].end_s, "diane"),
        # en-3's last word is the other speaker's: a turn of its own, with Sheila's speaker id.
        (en["en-3"].words[-1].start_s, en["en-3"].words[-1].end_s, "sheila"),
    ]
    assert len(turns) == len(expected)
    for (start, end, label), (want_start, want_end, want_label) in zip(turns, expected, strict=True):
        assert label == want_label
        assert abs(start - want_start) < TOLERANCE_S and abs(end - want_end) < TOLERANCE_S
    french = load_rttm(root / "rttm" / "dev.rttm")["appel-fr"]
    assert sorted(french.labels()) == ["agent-z_rich_02", "cliente-h_l_ne"]


def test_stm_and_ctm_read_back_in_recording_time(
    exported: tuple[Path, dict[str, ExportedFiles]], examples: list[SnapshotExample]
) -> None:
    root, _ = exported
    wanted = {(e.example.context.recording_id, round(e.example.start_s, 3)): e for e in examples}
    all_words = []
    for split in ("train", "dev"):
        segments = read_stm(root / "stm" / f"{split}.stm")
        assert segments == sorted(segments, key=lambda s: (s.recording, s.channel, s.start_s))
        for seg in segments:
            item = wanted.pop((seg.recording, round(seg.start_s, 3)))
            assert item.split == split and seg.speaker == item.speaker_key
            assert seg.text == item.example.target_text and seg.label == f"o,{item.example.language}"
            assert abs(seg.end_s - item.example.end_s) < TOLERANCE_S
        words = read_ctm(root / "ctm" / f"{split}.ctm")
        assert words == sorted(words, key=lambda w: (w.recording, w.start_s))
        all_words += words
    assert not wanted
    expected = sorted(
        (e.example.context.recording_id, w.start_s, w.end_s, w.text.strip(), w.probability)
        for e in examples
        for w in e.example.words
    )
    got = sorted(all_words, key=lambda w: (w.recording, w.start_s))
    assert [(w.recording, w.word) for w in got] == [(rec, text) for rec, _, _, text, _ in expected]
    for word, (_, start, end, _, probability) in zip(got, expected, strict=True):
        assert abs(word.start_s - start) < TOLERANCE_S
        assert abs(word.start_s + word.duration_s - end) < TOLERANCE_S
        assert abs(word.confidence - probability) < 1e-3
    assert {w.word for w in got} >= {"Ça", "coûte", "€", "Zürich."}


@pytest.mark.parametrize("suffix", [".srt", ".vtt"])
def test_subtitles_parse_with_srt_and_webvtt(
    exported: tuple[Path, dict[str, ExportedFiles]], examples: list[SnapshotExample], suffix: str
) -> None:
    root, _ = exported
    read = read_srt if suffix == ".srt" else read_vtt
    for split, recording in (("train", "call-en"), ("dev", "appel-fr")):
        cues = read(root / suffix[1:] / split / f"{recording}{suffix}")
        items = sorted(
            (e for e in examples if e.example.context.recording_id == recording),
            key=lambda e: e.example.start_s,
        )
        assert [(c.speaker, c.text) for c in cues] == [
            (e.example.speaker_id, e.example.target_text) for e in items
        ]
        for cue, item in zip(cues, items, strict=True):
            assert abs(cue.start_s - item.example.start_s) < TOLERANCE_S
            assert abs(cue.end_s - item.example.end_s) < TOLERANCE_S


def test_docbins_give_back_texts_entities_and_one_hot_categories(
    exported: tuple[Path, dict[str, ExportedFiles]], examples: list[SnapshotExample]
) -> None:
    root, _ = exported
    assert sorted(p.relative_to(root / "docbin").as_posix() for p in (root / "docbin").rglob("*.spacy")) == [
        "en/train.spacy",
        "fr/dev.spacy",
    ]
    wanted = by_segment(examples)
    docs = read_docbin(root / "docbin" / "en" / "train.spacy") + read_docbin(
        root / "docbin" / "fr" / "dev.spacy"
    )
    assert sorted(d.segment_id for d in docs) == sorted(wanted)
    for doc in docs:
        ex = wanted[doc.segment_id].example
        assert doc.text == ex.target_text
        assert doc.ents == [(e.start_char, e.end_char, e.label) for e in ex.entities]
        top_sentiment = max(ex.sentiment, key=lambda s: s.confidence).label
        assert doc.cats == {
            **{f"sentiment:{s}": float(s == top_sentiment) for s in ("negative", "neutral", "positive")},
            **{
                f"intent:{i}": float(i == ex.intent[0].label)
                for i in ("billing", "closing", "greeting", "small_talk")
            },
        }


def test_docbin_widens_entities_to_tokens_and_counts_dropped_ones(
    examples: list[SnapshotExample], store: LocalBlobStore, tmp_path: Path
) -> None:
    fr = next(e for e in examples if e.example.segment_id == "fr-1")
    example = events_pb2.TrainingExample()
    example.CopyFrom(fr.example)
    text = example.target_text
    del example.entities[:]
    example.entities.append(entity(text, "Zür", "LOC", ""))  # part of a token: widened
    example.entities.append(entity(text, "12", "MONEY", ""))  # inside "12 €"? no: "12" alone
    example.entities.append(transcripts_pb2.Entity(label="X", start_char=40, end_char=45))  # outside
    example.entities.append(entity(text, "coûte 12", "MISC", ""))  # overlaps the longer...
    result = export_snapshot(
        [SnapshotExample(example, "dev")], lambda r: store.get(r.uri), tmp_path, ["docbin"]
    )
    [doc] = read_docbin(tmp_path / "docbin" / "fr" / "dev.spacy")
    assert result["docbin"].notes == {"dropped_entities": 2}
    assert doc.ents == [
        (text.index("coûte"), text.index("12") + 2, "MISC"),
        (text.index("Zürich"), text.index("Zürich") + 6, "LOC"),
    ]


def test_label_studio_tasks_carry_audio_entities_and_choices(
    exported: tuple[Path, dict[str, ExportedFiles]],
    examples: list[SnapshotExample],
    sample_pcm: NDArray[np.int16],
) -> None:
    root, _ = exported
    out = root / "label_studio"
    config = ET.parse(out / "config.xml").getroot()
    names = {el.get("name"): el for el in config}
    assert {el.tag for el in config} == {"Audio", "Labels", "Text", "Choices"}
    assert {el.get("value") for el in names["label"]} == {"PERSON", "GPE", "MONEY", "LOC", "PER"}
    assert {el.get("value") for el in names["intent"]} == {"billing", "closing", "greeting", "small_talk"}
    wanted = by_segment(examples)
    tasks = read_label_studio(out)
    assert sorted(t.data["segment_id"] for t in tasks) == sorted(wanted)
    for task in tasks:
        item = wanted[task.data["segment_id"]]
        ex = item.example
        assert task.text == ex.target_text and task.reviewed == ex.labels_reviewed
        assert task.data["split"] == item.split and task.data["speaker_id"] == ex.speaker_id
        assert task.entities == [(e.start_char, e.end_char, e.text, e.label) for e in ex.entities]
        assert {label for *_, label in task.entities} <= {el.get("value") for el in names["label"]}
        assert task.choices == {
            "sentiment": max(ex.sentiment, key=lambda s: s.confidence).label,
            "intent": ex.intent[0].label,
        }
        assert "hf_audiofolder" in task.audio_path.parts  # the audio folder's WAV, shared
        assert_same_audio(task.audio_path, item, sample_pcm)


def test_a_recording_in_two_chunks_is_two_kaldi_recordings_and_each_chunk_is_decoded_once(
    examples: list[SnapshotExample], sample_pcm: NDArray[np.int16], tmp_path: Path
) -> None:
    """Streams are stored in chunks: each chunk blob is a Kaldi recording of its own, and the
    spans are cut from the right chunk at the right offset. With room for one chunk in memory,
    writers that go blob by blob still fetch each chunk once."""
    store = LocalBlobStore(tmp_path / "blobs")
    cut_s = 14.3
    chunks = [
        (0.0, store.put(sample_pcm[: int(cut_s * RATE)].astype("<i2").tobytes())),
        (cut_s, store.put(sample_pcm[int(cut_s * RATE) :].astype("<i2").tobytes())),
    ]
    chunked = []
    for item in (e for e in examples if e.split == "train"):
        example = events_pb2.TrainingExample()
        example.CopyFrom(item.example)
        start_s, blob = chunks[0] if example.end_s <= cut_s else chunks[1]
        example.audio.CopyFrom(
            common_pb2.AudioRef(uri=blob.uri, sha256=blob.sha256, encoding="pcm_s16le", sample_rate_hz=RATE)
        )
        example.audio_start_s = start_s
        chunked.append(SnapshotExample(example, "train"))
    fetched: list[str] = []

    def source(ref: common_pb2.AudioRef) -> bytes:
        fetched.append(ref.sha256)
        return store.get(ref.uri)

    audio = SpanAudio(source, max_cached_s=20.0)  # one chunk at a time
    for name in ("hf_audiofolder", "kaldi"):
        fetched.clear()
        FORMATS[name](chunked, audio, tmp_path / "out" / name)
        assert sorted(fetched) == sorted(blob.sha256 for _, blob in chunks), name
    folder = tmp_path / "out" / "kaldi" / "train"
    assert validate_data_dir(folder) == []
    data = read_kaldi(folder)
    assert len(data.table("wav.scp")) == 2
    for item in chunked:
        rec, start, end = data.table("segments")[item.utterance_id].split()
        whole, _ = sf.read(data.table("wav.scp")[rec], dtype="int16")
        first, count = segment_samples(float(start), float(end))
        np.testing.assert_array_equal(whole[first : first + count], expected_span(item, sample_pcm))
        assert_same_audio(
            tmp_path / "out" / "hf_audiofolder" / "train" / f"{item.utterance_id}.wav", item, sample_pcm
        )
    refs = [item.example.audio for item in in_blob_order(chunked)]
    a, b = refs[0], refs[-1]
    for room_s, expected in ((20.0, [a, b, a, b]), (60.0, [a, b])):
        fetched.clear()
        cache = SpanAudio(source, max_cached_s=room_s)
        for ref in (a, b, a, a, b):
            cache.blob(ref)
        assert fetched == [ref.sha256 for ref in expected]
