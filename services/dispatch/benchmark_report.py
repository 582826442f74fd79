"""The dispatch benchmark's results: JSON, a Markdown table, a PNG, and rich output for the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from services.dispatch.benchmark import DispatchBenchReport

BIN_S = 5.0


def stem(report: DispatchBenchReport) -> str:
    return f"dispatch_benchmark_{report.database}"


def rows(report: DispatchBenchReport) -> list[tuple[str, str]]:
    """(measure, value) pairs: the table of the Markdown file and of the CLI."""
    s = report.stats
    latency = report.latency_ms()
    out = [
        ("linguists", str(report.linguists)),
        (
            "tasks (segments routed to people)",
            f"{report.tasks} ({report.expected_corrected} correction tasks)",
        ),
        ("wall time", f"{report.wall_s:.1f} s"),
        ("claims", f"{s.claims} ({report.claims_per_s:.1f} /s)"),
        (
            "submissions (corrections + approvals + rejections)",
            f"{report.submissions} = {s.submits} + {s.reviews} + {s.rejections}"
            f" ({report.submissions_per_s:.1f} /s)",
        ),
    ]
    for name, label in (("claim", "claim"), ("submit", "submit"), ("empty_poll", "claim that found nothing")):
        if name in latency:
            d = latency[name]
            out.append((f"{label} latency p50 / p99", f"{d['p50']:.1f} / {d['p99']:.1f} ms (n={d['n']:.0f})"))
    inv = report.invariants
    out += [
        ("conflicts (races lost, expected)", str(s.conflicts)),
        ("errors", str(len(s.errors))),
        ("empty polls", str(s.empty_polls)),
        (
            "corrected transcripts read back",
            f"{report.corrected_read} of {report.expected_corrected}"
            f" ({report.corrected_redelivered} redelivered copies)",
        ),
        (
            "never two holders",
            f"{'yes' if not inv.overlaps and not inv.foreign_actions else 'NO'}"
            f" ({inv.holds} hold intervals from the audit trail, {len(inv.overlaps)} overlaps)",
        ),
        (
            "no lost submission",
            f"{'yes' if not inv.unmatched_submissions and inv.correction_versions == s.submits else 'NO'}"
            f" ({inv.correction_versions} correction versions, {s.submits} submits counted)",
        ),
        (
            "all tasks finished",
            f"{'yes' if not inv.unfinished else 'NO'} ({inv.tasks} tasks DONE of all kinds)",
        ),
    ]
    return out


def write_report(report: DispatchBenchReport, out_dir: Path) -> tuple[Path, Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{stem(report)}.json"
    json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    lines = [
        f"# Dispatch concurrency benchmark ({report.database})",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in report.machine.items()),
        "",
        "Settings: " + ", ".join(f"{k} {v}" for k, v in report.settings.items()),
        "",
        "| measure | value |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in rows(report)],
        "",
        "Latency is one RPC as the client waits for it (gRPC round trip, one database transaction with"
        " its audit row and outbox entries); throughput is per wall second from the first verdict"
        " published to the last task DONE.",
    ]
    if report.failure or report.invariants.problems:
        lines += ["", "**Failed:** " + "; ".join([report.failure, *report.invariants.problems]).strip("; ")]
    md_path = out_dir / f"{stem(report)}.md"
    md_path.write_text("\n".join(lines) + "\n")
    png_path = out_dir / f"{stem(report)}.png"
    plot(report, png_path)
    return json_path, md_path, png_path


def plot(report: DispatchBenchReport, path: Path) -> None:
    """Claims and submissions per second over the run; claim and submit latency histograms."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    end = max([report.wall_s, *(t for ts in report.timeline.values() for t in ts)], default=1.0)
    edges = np.arange(0.0, end + BIN_S, BIN_S)
    for name, times in report.timeline.items():
        counts, _ = np.histogram(times, bins=edges)
        left.stairs(counts / BIN_S, edges, label=name)
    left.set_xlabel("seconds since the first verdict was published")
    left.set_ylabel(f"per second ({BIN_S:.0f} s bins)")
    left.set_ylim(bottom=0)
    left.set_title(f"{report.linguists} linguists, {report.tasks} tasks ({report.database})")
    left.legend()
    samples = {"claim": report.stats.claim_s, "submit": report.stats.submit_s}
    every = [x * 1000.0 for xs in samples.values() for x in xs if x > 0]
    if every:
        bins = np.logspace(np.log10(min(every)), np.log10(max(every)), 50)
        for name, xs in samples.items():
            right.hist([x * 1000.0 for x in xs], bins=bins, alpha=0.6, label=name)
        right.set_xscale("log")
    right.set_xlabel("latency (ms, log scale)")
    right.set_ylabel("RPCs")
    right.set_title("latency per RPC, as the client waits")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_report(report: DispatchBenchReport, console: Console, out_dir: Path) -> None:
    table = Table(title=f"Dispatch under {report.linguists} simulated linguists ({report.database})")
    table.add_column("measure")
    table.add_column("value")
    for name, value in rows(report):
        table.add_row(name, value)
    console.print(table)
    for problem in [report.failure, *report.invariants.problems, *report.stats.errors[:5]]:
        if problem:
            console.print(f"[red]{problem}")
    console.print(f"written: {out_dir / stem(report)}.json, .md and .png")
