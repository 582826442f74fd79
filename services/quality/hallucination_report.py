"""The hallucination benchmark's results: JSON, a Markdown summary, a PNG, and rich output.

Kept apart from the runner so the runner stays a plain function of cases; the CLI and
``python -m services.quality.hallucination_bench`` both print through ``print_report``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from services.quality.hallucination_bench import (
    ANY_DETECTOR,
    TARGET_RECALL,
    TARGET_SPEECH_FLAGGED,
    CaseResult,
    Outcome,
    ProgressHook,
    Report,
    Score,
    run_hallucination_benchmark,
)
from services.quality.hallucination_cases import GROUPS, NON_SPEECH, SPEECH_LIKE

STEM = "hallucination_benchmark"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _short(text: str, limit: int = 70) -> str:
    text = " ".join(text.split()).replace("|", "/")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def target_line(report: Report, after_redecode: bool) -> str:
    s = report.overall(after_redecode)
    met = "met" if report.target_met(after_redecode) else "not met"
    return (
        f"recall ≥ {TARGET_RECALL} with ≤ {TARGET_SPEECH_FLAGGED:.0%} of genuine speech flagged: **{met}** "
        f"(recall {_share(s.recall)}, {s.true_positives} of {s.true_positives + s.false_negatives} "
        f"hallucinations; speech flagged {_share(s.speech_flagged_share)}, {s.speech_flagged} of "
        f"{s.speech_clean} speech segments without hallucination)"
    )


def _options(options: dict[str, Any]) -> str:
    """Decoding options that are set, as ``name=value``."""
    return ", ".join(f"{k}={v}" for k, v in options.items() if v is not None)


def _score_rows(scores: list[Score]) -> list[str]:
    rows = [
        "| detector | fired | TP | FP | FN | precision | recall | speech flagged |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in scores:
        name = f"**{s.name}**" if s.name == ANY_DETECTOR else s.name
        rows.append(
            f"| {name} | {s.true_positives + s.false_positives} | {s.true_positives} | {s.false_positives} | "
            f"{s.false_negatives} | {_share(s.precision)} | {_share(s.recall)} | "
            f"{_share(s.speech_flagged_share)} ({s.speech_flagged}/{s.speech_clean}) |"
        )
    return rows


def _kind_rows(results: list[CaseResult]) -> list[str]:
    rows = [
        "| group | kind | cases | with text | hallucinated | flagged | caught | false flags "
        "| after re-decode: hallucinated, flagged |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    kinds = sorted({(GROUPS.index(r.group), r.group, r.kind) for r in results})
    for _, group, kind in kinds:
        rs = [r for r in results if r.kind == kind and r.group == group]
        first = [r.first for r in rs]
        rows.append(
            f"| {group} | {kind} | {len(rs)} | {sum(bool(o.text) for o in first)} | "
            f"{sum(o.hallucinated for o in first)} | {sum(o.flagged for o in first)} | "
            f"{sum(o.hallucinated and o.flagged for o in first)} | "
            f"{sum(o.flagged and not o.hallucinated for o in first)} | "
            f"{sum(r.final.hallucinated for r in rs)}, {sum(r.final.flagged for r in rs)} |"
        )
    return rows


def _outcome_cells(o: Outcome) -> str:
    verdict = "**yes**" if o.hallucinated else "no"
    return f"{_short(o.text) or '(empty)'} | {verdict} | {', '.join(o.fired) or '-'} | {o.confidence:.2f}"


def _detail(r: CaseResult) -> str:
    o = r.first
    return (
        f"- {r.case_id} ({r.kind}): {_short(o.text)!r}; no-speech probability {o.no_speech_prob:.2f}, "
        f"avg log-probability {o.avg_logprob:.2f}, temperature {o.temperature:.1f}, confidence "
        f"{o.confidence:.2f}; fired: {', '.join(o.fired) or 'none'}; truth: {o.truth}"
    )


def _case_rows(results: list[CaseResult]) -> list[str]:
    rows = [
        "| case | kind | s | draft | not spoken | detectors fired | confidence | re-decode (safe): draft | "
        "not spoken | fired | confidence |",
        "|---|---|---:|---|---|---|---:|---|---|---|---:|",
    ]
    for r in results:
        again = _outcome_cells(r.redecoded) if r.redecoded else "- | - | - | -"
        rows.append(f"| {r.case_id} | {r.kind} | {r.duration_s:.1f} | {_outcome_cells(r.first)} | {again} |")
    return rows


def write_markdown(report: Report, path: Path) -> None:
    settings = report.settings
    redecode = report.redecode_summary()
    misses = [r for r in report.results if r.first.hallucinated and not r.first.flagged]
    false_flags = [r for r in report.results if r.first.flagged and not r.first.hallucinated]
    empty = [r.case_id for r in report.results if r.group == NON_SPEECH and not r.first.text]
    extra = report.overall(groups=GROUPS)
    lines = [
        "# Hallucination benchmark",
        "",
        "Does the quality gate flag drafts holding text that was not spoken? "
        f"`voxloop bench hallucination` ({report.wall_s / 60:.1f} min).",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in report.machine.items()),
        "",
        f"Model: {settings['model']}. Decoding: the service's defaults ({_options(settings['decoding'])}); "
        f"a flagged draft is decoded again with the safe profile ({_options(settings['redecode'])}). "
        f"Language: {settings['language']}. Draft: {settings['draft']}.",
        "",
        f"Cases: {settings['cases']}. Ground truth (from the audio and references only): "
        f"{settings['ground_truth']}. Speech flagged: the share of speech segments (genuine speech and "
        "speech with pauses) whose draft holds no unspoken text that a detector still flagged.",
        "",
        f"Sampling: {settings['sampling']}.",
        "",
        "## Target",
        "",
        f"- First drafts: {target_line(report, False)}",
        f"- After the re-decode path: {target_line(report, True)}",
        f"- With the {SPEECH_LIKE} cases too (the call played backwards: a voice, no words), first "
        f"drafts: recall {_share(extra.recall)} ({extra.true_positives} of "
        f"{extra.true_positives + extra.false_negatives}), precision {_share(extra.precision)}.",
        "",
        "The tables below are over the issue's set (genuine speech, speech with pauses, non-speech).",
        "",
        "## Per detector, first drafts",
        "",
        *_score_rows(report.scores()),
        "",
        "## After the re-decode path",
        "",
        "A flagged draft is decoded again with the safe profile; the gate keeps the new draft, still "
        "flagged if any detector fires on it.",
        "",
        *[f"- {k.replace('_', ' ')}: {v}" for k, v in redecode.items()],
        "",
        *_score_rows(report.scores(after_redecode=True)),
        "",
        "## Per kind of audio",
        "",
        *_kind_rows(report.results),
        "",
        "Missed hallucinations (first drafts, all groups), with Whisper's own scores:",
        "",
        *[_detail(r) for r in misses],
        *(["- none"] if not misses else []),
        "",
        "Flagged without hallucination (first drafts):",
        "",
        *[_detail(r) for r in false_flags],
        *(["- none"] if not false_flags else []),
        "",
        f"Non-speech with an empty draft (true negatives, none flagged): {len(empty)} — {', '.join(empty)}.",
        "",
        "## Cases",
        "",
        *_case_rows(report.results),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_plot(report: Report, path: Path) -> None:
    """Recall, precision and speech flagged per detector, first drafts and after re-decode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first, after = report.scores(), report.scores(after_redecode=True)
    names = [s.name.replace("_", "\n") for s in first]
    fig, axes = plt.subplots(2, 1, figsize=(12, 7), sharex=True)
    for ax, scores, title in ((axes[0], first, "first drafts"), (axes[1], after, "after the re-decode path")):
        for k, (label, values) in enumerate(
            (
                ("recall", [s.recall or 0.0 for s in scores]),
                ("precision", [s.precision or 0.0 for s in scores]),
                ("speech flagged", [s.speech_flagged_share or 0.0 for s in scores]),
            )
        ):
            ax.bar([i + (k - 1) * 0.27 for i in range(len(scores))], values, 0.27, label=label)
        ax.axhline(TARGET_RECALL, color="grey", linestyle="--", linewidth=0.8)
        ax.axhline(TARGET_SPEECH_FLAGGED, color="grey", linestyle=":", linewidth=0.8)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"Hallucination detectors, {title}")
        ax.legend(loc="upper right", fontsize=8)
    axes[1].set_xticks(range(len(names)), names, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(report: Report, out_dir: Path) -> tuple[Path, Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path, png_path = (out_dir / f"{STEM}.{ext}" for ext in ("json", "md", "png"))
    json_path.write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_markdown(report, md_path)
    write_plot(report, png_path)
    return json_path, md_path, png_path


@contextmanager
def progress_bar(console: Console | None = None) -> Iterator[ProgressHook]:
    """A rich progress bar per stage, fed by the benchmark's progress hook."""
    columns = (TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, TextColumn("{task.fields[detail]}"), console=console) as bar:
        tasks: dict[str, TaskID] = {}

        def hook(stage: str, done: int, total: int, detail: str) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total, detail="")
            bar.update(tasks[stage], completed=done, total=total, detail=detail)

        yield hook


def metrics_table(report: Report, after_redecode: bool = False) -> Table:
    stage = "after the re-decode path" if after_redecode else "first drafts"
    table = Table(title=f"Hallucination detectors on {len(report.results)} cases, {stage}")
    for column in ("detector", "fired", "TP", "FP", "FN", "precision", "recall", "speech flagged"):
        table.add_column(column, justify="left" if column == "detector" else "right")
    for s in report.scores(after_redecode):
        table.add_row(
            f"[bold]{s.name}" if s.name == ANY_DETECTOR else s.name,
            str(s.true_positives + s.false_positives),
            str(s.true_positives),
            str(s.false_positives),
            str(s.false_negatives),
            _share(s.precision),
            _share(s.recall),
            f"{_share(s.speech_flagged_share)} ({s.speech_flagged}/{s.speech_clean})",
        )
    return table


def print_report(report: Report, out_dir: Path, console: Console | None = None) -> None:
    console = console or Console()
    console.print(metrics_table(report))
    console.print(metrics_table(report, after_redecode=True))
    for after_redecode, label in ((False, "first drafts"), (True, "after re-decode")):
        console.print(f"{label}: " + target_line(report, after_redecode).replace("**", ""))
    extra = report.overall(groups=GROUPS)
    console.print(
        f"with the {SPEECH_LIKE} cases: recall {_share(extra.recall)} "
        f"({extra.true_positives} of {extra.true_positives + extra.false_negatives})"
    )
    console.print(f"written: {out_dir / STEM}.json, .md and .png ({report.wall_s / 60:.1f} min)")


def main(out_dir: Path = Path("results")) -> None:
    """``python -m services.quality.hallucination_bench``: the whole benchmark into ``results/``."""
    console = Console()
    with progress_bar(console) as hook:
        report = run_hallucination_benchmark(out_dir, progress=hook)
    print_report(report, out_dir, console)
