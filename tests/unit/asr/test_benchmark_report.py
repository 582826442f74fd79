"""The ASR benchmark's report: rounds paired by number, both ratios, the rounds table."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.asr.benchmark import (
    BARE,
    STREAMED,
    UPLOADED,
    BenchmarkReport,
    Measurement,
    Round,
    paired_ratios,
    write_report,
)


def _round(run: str, number: int, wall_s: float) -> Round:
    return Round(run, number, wall_s, stolen_s=1.5, stolen_share=0.03, cpu_s={"asr": 20.0, "benchmark": 1.0})


def test_rounds_pair_by_number_and_an_unpaired_one_is_skipped():
    rounds = [
        _round(BARE, 0, 10.0),
        _round(STREAMED, 0, 12.5),
        _round(BARE, 1, 20.0),
        _round(STREAMED, 2, 9.0),
    ]
    assert paired_ratios(rounds, BARE, STREAMED) == [pytest.approx(0.8)]


def test_the_report_gives_both_ratios_and_every_round(tmp_path: Path):
    # A slow minute hits round 1 on both sides: the paired ratio is unmoved, the medians' is not.
    rounds = [
        _round(BARE, 0, 10.0),
        _round(STREAMED, 0, 11.0),
        _round(UPLOADED, 0, 10.5),
        _round(BARE, 1, 20.0),
        _round(STREAMED, 1, 22.0),
        _round(UPLOADED, 1, 21.0),
        _round(BARE, 2, 10.0),
        _round(STREAMED, 2, 11.0),
        _round(UPLOADED, 2, 10.5),
    ]
    report = BenchmarkReport(machine={"cores": "2"}, settings={}, rounds=rounds)
    for name in (BARE, STREAMED, UPLOADED):
        walls = sorted(r.wall_s for r in rounds if r.run == name)
        report.measurements.append(Measurement(name, 120.0, walls[1]))
    ratios = report.ratios()
    assert ratios["services_asr_streamed_vs_bare"] == pytest.approx(10 / 11)
    assert ratios["services_asr_streamed_vs_bare_paired"] == pytest.approx(10 / 11)
    assert ratios["services_asr_uploaded_vs_bare_paired"] == pytest.approx(10 / 10.5)
    assert "batched_vs_sequential" not in ratios  # not measured here

    json_path, md_path = write_report(report, tmp_path, "cpu")
    text = md_path.read_text()
    assert "| services_asr_streamed_vs_bare_paired | 0.909 |" in text
    assert "| 2 | services, ASR only, streamed in 0.5 s chunks | 22.00 | 1.5 | 0.03 | 20.00 | 1.00 |" in text
    assert '"rounds"' in json_path.read_text()
