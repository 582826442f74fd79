"""`voxloop eval calibration` on a tiny correction set, through the real whisper-base.

Two turns of pyannote's sample (corrections: its STM reference) and one espeak-ng sentence pair per
language (corrections: the spoken text), one rendering each: six real drafts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.quality.calibration import ALL_LANGUAGES, NO_AUTO_ACCEPT
from services.quality.calibration_eval import TARGETS, SetSize, run_calibration_eval

pytestmark = pytest.mark.integration


def test_a_tiny_correction_set_gives_a_report_per_language(tmp_path: Path) -> None:
    steps: list[tuple[str, int, int]] = []

    evaluation = run_calibration_eval(
        tmp_path,
        progress=lambda step, done, total: steps.append((step, done, total)),
        size=SetSize(sample_spans=2, pairs_per_language=1, renderings=1),
    )

    kinds = [(d.kind, d.language) for d in evaluation.drafted]
    assert sorted(kinds) == sorted(
        [("reference", "en")] * 2 + [("synthesised", language) for language in ("de", "en", "es", "fr")]
    )
    assert steps[-1] == ("drafting", 6, 6)
    report_languages = [row.language for row in evaluation.report.languages]
    assert report_languages == [ALL_LANGUAGES, "de", "en", "es", "fr"]
    for results in evaluation.results.values():
        for result in results:
            assert 0.0 <= result.raw.ece <= 1.0 and 0.0 <= result.calibrated.ece <= 1.0
            choice = result.auto_accept
            assert choice.target_met == (choice.threshold != NO_AUTO_ACCEPT)
            assert not choice.target_met or 0.0 <= choice.threshold <= 1.0
            assert choice.residual_wer <= choice.target_residual_wer + 1e-12
            assert 0.0 <= choice.review_share <= 1.0
    assert all(0.0 <= d.confidence <= 1.0 and d.draft for d in evaluation.drafted)

    written = json.loads((tmp_path / "quality_calibration.json").read_text())
    assert [row["language"] for row in written["languages"]] == ["all", "de", "en", "es", "fr"]
    assert set(written["languages"][0]["auto_accept"]) == {f"{t:.2f}" for t in TARGETS}
    assert set(written["correction_set"]) == {"reference", "synthesised"}
    assert len(written["segments"]) == 6
    assert (tmp_path / "quality_calibration.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| all |" in (tmp_path / "quality_calibration.md").read_text()
