"""`voxloop eval vocabulary`: does the vocabulary loop lower the errors on a domain's terms?

The loop as the platform runs it, on a committed corpus (``corpus/vocabulary/<domain>.jsonl``,
CC0): the "mining" lines are spoken with espeak-ng, drafted by the real Whisper model as the ASR
service drafts a segment (``services.asr.transcriber``), corrected to the line as a linguist
would, and mined (``vocabulary.mine_example``); every candidate is approved (``review_term``) and
the published ``VocabularyUpdate`` is turned into decoding options as the ASR service does
(``services.asr.vocabulary.with_vocabulary``). The held-out lines, DIFFERENT sentences with the
same terms in another voice and pace, are then transcribed without and with the vocabulary (and,
for comparison, with the terms as Whisper's ``initial_prompt``).

Scores: WER over all words of the held-out lines (``shared.text``'s normalisation), term recall
(the term's words appear in the transcript in order) and term-word error rate (a term word the
alignment did not match, i.e. substituted or deleted, per term word).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from protos import common_pb2, events_pb2
from services.asr.settings import AsrSettings
from services.asr.transcriber import DecodingOptions, ModelSpec, Transcriber
from services.asr.vocabulary import ActiveVocabulary, hotwords, with_vocabulary
from services.feedback.store import ExampleRow
from services.feedback.vocabulary import list_terms, mine_example, review_term
from shared.audio import TARGET_RATE_HZ, decode_container
from shared.db.engine import make_engine, make_session_factory
from shared.db.migrate import upgrade
from shared.models import locate
from shared.settings import load_settings
from shared.text import normalise_text, word_errors

CORPUS = Path(__file__).parent / "corpus" / "vocabulary"
MIGRATIONS = Path(__file__).parent / "migrations"
# (espeak-ng voice, words per minute): the held-out lines in another accent and pace.
MINING_VOICE = ("en-us", 160)
HELDOUT_VOICE = ("en-gb-x-rp", 145)
LEAD_SILENCE_S = 0.5  # as tests/samples.py: Whisper base drops first words spoken at sample 0
VARIANTS = ("before", "hotwords", "initial_prompt")


@dataclass(frozen=True)
class Line:
    part: str  # mining | heldout
    recording: str
    text: str
    terms: tuple[str, ...]


@dataclass(frozen=True)
class Scores:
    wer: float
    term_recall: float
    term_word_error: float
    words: int
    term_words: int


def load_corpus(domain: str) -> list[Line]:
    lines = (CORPUS / f"{domain}.jsonl").read_text(encoding="utf-8").splitlines()
    return [
        Line(d["part"], d["recording"], d["text"], tuple(d["terms"])) for d in map(json.loads, lines) if d
    ]


def speak(text: str, voice: str, rate_wpm: int) -> NDArray[np.float32]:
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(rate_wpm), "--stdout", "--", text],
        check=True,
        capture_output=True,
    ).stdout
    samples = decode_container(wav, 120.0).samples
    return np.concatenate([np.zeros(int(LEAD_SILENCE_S * TARGET_RATE_HZ), np.float32), samples])


def score(lines: list[Line], hypotheses: list[str], language: str) -> Scores:
    """Pooled WER, term recall and term-word error over the lines."""
    import jiwer

    errors = words = found = terms = term_words = term_misses = 0
    for line, hypothesis in zip(lines, hypotheses, strict=True):
        ref, hyp = normalise_text(line.text, language), normalise_text(hypothesis, language)
        result = word_errors(ref, hyp)
        errors, words = errors + result.errors, words + result.reference_words
        ref_words, hyp_padded = ref.split(), f" {hyp} "
        matched: set[int] = set()
        if hyp:
            for chunk in jiwer.process_words(ref, hyp).alignments[0]:
                if chunk.type == "equal":
                    matched.update(range(chunk.ref_start_idx, chunk.ref_end_idx))
        for term in line.terms:
            key = normalise_text(term, language)
            terms += 1
            found += f" {key} " in hyp_padded
            n = len(key.split())
            for start in (i for i in range(len(ref_words) - n + 1) if ref_words[i : i + n] == key.split()):
                term_words += n
                term_misses += sum(1 for k in range(start, start + n) if k not in matched)
    return Scores(
        wer=errors / max(words, 1),
        term_recall=found / max(terms, 1),
        term_word_error=term_misses / max(term_words, 1),
        words=words,
        term_words=term_words,
    )


def run_vocabulary_eval(
    out: Path,
    models_dir: Path | None = None,
    domain: str = "support",
    language: str = "en",
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    started = time.perf_counter()
    settings = load_settings(AsrSettings, **({"models_dir": models_dir} if models_dir else {}))
    spec = ModelSpec(locate(settings.whisper_model, settings.models_dir), cpu_threads=settings.cpu_threads)
    transcriber = Transcriber(spec)
    options = DecodingOptions(language=language, beam_size=settings.beam_size)
    corpus = load_corpus(domain)
    mining = [line for line in corpus if line.part == "mining"]
    heldout = [line for line in corpus if line.part == "heldout"]

    progress(f"drafting and mining {len(mining)} lines")
    drafts: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'feedback.db'}")
        upgrade(engine, [MIGRATIONS])
        with make_session_factory(engine).begin() as session:
            for i, line in enumerate(mining):
                draft = transcriber.transcribe(speak(line.text, *MINING_VOICE), options).text
                drafts.append(draft)
                row = _example_row(f"{line.recording}-{i:02d}", line, draft, domain, language)
                session.add(row)
                mine_example(session, row)
            candidates = list_terms(session, domain, "candidate")
            update = events_pb2.VocabularyUpdate()  # stays empty (version 0) if nothing was mined
            for candidate in candidates:
                _, published = review_term(
                    session, candidate.term_id, True, "eval", common_pb2.Provenance(service="eval")
                )
                message = published[-1].message
                assert isinstance(message, events_pb2.VocabularyUpdate)
                update = message
        engine.dispose()
    vocabulary = ActiveVocabulary(domain, language, update.version, tuple(t.term for t in update.terms))

    progress(f"transcribing {len(heldout)} held-out lines before and after")
    hypotheses: dict[str, list[str]] = {v: [] for v in VARIANTS}
    for line in heldout:
        samples = speak(line.text, *HELDOUT_VOICE)
        hypotheses["before"].append(transcriber.transcribe(samples, options).text)
        hypotheses["hotwords"].append(
            transcriber.transcribe(samples, with_vocabulary(options, vocabulary)).text
        )
        segments, _ = transcriber.model.transcribe(
            samples,
            language=language,
            beam_size=options.beam_size,
            vad_filter=options.vad_filter,
            initial_prompt=hotwords(vocabulary.terms),
        )
        hypotheses["initial_prompt"].append(" ".join(s.text.strip() for s in segments))

    corpus_terms = {normalise_text(t, language) for line in corpus for t in line.terms}
    mined = [c.term for c in candidates]
    results: dict[str, Any] = {
        "domain": domain,
        "language": language,
        "model": f"faster-whisper/{spec.name}",
        "model_version": spec.version,
        "voices": {"mining": list(MINING_VOICE), "heldout": list(HELDOUT_VOICE)},
        "mining": {
            "lines": len(mining),
            "recordings": len({line.recording for line in mining}),
            "draft_wer": asdict(score(mining, drafts, language)),
            "candidates": mined,
            "candidates_in_corpus_terms": sum(normalise_text(t, language) in corpus_terms for t in mined),
            "corpus_terms": sorted(corpus_terms),
            "vocabulary_version": vocabulary.version,
        },
        "heldout": {v: asdict(score(heldout, hypotheses[v], language)) for v in VARIANTS},
        "lines": [
            {"text": line.text, "terms": list(line.terms), **{v: hypotheses[v][i] for v in VARIANTS}}
            for i, line in enumerate(heldout)
        ],
        "machine": _machine(),
        "runtime_s": round(time.perf_counter() - started, 1),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocabulary_eval.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    (out / "vocabulary_eval.md").write_text(_markdown(results))
    _chart(results, out / "vocabulary_eval.png")
    return results


def _example_row(segment_id: str, line: Line, draft: str, domain: str, language: str) -> ExampleRow:
    """The row the feedback service keeps for a segment a linguist corrected to ``line.text``."""
    return ExampleRow(
        segment_id=segment_id,
        version=2,
        recording_id=line.recording,
        tenant_id="eval",
        domain=domain,
        language=language,
        speaker_id="",
        duration_s=0.0,
        draft_text=draft,
        text=line.text,
        corrected=normalise_text(draft, language) != normalise_text(line.text, language),
        labels_reviewed=False,
        sentiment="",
        intent="",
        gold=False,
        evaluation=False,
        at=time.time(),
        payload=b"",
    )


def _machine() -> dict[str, Any]:
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "faster_whisper": metadata.version("faster-whisper"),
        "ctranslate2": metadata.version("ctranslate2"),
    }


def _markdown(r: dict[str, Any]) -> str:
    m = r["mining"]
    lines = [
        "# Vocabulary loop evaluation",
        "",
        f"`voxloop eval vocabulary` on services/feedback/corpus/vocabulary/{r['domain']}.jsonl (CC0, an "
        f"invented company's support calls), {r['model']} ({r['model_version']}), language {r['language']}.",
        "",
        f"Mining: {m['lines']} lines in {m['recordings']} recordings (espeak-ng {r['voices']['mining'][0]}, "
        f"{r['voices']['mining'][1]} wpm), drafts corrected to the reference; draft WER "
        f"{m['draft_wer']['wer']:.1%}, term recall {m['draft_wer']['term_recall']:.1%}. "
        f"{len(m['candidates'])} candidates mined ({m['candidates_in_corpus_terms']} of them corpus terms), "
        f"all approved: vocabulary version {m['vocabulary_version']}: {', '.join(m['candidates'])}.",
        "",
        f"Held-out: {len(r['lines'])} different lines with the same terms (espeak-ng "
        f"{r['voices']['heldout'][0]}, {r['voices']['heldout'][1]} wpm).",
        "",
        "| decoding | WER (all words) | term recall | term-word error | words | term words |",
        "|---|---|---|---|---|---|",
    ]
    names = {
        "before": "before (no vocabulary)",
        "hotwords": "after: hotwords (the ASR service)",
        "initial_prompt": "after: initial_prompt",
    }
    for variant, s in r["heldout"].items():
        lines.append(
            f"| {names[variant]} | {s['wer']:.1%} | {s['term_recall']:.1%} | {s['term_word_error']:.1%} "
            f"| {s['words']} | {s['term_words']} |"
        )
    lines += [
        "",
        "Term recall: the term's normalised words appear in order in the transcript. Term-word error: "
        "term words the WER alignment did not match (substituted or deleted), per term word.",
        "",
        "The ASR service passes the terms as `hotwords`: where both fit in one 30 s window they "
        "decode alike, but faster-whisper puts hotwords before every window's prompt, while an "
        "initial prompt is only the first window's previous text and slides out of later windows' "
        "(at once in the safe re-decode profile, which does not condition on previous text).",
        "",
        f"Machine: {r['machine']}; {r['runtime_s']:.0f} s.",
        "",
    ]
    return "\n".join(lines)


def _chart(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [
        ("wer", "WER (all words)"),
        ("term_word_error", "term-word error"),
        ("term_recall", "term recall"),
    ]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.26
    for k, variant in enumerate(VARIANTS):
        values = [r["heldout"][variant][m] * 100 for m, _ in metrics]
        ax.bar([i + (k - 1) * width for i in range(len(metrics))], values, width, label=variant)
    ax.set_xticks(range(len(metrics)), [label for _, label in metrics])
    ax.set_ylabel("%")
    ax.set_title(f"Held-out {r['domain']} lines, {r['model']}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
