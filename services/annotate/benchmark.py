"""`voxloop bench annotate`: the annotate service against bare ``nlp.pipe``, same texts, one run.

The texts are the corpus's utterances in every language (English and French through their
trained pipelines, Spanish and German through blank tokenizers; all with the sentiment and
intent classifiers), repeated to ``segments`` segments with words and times as ASR writes them.

- bare: the very ``Language`` objects the service builds, ``nlp.pipe(texts)`` per language; the
  median of three rounds, each run just before a service round (the machine's speed drifts
  from minute to minute on a shared host: ``shared.stack.usage``).
- service: the annotate service (its own process, the real broker, SQLite) is started and warmed
  up; then every segment is published on transcripts.qa.v1 as an auto-accepted verdict, and the
  clock runs from the first send to the last ``transcripts.annotated.v1`` message read back
  (every segment yields exactly one; the validated one may wait for a label review); the median
  of three rounds, each with its own segment ids. Decoding, the rule layers, the mapping to
  words, the database, the outbox and the broker are all inside; so is the benchmark's own
  producer and reader, which share the machine's cores with the service (the load is encoded
  before the clock starts).

Throughput is segments per wall second; the ratio is service / bare.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from protos import common_pb2, transcripts_pb2
from services.annotate import classifiers
from services.annotate.evaluation import read_entity_set
from services.annotate.labeller import Labeller, base_language
from services.annotate.settings import CORPUS, AnnotateSettings
from shared.settings import load_settings
from shared.stack import stack
from shared.stack.probe import publish_records, verdict_records
from shared.stack.usage import metered
from shared.topics import TRANSCRIPTS_ANNOTATED

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Run:
    name: str
    segments: int
    wall_s: float
    detail: str = ""

    @property
    def throughput(self) -> float:
        return self.segments / self.wall_s


def corpus_texts() -> list[tuple[str, str]]:
    """(language, text) of every corpus utterance, classification and entity sets."""
    texts = []
    for language in classifiers.corpus_languages():
        texts += [(language, ex.text) for ex in classifiers.read_corpus(language)]
        if (CORPUS / "entities" / f"{language}.jsonl").is_file():
            texts += [(language, text) for text, _ in read_entity_set(language)]
    return texts


def as_segment(n: int, language: str, text: str) -> common_pb2.TranscriptSegment:
    segment = common_pb2.TranscriptSegment(
        segment_id=f"seg-{n}", index=n, text=text, language=language, speaker="SPEAKER_00"
    )
    for i, word in enumerate(text.split()):
        segment.words.add(
            text=" " + word, start_s=i * 0.3, end_s=i * 0.3 + 0.25, speaker="SPEAKER_00", probability=0.9
        )
    segment.start_s, segment.end_s = 0.0, 0.3 * len(segment.words)
    return segment


# Two shapes of the same text: one corpus utterance per segment (about 12 words), and
# consecutive utterances of a language joined to at least 60 words, the size of the 8-30 s
# segments ingest cuts (2-3 words a second).
SHAPES = {"utterances": 0, "segments": 60}
ROUNDS = 3  # each side's time is the median of this many rounds


def workload(segments: int, min_words: int = 0) -> list[common_pb2.TranscriptSegment]:
    texts = corpus_texts()
    joined: list[tuple[str, str]] = []
    for language, text in texts:
        last = joined[-1] if joined else None
        if last and last[0] == language and len(last[1].split()) < min_words:
            joined[-1] = (language, f"{last[1]} {text}")
        else:
            joined.append((language, text))
    return [as_segment(n, *joined[n % len(joined)]) for n in range(segments)]


def time_bare(labeller: Labeller, segments: list[common_pb2.TranscriptSegment], batch_size: int) -> float:
    by_language: dict[str, list[str]] = {}
    for s in segments:
        by_language.setdefault(base_language(s.language), []).append(s.text)
    nlps = {language: labeller.pipeline(language).nlp for language in by_language}
    started = time.perf_counter()
    for language, texts in by_language.items():
        for _ in nlps[language].pipe(texts, batch_size=batch_size):
            pass
    return time.perf_counter() - started


def verdicts(segments: list[common_pb2.TranscriptSegment], run_id: str) -> list[transcripts_pb2.QaVerdict]:
    out = []
    for s in segments:
        verdict = transcripts_pb2.QaVerdict(route=transcripts_pb2.ROUTE_AUTO_ACCEPT, confidence=0.95)
        verdict.context.recording_id = f"{run_id}-rec-{s.index // 20}"  # 20 segments a recording
        verdict.context.tenant_id = "acme"
        verdict.draft.segment.CopyFrom(s)
        verdict.draft.segment.segment_id = f"{run_id}-{s.segment_id}"
        verdict.draft.version = 1
        out.append(verdict)
    return out


def _count_annotated(
    bootstrap: str, run_id: str, wanted: int, timeout_s: float, arrivals: list[float]
) -> None:
    """Note the arrival time of each of this run's annotated messages, by key, without decoding
    them: the harness shares the two cores with the service and should take little of them."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    try:
        partitions = [
            TopicPartition(TRANSCRIPTS_ANNOTATED.name, p)
            for p in consumer.partitions_for_topic(TRANSCRIPTS_ANNOTATED.name) or ()
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        prefix = run_id.encode()
        deadline = time.monotonic() + timeout_s
        while len(arrivals) < wanted and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                now = time.time()
                arrivals.extend(now for r in records if r.key and r.key.startswith(prefix))
    finally:
        consumer.close()


def through_service(
    bootstrap: str, messages: list[transcripts_pb2.QaVerdict], run_id: str, timeout_s: float
) -> float:
    """Publish the verdicts as fast as the broker takes them; seconds until the last annotated
    message (every segment yields exactly one)."""
    arrivals: list[float] = []
    reader = threading.Thread(
        target=_count_annotated, args=(bootstrap, run_id, len(messages), timeout_s, arrivals)
    )
    reader.start()
    records = verdict_records(messages)  # the load is built before the clock starts
    time.sleep(0.5)  # the reader is assigned before the first send
    started = time.time()
    publish_records(bootstrap, records)
    reader.join()
    if len(arrivals) < len(messages):
        raise RuntimeError(
            f"only {len(arrivals)} of {len(messages)} segments were annotated in {timeout_s:.0f} s"
        )
    return max(arrivals) - started


def run_benchmark(
    out: Path, work: Path, segments: int = 4000, progress: Progress = lambda _: None
) -> dict[str, Any]:
    """Per shape, ``ROUNDS`` rounds, each bare ``nlp.pipe`` and then the service, back to back:
    the two sides of a round see the same minute of a machine whose speed drifts."""
    settings = load_settings(AnnotateSettings, nlp_process=False)  # bare: this process
    for _ in classifiers.train_all(settings.models_dir):  # kept when already trained
        pass
    loads = {shape: workload(segments, min_words) for shape, min_words in SHAPES.items()}
    labeller = Labeller(settings)
    labeller.preload()

    progress("starting the annotate service")
    shutil.rmtree(work, ignore_errors=True)
    state = stack.up(work, stack.StackPorts.free(), services=("annotate",))
    rounds: list[dict[str, Any]] = []
    try:
        progress("warming up the service")
        warm = "warm-" + uuid.uuid4().hex[:6]
        through_service(state.bootstrap, verdicts(loads["utterances"][:200], warm), warm, 300)
        roots = {"annotate": state.services[0].pid, "broker": state.broker.pid, "benchmark": os.getpid()}
        for shape, load in loads.items():
            time_bare(labeller, load[:200], settings.nlp_batch_size)  # warm-up
            for n in range(ROUNDS):
                progress(f"{segments} {shape}, round {n + 1} of {ROUNDS}: bare nlp.pipe")
                with metered(roots, ("annotate",)) as bare_use:
                    bare_wall = time_bare(labeller, load, settings.nlp_batch_size)
                progress(f"{segments} {shape}, round {n + 1} of {ROUNDS}: through the service")
                run_id = uuid.uuid4().hex[:8]
                messages = verdicts(load, run_id)
                with metered(roots, ("annotate",)) as use:
                    wall = through_service(state.bootstrap, messages, run_id, 900)
                rounds.append(
                    {
                        "shape": shape,
                        "round": n + 1,
                        "bare_wall_s": round(bare_wall, 3),
                        "service_wall_s": round(wall, 3),
                        "ratio": round(bare_wall / wall, 3),
                        "bare_stolen_share": round(bare_use.stolen_share, 3),
                        "service_stolen_share": round(use.stolen_share, 3),
                        "service_cpu_s": {k: round(v, 2) for k, v in use.cpu_s.items()},
                    }
                )
    finally:
        stack.down(work)
    bare: dict[str, Run] = {}
    service: dict[str, Run] = {}
    cpu_s: dict[str, dict[str, float]] = {}  # shape -> process -> CPU seconds of a round (median)
    for shape in loads:
        mine = [r for r in rounds if r["shape"] == shape]
        bare_walls, walls = [r["bare_wall_s"] for r in mine], [r["service_wall_s"] for r in mine]
        bare[shape] = Run(
            f"bare nlp.pipe, {shape}", segments, statistics.median(bare_walls), f"median of {bare_walls} s"
        )
        service[shape] = Run(
            f"annotate service, {shape}",
            segments,
            statistics.median(walls),
            f"median of {walls} s; qa.v1 -> annotated.v1, SQLite, real broker",
        )
        cpus = [r["service_cpu_s"] for r in mine]
        cpu_s[shape] = {k: statistics.median(c[k] for c in cpus) for k in cpus[0]} if cpus[0] else {}
    words = {shape: statistics.mean(len(s.words) for s in load) for shape, load in loads.items()}
    report = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
        },
        "languages": sorted({s.language for s in loads["utterances"]}),
        "words_per_segment": {shape: round(w, 1) for shape, w in words.items()},
        "runs": [
            asdict(r) | {"throughput": r.throughput} for shape in loads for r in (bare[shape], service[shape])
        ],
        "ratios": {shape: service[shape].throughput / bare[shape].throughput for shape in loads},
        "paired_ratios": {
            shape: statistics.median(r["ratio"] for r in rounds if r["shape"] == shape) for shape in loads
        },
        "rounds": rounds,
        "service_cpu_s": cpu_s,
        "batch_size": settings.nlp_batch_size,
        "max_poll_records": settings.max_poll_records,
    }
    write_report(report, out)
    return report


def write_report(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "annotate_benchmark.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    lines = [
        "# Annotation throughput: the service against bare `nlp.pipe`",
        "",
        "`voxloop bench annotate`: the same corpus utterances (" + ", ".join(report["languages"]) + "), "
        "each language's pipeline with the sentiment and intent classifiers.",
        "",
        "| run | segments | wall s | segments / s | detail |",
        "|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        lines.append(
            f"| {r['name']} | {r['segments']} | {r['wall_s']:.2f} | {r['throughput']:.0f} | {r['detail']} |"
        )
    lines.append("")
    for shape, ratio in report["ratios"].items():
        paired = report.get("paired_ratios", {}).get(shape)
        lines.append(
            f"- **{shape}** ({report['words_per_segment'][shape]} words a segment): "
            f"service / bare **{ratio:.2f}** (of the medians)"
            + (f", **{paired:.2f}** (the median of each round's own ratio)" if paired is not None else "")
        )
    if report.get("rounds"):
        lines += [
            "",
            "Each round runs bare `nlp.pipe` and then the service, back to back. Stolen: the share"
            " of all cores' time the host took from this machine meanwhile (/proc/stat).",
            "",
            "| shape | round | bare s | service s | service / bare | stolen, bare | stolen, service |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in report["rounds"]:
            lines.append(
                f"| {r['shape']} | {r['round']} | {r['bare_wall_s']:.2f} | {r['service_wall_s']:.2f} |"
                f" {r['ratio']:.2f} | {r['bare_stolen_share']:.2f} | {r['service_stolen_share']:.2f} |"
            )
    if any(report.get("service_cpu_s", {}).values()):
        names = {
            "annotate": "annotate service",
            "annotate children": "its NLP process",
            "broker": "broker",
            "benchmark": "this benchmark (producer, reader)",
        }
        lines += [
            "",
            "CPU seconds of a service round by process (median of the rounds; the machine has "
            f"{report['machine']['cores']} cores, bare `nlp.pipe` uses one):",
            "",
            "| process | " + " | ".join(report["service_cpu_s"]) + " |",
            "|---|" + "---:|" * len(report["service_cpu_s"]),
        ]
        for key, name in names.items():
            cells = [
                f"{report['service_cpu_s'][shape].get(key, 0.0):.2f}" for shape in report["service_cpu_s"]
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", f"Machine: {report['machine']}.", ""]
    (out / "annotate_benchmark.md").write_text("\n".join(lines))
