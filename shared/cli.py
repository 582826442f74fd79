"""voxloop: run the embedded stack, provision models, manage topics and tokens."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from services.annotate.cli import annotate_app
from services.dispatch.cli import dispatch_app, work_app
from services.feedback.cli import feedback_app
from shared.grpc.auth import hash_token, new_token
from shared.models.cli import app as models_app
from shared.stack import stack
from shared.stack.processes import StackState

app = typer.Typer(help="voxloop: multilingual transcription and annotation platform.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics of the flow.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
app.add_typer(token_app, name="token")
app.add_typer(models_app, name="models", help="Offline models: fetch, list, verify.")
eval_app = typer.Typer(help="Quality evaluations with committed results.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks with committed results.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
app.add_typer(bench_app, name="bench")
app.add_typer(work_app, name="work", help="Linguists: claim, listen, correct and review tasks.")
app.add_typer(dispatch_app, name="dispatch", help="Admins: people, tokens, queue stats, audit trail.")
app.add_typer(annotate_app, name="annotate", help="Annotation: train the classifiers, label a text.")
app.add_typer(
    feedback_app, name="feedback", help="Datasets and the feedback loop: snapshots, exports, vocabulary."
)

console = Console()
Home = Annotated[
    Path, typer.Option(envvar="VOXLOOP_HOME", help="Where the stack keeps its state, logs and data.")
]
DEFAULT_HOME = Path(".voxloop")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    )


def _status_table(home: Path) -> Table:
    table = Table(title=f"voxloop stack ({home.resolve()})")
    for col in ("process", "pid", "alive", "health", "grpc", "metrics", "log"):
        table.add_column(col)
    for row in stack.status(home):
        health = "-" if row.healthy is None else ("[green]SERVING" if row.healthy else "[red]NOT SERVING")
        alive = "[green]yes" if row.alive else "[red]no"
        port = f"kafka {row.grpc_port}" if row.healthy is None else str(row.grpc_port)
        if row.http_port:
            port += f", page http://127.0.0.1:{row.http_port}/"
        metrics = f"http://127.0.0.1:{row.metrics_port}/metrics" if row.metrics_port else "-"
        table.add_row(row.name, str(row.pid), alive, health, port, metrics, row.log)
    return table


def _up(home: Path, broker_port: int, free_ports: bool = False, http_port: int = 8080) -> StackState:
    with _progress() as progress:
        task = progress.add_task("starting", total=9)

        def hook(step: str, done: int, total: int) -> None:
            progress.update(task, description=step, completed=done, total=total)

        try:
            defaults = stack.StackPorts.defaults(broker_port, http_port)
            ports = stack.StackPorts.free() if free_ports else defaults
            state = stack.up(home, ports, hook=hook)
        except stack.StackError as exc:
            console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from None
    console.print(_status_table(home))
    return state


@app.command()
def up(
    home: Home = DEFAULT_HOME,
    broker_port: Annotated[int, typer.Option(help="Kafka listener port.")] = 9092,
    free_ports: Annotated[bool, typer.Option(help="Pick free ports instead of the defaults.")] = False,
    http_port: Annotated[int, typer.Option(help="The linguists' browser client (gateway) port.")] = 8080,
) -> None:
    """Start the broker, create topics, start every service, wait until all are healthy."""
    state = _up(home, broker_port, free_ports, http_port)
    console.print("stack is up; `voxloop status` shows it, `voxloop down` stops it.")
    _print_page(state)


def _print_page(state: StackState) -> None:
    if state.page_url:
        console.print(
            f"linguists' browser client: {state.page_url} (log in with a token from "
            "`voxloop dispatch token issue`)"
        )


@app.command()
def status(home: Home = DEFAULT_HOME) -> None:
    """Show every process of the stack and its gRPC health (exit 1 if anything is down)."""
    rows = stack.status(home)
    if not rows:
        console.print(f"no stack running from {home.resolve()}")
        raise typer.Exit(1)
    console.print(_status_table(home))
    if not all(r.alive and r.healthy is not False for r in rows):
        raise typer.Exit(1)


@app.command()
def down(home: Home = DEFAULT_HOME) -> None:
    """Stop services (they finish their in-flight message) and the broker."""
    with _progress() as progress:
        task = progress.add_task("stopping", total=8)
        stopped = stack.down(
            home,
            hook=lambda step, done, total: progress.update(
                task, description=step, completed=done, total=total
            ),
        )
    console.print(f"stopped {len(stopped)} processes" if stopped else "no stack was running")


@app.command()
def demo(
    home: Home = DEFAULT_HOME,
    broker_port: Annotated[int, typer.Option(help="Kafka listener port.")] = 9092,
    keep_running: Annotated[bool, typer.Option(help="Leave the stack up afterwards.")] = False,
) -> None:
    """Start the stack (if needed), stream three real calls (English, French, Spanish) through all
    six services with simulated linguists, then snapshot and export the dataset they made."""
    from shared.stack.demo import linguist_crew, reference_answers, run_demo, trace_hops
    from shared.stack.demo_report import (
        DemoProgress,
        dataset_table,
        drafts_table,
        make_dataset,
        summarise,
        summary_table,
        validated_table,
    )
    from shared.stack.recordings import demo_recordings

    state = StackState.load(home.resolve())
    started_here = state is None
    if started_here:
        state = _up(home, broker_port)
    assert state is not None
    try:
        ports = {p.name: p.grpc_port for p in state.services}
        token = stack.admin_token(home.resolve())
        with console.status("synthesising the French and Spanish calls (espeak-ng)..."):
            recordings = demo_recordings()
        crew = linguist_crew(f"127.0.0.1:{ports['dispatch']}", token, reference_answers(recordings))
        console.print(
            "streaming "
            + ", ".join(f"{r.name} ({r.language}, {r.duration_s:.0f} s)" for r in recordings)
            + " in 0.5 s chunks; simulated linguists correct what the quality gate sends to people"
        )
        with crew as work, DemoProgress(recordings) as progress:
            run = run_demo(state.bootstrap, recordings, on_update=progress.update)
        console.print(drafts_table(run))
        console.print(validated_table(run))
        console.print(
            f"simulated linguists (client library, reference text): {work.claims} tasks claimed, "
            f"{work.submits} corrections, {work.reviews} approvals, {work.labels} label reviews"
        )
        with console.status("freezing a dataset snapshot and exporting it in every format..."):
            snapshot, exports = make_dataset(f"127.0.0.1:{ports['feedback']}", token)
        console.print(dataset_table(snapshot, exports))
        table = Table(
            title=f"segment {run.first_segment_id}: state of each hop, from each service's gRPC API"
        )
        for col in ("service", "rpc", "recorded", "detail"):
            table.add_column(col)
        hops = trace_hops(ports, token, run.stream_id, run.first_segment_id)
        for hop in hops:
            table.add_row(hop.service, hop.rpc, "[green]yes" if hop.found else "[red]no", hop.detail)
        console.print(table)
        console.print(summary_table(summarise(run)))
        drafts = run.drafts(run.stream_id)
        speakers = {w.speaker for d in drafts for w in d.segment.words if w.speaker}
        console.print(f"{run.recordings[0].name}: {len(drafts)} drafts, speakers: {sorted(speakers)}")
        complete = all(run.validated(r.stream_id) for r in recordings)
        if not complete or not all(h.found for h in hops) or not exports.exports:
            console.print(
                f"[red]the recordings did not make it through; see the logs in {home.resolve() / 'logs'}"
            )
            raise typer.Exit(1)
        console.print("[green]the recordings travelled through all six services.")
        if keep_running or not started_here:
            _print_page(state)
    finally:
        if started_here and not keep_running:
            stack.down(home)


@topics_app.command("create")
def topics_create(
    bootstrap: Annotated[str, typer.Option(envvar="VOXLOOP_KAFKA_BOOTSTRAP")] = "127.0.0.1:9092",
    partitions: Annotated[int, typer.Option(min=1)] = 4,
    replication: Annotated[int, typer.Option(min=1)] = 1,
) -> None:
    """Create every topic of the flow and its dead-letter topic (idempotent)."""
    from shared.kafka.admin import ensure_topics
    from shared.topics import all_topic_names

    created = ensure_topics(bootstrap, all_topic_names(), partitions, replication)
    console.print(f"created {len(created)} topics" + (": " + ", ".join(created) if created else ""))


@topics_app.command("list")
def topics_list() -> None:
    """The topics of the flow and their message types."""
    from shared.topics import ALL_TOPICS

    table = Table("topic", "message", "dead-letter topic")
    for t in ALL_TOPICS:
        table.add_row(t.name, t.message_type.DESCRIPTOR.full_name, t.dead_letter)
    console.print(table)


@token_app.command("new")
def token_new(
    subject: Annotated[str, typer.Option(help="Who the token is for.")],
    role: Annotated[list[str], typer.Option(help="Role; repeat for several.")],
    language: Annotated[list[str] | None, typer.Option(help="Language scope; repeat.")] = None,
) -> None:
    """Make a token: prints it once, and the entry to add to VOXLOOP_AUTH_TOKENS."""
    token = new_token()
    entry = {"sha256": hash_token(token), "subject": subject, "roles": role, "languages": language or []}
    console.print(f"token (shown once): {token}")
    console.print(f"VOXLOOP_AUTH_TOKENS entry: {json.dumps(entry)}")


Results = Annotated[Path, typer.Option(help="Where the result files are written (committed).")]


@eval_app.command("asr")
def eval_asr(out: Results = Path("results"), work: Path = Path(".voxloop/eval")) -> None:
    """WER, DER and speaker-attributed WER on pyannote's sample, streamed and whole-file."""
    from services.asr.eval_sample import run_eval

    with console.status("scoring pyannote's sample through the services and as a whole file..."):
        results = run_eval(out, work.resolve())
    table = Table(title="ASR on pyannote.audio's sample (30 s telephone call, 2 speakers)")
    for col in ("path", "WER", "cpWER", "DER ±0.25 s", "DER no collar", "speakers"):
        table.add_column(col)
    for r in results:
        table.add_row(
            r.path,
            f"{r.wer:.1%}",
            f"{r.cpwer:.1%}",
            f"{r.der_collar_025:.1%}",
            f"{r.der_no_collar:.1%}",
            f"{r.speakers_found} of {r.speakers_reference}",
        )
    console.print(table)
    console.print(f"written: {out / 'asr_eval.json'}, {out / 'asr_eval.md'}")


@eval_app.command("calibration")
def eval_calibration(
    out: Results = Path("results"),
    models_dir: Annotated[
        Path | None, typer.Option(help="Provisioned models; default: the models home.")
    ] = None,
) -> None:
    """The quality gate's confidence against real drafts' WER: ECE, reliability and the
    auto-accept threshold per language (a table, JSON, Markdown and a PNG)."""
    from services.quality.calibration_eval import TARGETS, run_calibration_eval
    from services.quality.calibration_views import calibration_table

    with _progress() as progress:
        task = progress.add_task("drafting", total=None)
        evaluation = run_calibration_eval(
            out,
            models_dir,
            progress=lambda step, done, total: progress.update(
                task, description=step, completed=done, total=total
            ),
        )
    for target in TARGETS:
        table = calibration_table(evaluation.results[target], target)
        table.caption = f"target residual WER {target:.2f}"
        console.print(table)
    console.print(f"written: {out / 'quality_calibration.json'}, .md and .png ({evaluation.runtime_s:.0f} s)")


@bench_app.command("asr")
def bench_asr(
    out: Results = Path("results"),
    work: Path = Path(".voxloop/bench"),
    repeats: Annotated[int, typer.Option(min=1, help="Times the 30 s sample is repeated.")] = 4,
    device: Annotated[str, typer.Option(help="Whisper device: cpu or cuda.")] = "cpu",
    diarization_device: Annotated[str, typer.Option(help="pyannote device: cpu or cuda.")] = "cpu",
    compute_type: str = "int8",
    rounds: Annotated[int, typer.Option(min=1, help="Interleaved bare / services rounds.")] = 5,
) -> None:
    """Ingest + ASR services against bare faster-whisper on the same audio; diarization cost;
    latency from the end of a streamed utterance to its draft."""
    from services.asr.benchmark import run_benchmark

    with console.status("benchmarking...") as status:
        report = run_benchmark(
            out,
            work.resolve(),
            repeats=repeats,
            device=device,
            diarization_device=diarization_device,
            compute_type=compute_type,
            rounds=rounds,
            progress=lambda step: status.update(f"benchmarking: {step}"),
        )
    table = Table(title=f"ASR throughput on {report.machine['cores']} cores ({device})")
    for col in ("run", "audio s", "wall s", "audio s / wall s", "RTF", "detail"):
        table.add_column(col)
    for m in report.measurements:
        table.add_row(
            m.name, f"{m.audio_s:.0f}", f"{m.wall_s:.2f}", f"{m.throughput:.2f}", f"{m.rtf:.3f}", m.detail
        )
    console.print(table)
    for name, value in report.ratios().items():
        console.print(f"{name}: {value:.3f}")
    latency = report.latency()
    if latency:
        console.print(
            f"end of utterance -> draft: median {latency['p50_s']:.2f} s, p95 {latency['p95_s']:.2f} s"
        )
    console.print(f"written: {out}/asr_benchmark_{device}.json and .md")


quality_app = typer.Typer(help="The quality gate's reports, from the running stack.", no_args_is_help=True)
app.add_typer(quality_app, name="quality")


def _quality(home: Path) -> tuple[Any, tuple[tuple[str, str]]]:
    """A QualityService stub for the stack at ``home`` and the admin token's metadata."""
    import grpc

    from protos import quality_pb2_grpc

    state = StackState.load(home)
    quality = next((p for p in state.services if p.name == "quality"), None) if state else None
    if quality is None:
        console.print(f"[red]no quality service running under {home}; start the stack with `voxloop up`")
        raise typer.Exit(1)
    channel = grpc.insecure_channel(f"127.0.0.1:{quality.grpc_port}")
    return quality_pb2_grpc.QualityServiceStub(channel), (  # type: ignore[no-untyped-call]
        ("authorization", f"Bearer {stack.admin_token(home)}"),
    )


def _call(method: Any, request: Any, meta: Any) -> Any:
    import grpc

    try:
        return method(request, metadata=meta, timeout=60)
    except grpc.RpcError as exc:
        console.print(f"[red]{exc.code().name}: {exc.details()}")
        raise typer.Exit(1) from exc


@quality_app.command("calibration")
def quality_calibration(
    home: Home = DEFAULT_HOME,
    language: Annotated[str, typer.Option(help="One language (BCP-47); empty: all.")] = "",
    target: Annotated[float, typer.Option(help="Residual WER allowed in auto-accepted text.")] = 0.05,
    png: Annotated[Path, typer.Option(help="Where to write the reliability plot.")] = Path(
        "quality_calibration.png"
    ),
) -> None:
    """How the gate's confidence maps to real error, from the corrections so far: reliability
    table, expected calibration error, and the auto-accept threshold per language."""
    from protos import quality_pb2
    from services.quality.calibration_views import plot_calibration, print_calibration

    client, meta = _quality(home)
    report = _call(
        client.GetCalibrationReport,
        quality_pb2.CalibrationReportRequest(language=language, target_residual_wer=target),
        meta,
    )
    print_calibration(report, console, target)
    console.print(f"written: {plot_calibration(report, png, target)}")


@quality_app.command("wer")
def quality_wer(
    home: Home = DEFAULT_HOME,
    by: Annotated[
        str, typer.Option(help="language, speaker, model_version, linguist or segment")
    ] = "language",
    top: Annotated[int, typer.Option(help="Most frequent word changes to list.")] = 10,
) -> None:
    """WER and CER of the drafts against people's corrections, grouped, with frequent changes."""
    from protos import quality_pb2

    client, meta = _quality(home)
    report = _call(client.GetWerReport, quality_pb2.WerReportRequest(group_by=by, top_confusions=top), meta)
    table = Table(title=f"Draft WER against corrections, by {by}")
    for col in ("group", "segments", "WER", "CER", "subs", "ins", "dels"):
        table.add_column(col)
    for r in report.rows:
        table.add_row(
            r.group,
            str(r.segments),
            f"{r.wer:.1%}",
            f"{r.cer:.1%}",
            str(r.substitutions),
            str(r.insertions),
            str(r.deletions),
        )
    console.print(table)
    changes = Table(title="Most frequent changes (draft -> correction)")
    for col in ("kind", "draft", "correction", "count"):
        changes.add_column(col)
    for c in report.top_changes:
        changes.add_row(c.kind, c.draft_word, c.corrected_word, str(c.count))
    console.print(changes)
    console.print(f"normalisation: {report.normalisation}")


@quality_app.command("linguists")
def quality_linguists(home: Home = DEFAULT_HOME, language: str = "") -> None:
    """Per linguist and language: how much they change drafts, gold accuracy, agreement."""
    from protos import quality_pb2

    client, meta = _quality(home)
    report = _call(client.GetLinguistReport, quality_pb2.LinguistReportRequest(language=language), meta)
    table = Table(title=f"Linguists (gold accuracy threshold {report.gold_accuracy_threshold:.2f})")
    for col in (
        "linguist",
        "language",
        "corrected",
        "draft WER",
        "gold",
        "gold accuracy",
        "agreement pairs",
        "agreement WER",
        "flagged",
    ):
        table.add_column(col)
    for r in report.rows:
        table.add_row(
            r.linguist,
            r.language,
            str(r.corrected_segments),
            f"{r.draft_wer:.1%}",
            str(r.gold_segments),
            f"{r.gold_accuracy:.1%}" if r.gold_segments else "-",
            str(r.agreement_pairs),
            f"{r.agreement_wer:.1%}" if r.agreement_pairs else "-",
            "[red]yes" if r.flagged else "no",
        )
    console.print(table)


@quality_app.command("gold-add")
def quality_gold_add(segment_id: str, reference: str, home: Home = DEFAULT_HOME, source: str = "cli") -> None:
    """Keep a trusted reference for a segment; gold copies of it will audit linguists."""
    from protos import quality_pb2

    client, meta = _quality(home)
    gold = _call(
        client.AddGoldSegment,
        quality_pb2.AddGoldSegmentRequest(segment_id=segment_id, reference=reference, source=source),
        meta,
    )
    console.print(
        f"gold {gold.gold_id}: segment {gold.segment_id} ({gold.language}, {gold.reference_words} words)"
    )


@bench_app.command("hallucination")
def bench_hallucination(out: Results = Path("results")) -> None:
    """Do the quality gate's detectors catch text nobody said? Real speech, speech with pauses and
    generated non-speech through whisper-base, the detectors and the re-decode path."""
    from services.quality.hallucination_bench import run_hallucination_benchmark
    from services.quality.hallucination_report import print_report, progress_bar

    with progress_bar(console) as hook:
        report = run_hallucination_benchmark(out, progress=hook)
    print_report(report, out, console)


@eval_app.command("annotate")
def eval_annotate(
    out: Results = Path("results"),
    models_dir: Annotated[Path | None, typer.Option(help="Models home; default: the settings'.")] = None,
) -> None:
    """Entity F1 per language and type, sentiment and intent accuracy and macro-F1 on held-out
    data, for every corpus language; also rewrites the model's measured entity precision."""
    from services.annotate.evaluation import run_eval

    with console.status("training (if needed) and scoring the annotation models..."):
        results = run_eval(out, models_dir)
    table = Table(title="Annotation quality (services/annotate/corpus)")
    for col in ("language", "pipeline", "entity F1", "sentiment acc / macro-F1", "intent acc / macro-F1"):
        table.add_column(col)
    for r in results:
        cls = {t: f"{s['accuracy']:.1%} / {s['macro_f1']:.1%}" for t, s in r.classification.items()}
        table.add_row(
            r.language,
            r.pipeline,
            f"{r.entities['ALL']['f1']:.2f}" if r.entities else "",
            cls.get("sentiment", ""),
            cls.get("intent", ""),
        )
    console.print(table)
    console.print(f"written: {out / 'annotate_eval.json'}, {out / 'annotate_eval.md'}")


@eval_app.command("vocabulary")
def eval_vocabulary(
    out: Results = Path("results"),
    models_dir: Annotated[Path | None, typer.Option(help="Models home; default: the settings'.")] = None,
) -> None:
    """Terms mined from corrected drafts of the vocabulary corpus, approved, then decoded as
    hotwords: WER and term errors on held-out lines before and after."""
    from services.feedback.vocabulary_eval import VARIANTS, run_vocabulary_eval

    with console.status("speaking, drafting, mining and re-transcribing the vocabulary corpus...") as status:
        results = run_vocabulary_eval(out, models_dir, progress=status.update)
    table = Table(title=f"Vocabulary loop, held-out {results['domain']} lines ({results['model']})")
    for col in ("decoding", "WER", "term recall", "term-word error"):
        table.add_column(col)
    for variant in VARIANTS:
        s = results["heldout"][variant]
        table.add_row(variant, f"{s['wer']:.1%}", f"{s['term_recall']:.1%}", f"{s['term_word_error']:.1%}")
    console.print(table)
    console.print(f"mined and approved: {', '.join(results['mining']['candidates'])}")
    console.print(f"written: {out / 'vocabulary_eval.json'}, .md and .png ({results['runtime_s']:.0f} s)")


@bench_app.command("annotate")
def bench_annotate(
    out: Results = Path("results"),
    work: Path = Path(".voxloop/bench-annotate"),
    segments: Annotated[int, typer.Option(min=100, help="Segments through each side.")] = 4000,
) -> None:
    """The annotate service (real broker, database, outbox) against bare nlp.pipe on the same
    texts, in one run: segments per second and their ratio."""
    from services.annotate.benchmark import run_benchmark

    with console.status("benchmarking...") as status:
        report = run_benchmark(
            out, work.resolve(), segments, progress=lambda step: status.update(f"benchmarking: {step}")
        )
    table = Table(title=f"Annotation throughput on {report['machine']['cores']} cores")
    for col in ("run", "segments", "wall s", "segments / s", "detail"):
        table.add_column(col)
    for r in report["runs"]:
        table.add_row(
            r["name"], str(r["segments"]), f"{r['wall_s']:.2f}", f"{r['throughput']:.0f}", r["detail"]
        )
    console.print(table)
    for shape, ratio in report["ratios"].items():
        console.print(f"{shape} ({report['words_per_segment'][shape]} words): service / bare {ratio:.3f}")
    console.print(f"written: {out}/annotate_benchmark.json and .md")


@bench_app.command("client")
def bench_client(
    out: Results = Path("results"),
    work: Path = Path(".voxloop/bench-client"),
    screenshots: Annotated[Path, typer.Option(help="Where the main states' screenshots go.")] = Path(
        "docs/screenshots"
    ),
    rounds: Annotated[int, typer.Option(min=1, help="Page loads, and tasks each side.")] = 5,
    long_tasks: Annotated[int, typer.Option(min=1, help="Other tasks waiting in the queue.")] = 360,
) -> None:
    """The linguists' browser client on the real stack in headless Chromium: page load, the
    queue of a 30-minute recording, a scripted correction of pyannote's sample until it is
    published, and the same corrections through the Python gRPC client beside it."""
    from services.gateway.benchmark import run_benchmark

    screenshots.mkdir(parents=True, exist_ok=True)
    with console.status("benchmarking...") as status:
        report = run_benchmark(
            out,
            work.resolve(),
            screenshots,
            rounds,
            long_tasks,
            progress=lambda step: status.update(f"benchmarking: {step}"),
        )
    sample, side = report["sample_correction"], report["side_by_side"]
    table = Table(title=f"Browser client on {report['machine']['cores']} cores")
    for col in ("what", "ms"):
        table.add_column(col)
    table.add_row("page load (median)", f"{report['page_load_ms']['median']:.0f}")
    table.add_row(f"queue of {report['long_tasks'] + 2} tasks drawn", f"{report['queue_render_ms']:.0f}")
    steps = ("claim_ms", "play_ms", "type_ms", "submit_ms", "review_claim_ms", "approve_ms", "total_ms")
    for step in (*steps, "key_to_published_ms"):
        table.add_row(f"sample: {step.removesuffix('_ms').replace('_', ' ')}", f"{sample[step]:.0f}")
    for path, steps in side.items():
        for step, summary in steps.items():
            table.add_row(f"{path}: {step.removesuffix('_ms')} (median)", f"{summary['median']:.0f}")
    console.print(table)
    console.print(f"written: {out}/client_benchmark.json and .md, screenshots in {screenshots}/")


@bench_app.command("dispatch")
def bench_dispatch(
    out: Results = Path("results"),
    work: Path = Path(".voxloop/bench"),
    linguists: Annotated[int, typer.Option(min=5, help="Simulated linguists working at once.")] = 50,
    tasks: Annotated[int, typer.Option(min=1, help="Segments routed to people.")] = 1500,
    database: Annotated[str, typer.Option(help="sqlite, or postgresql (at VOXLOOP_TEST_PG).")] = "sqlite",
) -> None:
    """Simulated linguists on the same queues of the real dispatch service until every task is
    done: claims and submissions per second, claim and submit latency, and the invariants (never
    two holders, no lost submission, all tasks finished) checked from the database."""
    from services.dispatch.benchmark import run_benchmark
    from services.dispatch.benchmark_report import print_report

    with _progress() as progress:
        task = progress.add_task("starting", total=None)
        report = run_benchmark(
            out,
            work.resolve(),
            linguists=linguists,
            tasks=tasks,
            database=database,
            progress=lambda step, done, total: progress.update(
                task, description=step, completed=done, total=total
            ),
        )
    print_report(report, console, out)
    if not report.ok:
        raise typer.Exit(1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
