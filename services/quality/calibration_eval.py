"""`voxloop eval calibration`: the gate's confidence against the real error of real drafts.

Each draft is whisper-base's own, made with the ASR service's settings and ``DecodingOptions``
(beam 5, the language given as a producer's hint), built into a ``DraftTranscript`` as the
service builds it, with Silero voice activity as ingest finds it, and judged by the gate with the
shipped policy and phrases. Only the corrections are not people's work: ``CORRECTION_SET`` says
which are references and which are synthesised. Drafts are not diarized (diarization only widens
where ``text_without_speech`` sees speech) nor re-decoded: the service calibrates the first
draft's confidence.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from protos import common_pb2, quality_pb2, transcripts_pb2
from services.asr.drafting import SpeechModels, offline_draft
from services.asr.eval_sample import SampleReference
from services.asr.evaluation import RefSegment
from services.asr.settings import AsrSettings
from services.ingest.segmenter import voice_activity
from services.quality.calibration import (
    NO_AUTO_ACCEPT,
    CalibrationSample,
    Calibrator,
    LanguageResult,
    analyse,
    calibration_report,
    plot_calibration,
    reliability,
)
from services.quality.gate import GateConfig, assess
from services.quality.phrases import load_phrases
from services.quality.policy import load_policy
from services.quality.scoring import score_segment
from services.quality.speech import draft_text
from shared.audio import TARGET_RATE_HZ, decode_container
from shared.stack.demo import sample_recording

TARGETS = (0.05, 0.10)  # residual WER of auto-accepted text: the service's default, and a looser one
MIN_SPAN_S = 1.5  # shorter STM turns are merged with the next: a lone "Hello?" is no segment
SPAN_PAD_S = 0.2  # audio kept around a span, never past the middle of the gap to a neighbour
LEAD_SILENCE_S = 0.5  # before espeak's first sample: Whisper drops first words without it (tests/samples.py)
SAMPLE_NOISE_SNR_DB = 10.0
CV_FOLDS = 5  # for the calibrated ECE on held-out segments
CORRECTION_SET = {
    "reference": (
        "pyannote.audio's sample.wav (30 s of real English telephone speech, two speakers), cut along "
        f"the turns of its sample.stm (consecutive turns merged until a span lasts {MIN_SPAN_S} s), each "
        f"span once clean and once with white noise at {SAMPLE_NOISE_SNR_DB:g} dB SNR; the correction is "
        "the STM text of the span: a person's reference transcript."
    ),
    "synthesised": (
        "everyday sentences written for this evaluation, two to a segment, spoken by espeak-ng in en, de, "
        "es and fr, each pair in four of five renderings (voice variant, 150-190 words a minute, clean or "
        "white noise at 20/15/10 dB SNR); the correction is the text that was spoken. The audio is "
        "synthetic; the errors are Whisper's own, none is synthesised."
    ),
}
Progress = Callable[[str, int, int], None]  # (step, done, total)


@dataclass(frozen=True)
class Rendering:
    name: str
    variant: str  # espeak-ng voice variant, appended to the language's voice
    rate_wpm: int
    snr_db: float | None  # white noise this far under the clip's RMS; None: clean


# Pair i gets every rendering but the (i % 5)th. Two sentences, not one: on a lone short sentence
# Whisper base lacks context and misses most espeak-ng French (WER 0.68 for a pair's 0.40, measured).
RENDERINGS = (
    Rendering("plain-160", "", 160, None),
    Rendering("f3-180", "+f3", 180, None),
    Rendering("m3-150-snr20", "+m3", 150, 20.0),
    Rendering("f2-190-snr15", "+f2", 190, 15.0),
    Rendering("klatt-170-snr10", "+klatt", 170, 10.0),
)
VOICES = {"en": "en-us", "de": "de", "es": "es", "fr": "fr-fr"}
# No numbers: "20" for "twenty" would count as an error no reviewer would make.
SENTENCES: dict[str, tuple[str, ...]] = {
    "en": (
        "Could you send me the invoice again, please?",
        "I left my keys on the kitchen table this morning.",
        "The bus was late because of the snow.",
        "We are meeting at the library after lunch.",
        "My sister lives in a small house near the river.",
        "Please call me back when you get home.",
        "The shop on the corner closes early on Sundays.",
        "I would like to change my delivery address.",
        "Thank you for waiting, your order is ready.",
        "He forgot his umbrella at the train station.",
        "The weather should be better tomorrow afternoon.",
        "Can you tell me where the nearest pharmacy is?",
        "Our internet connection has been slow all week.",
        "She is learning to play the piano.",
        "I need a new password for my account.",
        "The children are playing in the garden.",
        "Let me check that for you, it will only take a moment.",
        "We had soup and fresh bread for dinner.",
    ),
    "de": (
        "Können Sie mir die Rechnung noch einmal schicken?",
        "Ich habe meinen Schlüssel auf dem Küchentisch vergessen.",
        "Der Bus hatte wegen des Schnees Verspätung.",
        "Wir treffen uns nach dem Mittagessen in der Bibliothek.",
        "Meine Schwester wohnt in einem kleinen Haus am Fluss.",
        "Bitte rufen Sie mich zurück, wenn Sie zu Hause sind.",
        "Der Laden an der Ecke schließt am Sonntag früh.",
        "Ich möchte meine Lieferadresse ändern.",
        "Danke für Ihre Geduld, Ihre Bestellung ist fertig.",
        "Er hat seinen Regenschirm am Bahnhof liegen lassen.",
        "Morgen Nachmittag soll das Wetter besser werden.",
        "Wo ist hier die nächste Apotheke?",
        "Unser Internet ist seit einer Woche sehr langsam.",
        "Sie lernt gerade Klavier spielen.",
        "Ich brauche ein neues Passwort für mein Konto.",
        "Die Kinder spielen im Garten.",
        "Einen Moment bitte, ich sehe das für Sie nach.",
        "Zum Abendessen gab es Suppe und frisches Brot.",
    ),
    "es": (
        "¿Me puede enviar la factura otra vez, por favor?",
        "Dejé las llaves en la mesa de la cocina esta mañana.",
        "El autobús llegó tarde por la nieve.",
        "Nos vemos en la biblioteca después de comer.",
        "Mi hermana vive en una casa pequeña cerca del río.",
        "Por favor, llámeme cuando llegue a casa.",
        "La tienda de la esquina cierra temprano los domingos.",
        "Quisiera cambiar la dirección de entrega.",
        "Gracias por esperar, su pedido ya está listo.",
        "Olvidó el paraguas en la estación de tren.",
        "Mañana por la tarde hará mejor tiempo.",
        "¿Sabe dónde está la farmacia más cercana?",
        "La conexión a internet va muy lenta toda la semana.",
        "Ella está aprendiendo a tocar el piano.",
        "Necesito una contraseña nueva para mi cuenta.",
        "Los niños están jugando en el jardín.",
        "Un momento, por favor, lo compruebo enseguida.",
        "Cenamos sopa y pan recién hecho.",
    ),
    "fr": (
        "Pouvez-vous m'envoyer la facture encore une fois ?",
        "J'ai oublié mes clés sur la table de la cuisine.",
        "Le bus était en retard à cause de la neige.",
        "On se retrouve à la bibliothèque après le déjeuner.",
        "Ma sœur habite une petite maison près de la rivière.",
        "Rappelez-moi quand vous serez chez vous, s'il vous plaît.",
        "Le magasin du coin ferme tôt le dimanche.",
        "Je voudrais changer mon adresse de livraison.",
        "Merci de votre patience, votre commande est prête.",
        "Il a oublié son parapluie à la gare.",
        "Demain après-midi, il fera plus beau.",
        "Savez-vous où se trouve la pharmacie la plus proche ?",
        "Notre connexion internet est lente depuis une semaine.",
        "Elle apprend à jouer du piano.",
        "J'ai besoin d'un nouveau mot de passe pour mon compte.",
        "Les enfants jouent dans le jardin.",
        "Un instant, je vérifie cela pour vous.",
        "Nous avons mangé de la soupe et du pain frais.",
    ),
}


@dataclass(frozen=True)
class SetSize:
    """How much of the correction set to draft; None: all of it."""

    sample_spans: int | None = None
    pairs_per_language: int | None = None  # of sentences
    renderings: int = 4  # per sentence pair; a sample span has two at most


@dataclass(frozen=True)
class Segment:
    """A piece of audio to draft, and its correction."""

    segment_id: str
    language: str
    kind: str  # a key of CORRECTION_SET
    source: str
    samples: NDArray[np.float32]  # 16 kHz mono, the segment only
    start_s: float  # in its recording
    voiced: tuple[tuple[float, float], ...]  # recording time
    correction: str


@dataclass(frozen=True)
class Drafted:
    segment_id: str
    language: str
    kind: str
    source: str
    confidence: float
    wer: float
    reference_words: int
    fired: tuple[str, ...]  # the detectors
    draft: str
    correction: str

    @property
    def sample(self) -> CalibrationSample:
        return CalibrationSample(self.confidence, self.wer, self.reference_words, self.language)


@dataclass(frozen=True)
class CalibrationEval:
    drafted: list[Drafted]
    results: dict[float, list[LanguageResult]]  # per target residual WER, the pooled row first
    report: quality_pb2.CalibrationReport  # what the gRPC call returns, at TARGETS[0]
    runtime_s: float


def with_noise(samples: NDArray[np.float32], snr_db: float | None, seed: str) -> NDArray[np.float32]:
    """White noise ``snr_db`` under the clip's RMS, seeded by name: the same audio every run."""
    if snr_db is None:
        return samples
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big"))
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    noise = rng.normal(0.0, rms / 10 ** (snr_db / 20), len(samples))
    return np.clip(samples + noise, -1.0, 1.0).astype(np.float32)


def spoken(text: str, voice: str, rate_wpm: int) -> NDArray[np.float32]:
    command = ["espeak-ng", "-v", voice, "-s", str(rate_wpm), "--stdout", "--", text]
    speech = decode_container(subprocess.run(command, check=True, capture_output=True).stdout, 60.0)
    return np.concatenate([np.zeros(int(LEAD_SILENCE_S * TARGET_RATE_HZ), np.float32), speech.samples])


def span_turns(turns: Sequence[RefSegment], min_span_s: float = MIN_SPAN_S) -> list[list[RefSegment]]:
    """Consecutive turns grouped until a group lasts ``min_span_s``; a short last one joins the one before."""
    groups: list[list[RefSegment]] = []
    current: list[RefSegment] = []
    for turn in sorted(turns, key=lambda t: t.start_s):
        current.append(turn)
        if current[-1].end_s - current[0].start_s >= min_span_s:
            groups, current = [*groups, current], []
    if current:
        groups[-1:] = [groups[-1] + current] if groups else [current]
    return groups


def sample_segments(size: SetSize) -> list[Segment]:
    groups = span_turns(SampleReference.load().segments)[: size.sample_spans]
    bounds = [(g[0].start_s, g[-1].end_s) for g in groups]
    recording = sample_recording().samples
    segments = []
    for snr_db in (None, SAMPLE_NOISE_SNR_DB)[: size.renderings]:
        name = "clean" if snr_db is None else f"snr{snr_db:g}"
        audio = with_noise(recording, snr_db, f"sample-{name}")
        runs = voice_activity(audio)  # over the whole call, as ingest sees the stream
        for i, (group, (start, end)) in enumerate(zip(groups, bounds, strict=True)):
            before = bounds[i - 1][1] if i else 0.0
            after = bounds[i + 1][0] if i + 1 < len(bounds) else len(audio) / TARGET_RATE_HZ
            lo, hi = max(start - SPAN_PAD_S, (before + start) / 2), min(end + SPAN_PAD_S, (end + after) / 2)
            segments.append(
                Segment(
                    f"sample-{i:02d}-{name}",
                    "en",
                    "reference",
                    f"pyannote sample {start:.2f}-{end:.2f} s, {name}",
                    audio[int(lo * TARGET_RATE_HZ) : int(hi * TARGET_RATE_HZ)],
                    lo,
                    tuple((max(s, lo), min(e, hi)) for s, e in runs if e > lo and s < hi),
                    " ".join(t.text for t in group),
                )
            )
    return segments


def synthesised_segments(size: SetSize) -> list[Segment]:
    segments = []
    for language, sentences in SENTENCES.items():
        pairs = [f"{a} {b}" for a, b in zip(sentences[::2], sentences[1::2], strict=True)]
        for i, text in enumerate(pairs[: size.pairs_per_language]):
            for rendering in [r for j, r in enumerate(RENDERINGS) if j != i % 5][: size.renderings]:
                segment_id, voice = (
                    f"{language}-{i:02d}-{rendering.name}",
                    VOICES[language] + rendering.variant,
                )
                audio = with_noise(spoken(text, voice, rendering.rate_wpm), rendering.snr_db, segment_id)
                noise = "clean" if rendering.snr_db is None else f"white noise {rendering.snr_db:g} dB SNR"
                source = f"espeak-ng {voice} {rendering.rate_wpm} wpm, {noise}"
                voiced = tuple(voice_activity(audio))
                segments.append(
                    Segment(segment_id, language, "synthesised", source, audio, 0.0, voiced, text)
                )
    return segments


def draft(models: SpeechModels, segment: Segment) -> transcripts_pb2.DraftTranscript:
    """As ``drafting.draft_segment`` builds it for a recording with a language hint."""
    return offline_draft(
        models,
        segment.samples,
        replace(models.options, language=segment.language),
        context=common_pb2.RecordingContext(
            recording_id=segment.segment_id,
            tenant_id="eval",
            domain="general",
            language_hint=segment.language,
        ),
        segment_id=segment.segment_id,
        start_s=segment.start_s,
        voice_activity=segment.voiced,
    )


def judge(models: SpeechModels, gate: GateConfig, segment: Segment) -> Drafted:
    """The gate's confidence in the draft and the draft's WER against the correction."""
    assessment = assess(draft(models, segment), gate, segment.language)
    text = draft_text(assessment.draft)
    score = score_segment(text, segment.correction, segment.language)
    return Drafted(
        segment.segment_id,
        segment.language,
        segment.kind,
        segment.source,
        assessment.confidence,
        score.wer,
        score.reference_words,
        tuple(d.name for d in assessment.fired),
        text,
        segment.correction,
    )


def run_calibration_eval(
    out_dir: Path, models_dir: Path | None = None, progress: Progress | None = None, size: SetSize = SetSize()
) -> CalibrationEval:
    """Draft the correction set, analyse it at each of ``TARGETS``, write the result files."""
    started = time.monotonic()
    report = progress or (lambda step, done, total: None)
    settings = AsrSettings(diarize=False, **({"models_dir": models_dir} if models_dir else {}))  # type: ignore[arg-type]
    models = SpeechModels.load(settings)
    gate = GateConfig(policy=load_policy(), phrases=load_phrases())
    report("synthesising", 0, 1)
    segments = sample_segments(size) + synthesised_segments(size)
    drafted = []
    for done, segment in enumerate(segments):
        report("drafting", done, len(segments))
        drafted.append(judge(models, gate, segment))
    report("drafting", len(segments), len(segments))
    samples = [d.sample for d in drafted]
    results = {target: analyse(samples, target) for target in TARGETS}
    evaluation = CalibrationEval(
        drafted, results, calibration_report(samples, TARGETS[0]), time.monotonic() - started
    )
    write_results(evaluation, out_dir, models)
    return evaluation


def cross_validated_ece(samples: Sequence[CalibrationSample], folds: int = CV_FOLDS) -> float | None:
    """The calibrated confidence's ECE on segments its calibrator was not fitted to (folds by
    position). In-sample it is 0 by construction: each flat block of the isotonic fit lies in one
    bin, and its value is the mean accuracy inside it."""
    if len(samples) < 2 * folds:
        return None
    held_out: list[CalibrationSample] = []
    for k in range(folds):
        fitted = Calibrator.fit([s for i, s in enumerate(samples) if i % folds != k])
        held_out += [replace(s, confidence=fitted.apply(s.confidence)) for s in samples[k::folds]]
    return reliability(held_out).ece


def language_rows(evaluation: CalibrationEval) -> list[dict[str, Any]]:
    rows = []
    for i, row in enumerate(evaluation.results[TARGETS[0]]):
        chosen = [d for d in evaluation.drafted if not row.language or d.language == row.language]
        errors = sum(d.wer * max(d.reference_words, 1) for d in chosen)
        choices = {f"{t:.2f}": evaluation.results[t][i].auto_accept for t in TARGETS}
        rows.append(
            {
                "language": row.language or "all",
                "samples": row.samples,
                "words": row.words,
                "draft_wer": errors / row.words,  # word-weighted, as the calibration is
                "ece_raw": row.raw.ece,
                "ece_calibrated_in_sample": row.calibrated.ece,
                f"ece_calibrated_{CV_FOLDS}_fold": cross_validated_ece([d.sample for d in chosen]),
                "bins_raw": [asdict(b) for b in row.raw.bins],
                "bins_calibrated": [asdict(b) for b in row.calibrated.bins],
                "calibrator": row.calibrator.to_dict(),
                "auto_accept": {
                    target: {
                        "threshold": None if c.threshold >= NO_AUTO_ACCEPT else c.threshold,
                        "target_met": c.target_met,
                        "residual_wer": c.residual_wer,
                        "review_share_words": c.review_share,
                    }
                    for target, c in choices.items()
                },
            }
        )
    return rows


def write_results(evaluation: CalibrationEval, out_dir: Path, models: SpeechModels) -> None:
    from services.asr.benchmark import machine_facts

    out_dir.mkdir(parents=True, exist_ok=True)
    spec, counts = models.transcriber.spec, dict[str, int]()
    for d in evaluation.drafted:
        counts[f"{d.kind} {d.language}"] = counts.get(f"{d.kind} {d.language}", 0) + 1
    payload = {
        "correction_set": CORRECTION_SET,
        "segments_by_source": dict(sorted(counts.items())),
        "model": f"faster-whisper/{spec.name} ({spec.compute_type}, {spec.device}, "
        f"beam {models.options.beam_size}), not diarized, first drafts only",
        "machine": machine_facts(spec.device),
        "runtime_s": round(evaluation.runtime_s, 1),
        "languages": language_rows(evaluation),
        "segments": [asdict(d) for d in evaluation.drafted],
    }
    text = json.dumps(payload, indent=2, ensure_ascii=False)
    (out_dir / "quality_calibration.json").write_text(text + "\n")
    (out_dir / "quality_calibration.md").write_text(markdown(payload))
    plot_calibration(evaluation.results[TARGETS[0]], out_dir / "quality_calibration.png", TARGETS[0])


def markdown(payload: dict[str, Any]) -> str:
    machine = ", ".join(f"{k} {v}" for k, v in payload["machine"].items())
    sources = ", ".join(f"{k}: {n}" for k, n in payload["segments_by_source"].items())
    lines = [
        "# Quality gate calibration on real drafts",
        "",
        f"Model: {payload['model']}. Machine: {machine}. Runtime {payload['runtime_s']} s.",
        "",
        *(f"- **{kind}** corrections: {text}" for kind, text in payload["correction_set"].items()),
        "",
        f"Segments: {sources}. Shares and WER are word-weighted; the calibrated ECE is "
        "measured on held-out folds (in-sample it is 0 by construction).",
        "",
        f"| language | segments | words | draft WER | ECE | ECE calibrated ({CV_FOLDS}-fold) |"
        + "".join(f" auto-accept ({t:.2f}) | residual WER | review share |" for t in TARGETS),
        "|---|---:|---:|---:|---:|---:|" + "---:|---:|---:|" * len(TARGETS),
    ]
    for row in payload["languages"]:
        cells = [row["language"], row["samples"], row["words"], f"{row['draft_wer']:.3f}"]
        held_out = row[f"ece_calibrated_{CV_FOLDS}_fold"]
        cells += [f"{row['ece_raw']:.3f}", "-" if held_out is None else f"{held_out:.3f}"]
        for c in row["auto_accept"].values():
            cells += ["none" if c["threshold"] is None else f">= {c['threshold']:.3f}"]
            cells += [f"{c['residual_wer']:.3f}", f"{c['review_share_words']:.1%}"]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    lines += ["", "Reliability of the raw confidence:", ""]
    lines += [
        "| language | bin | segments | words | mean confidence | observed accuracy |",
        "|---|---|" + "---:|" * 4,
    ]
    for row in payload["languages"]:
        lines += [
            f"| {row['language']} | {b['confidence_low']:.1f}-{b['confidence_high']:.1f} | {b['count']} | "
            f"{b['words']} | {b['mean_confidence']:.3f} | {b['observed_accuracy']:.3f} |"
            for b in row["bins_raw"]
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    from services.quality.calibration_views import calibration_table

    console = Console()
    columns = (TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Bar(*columns, console=console) as bar:
        task = bar.add_task("drafting", total=None)
        evaluation = run_calibration_eval(
            Path("results"),
            progress=lambda step, done, total: bar.update(
                task, description=step, completed=done, total=total
            ),
        )
    for target in TARGETS:
        table = calibration_table(evaluation.results[target], target)
        table.caption = f"target residual WER {target:.2f}"
        console.print(table)
    console.print(f"written: results/quality_calibration.{{json,md,png}} in {evaluation.runtime_s:.0f} s")


if __name__ == "__main__":
    main()
