"""The CLI from a user's seat: `up` in one terminal, `status` and `down` from another."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def voxloop(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VOXLOOP_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args], env=env, text=True, capture_output=True, timeout=180
    )


def test_up_status_down_from_separate_processes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    started = voxloop("up", "--free-ports", home=home)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        seen = voxloop("status", home=home)
        assert seen.returncode == 0, seen.stdout
        names = ("ingest-0", "asr-0", "quality-0", "dispatch-0", "annotate-0", "feedback-0", "gateway-0")
        for name in ("broker", *names):
            assert name in seen.stdout
        assert seen.stdout.count("SERVING") == 7
        assert "linguists' browser client: http://127.0.0.1:" in started.stdout
        again = voxloop("up", "--free-ports", home=home)
        assert again.returncode == 1 and "already running" in again.stdout
    finally:
        stopped = voxloop("down", home=home)
    assert stopped.returncode == 0 and "stopped 8 processes" in stopped.stdout
    gone = voxloop("status", home=home)
    assert gone.returncode == 1 and "no stack running" in gone.stdout


def test_demo_runs_the_main_job(tmp_path: Path) -> None:
    # The README's main command on a private port; the demo stops the stack it started.
    from shared.stack.processes import free_port

    result = voxloop("demo", "--broker-port", str(free_port()), home=tmp_path / "demo")
    # Service ports are the defaults here, so this test needs 50051-50057 and 8080 free.
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the recordings travelled through all six services" in result.stdout
    assert "speakers: ['SPEAKER_00', 'SPEAKER_01']" in result.stdout  # the sample's two speakers
    assert "Jersey" in result.stdout  # "This is Diane in New Jersey": the draft's text is shown
    # The French and Spanish calls, the dataset they made and the summary.
    assert "call-fr" in result.stdout and "call-es" in result.stdout
    assert "dataset snapshot ds-" in result.stdout
    for fmt in ("hf_audiofolder", "nemo", "kaldi", "rttm", "docbin", "label_studio"):
        assert fmt in result.stdout
    assert "summary: what people fixed" in result.stdout
