"""``voxloop feedback`` (typer's CliRunner) against the real feedback gRPC server: snapshot,
list, export, the vocabulary and its review; a refusal is one red line and exit status 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.feedback.handler import make_handler
from shared.cli import app
from shared.kafka import codec
from shared.kafka.consumer import Inbound
from shared.topics import TRANSCRIPTS_VALIDATED
from tests.integration.test_feedback_api import Api, running_feedback
from tests.integration.test_feedback_flow import validated

pytestmark = pytest.mark.integration

runner = CliRunner()


def cli(api: Api, who: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(
        app, ["feedback", *args, "--server", api.target, "--token", api.tokens[who]], env={"COLUMNS": "200"}
    )
    return result.exit_code, result.output


def test_the_ml_teams_commands(db_url: str, tmp_path: Path) -> None:
    with running_feedback(db_url, tmp_path) as api:
        code, output = cli(api, "mia", "snapshot")
        assert code == 1 and "refused: FAILED_PRECONDITION" in output and "no validated examples" in output
        api.validate_sample_calls()
        handler = make_handler(api.ctx, api.ctx.settings)  # type: ignore[arg-type]
        for n in range(2):
            v = validated(f"v{n}:0", f"v{n}", "my Quorvia router is down", "my core via router is down")
            with api.ctx.sessions.begin() as session:
                handler(session, Inbound(v, codec.new_id(), "t", TRANSCRIPTS_VALIDATED.name, 0, n, b"k"))
        code, output = cli(api, "mia", "snapshot", "--note", "from the cli")
        assert code == 0 and "ds-" in output and "5" in output
        snapshot_id = next(w for w in output.split() if w.startswith("ds-"))
        code, output = cli(api, "ana", "snapshots")
        assert code == 0 and snapshot_id in output
        code, output = cli(api, "mia", "export", snapshot_id, "--format", "kaldi", "--format", "rttm")
        assert code == 0 and "kaldi" in output and "rttm" in output and "nemo" not in output
        code, output = cli(api, "mia", "export", snapshot_id, "--format", "mp3")
        assert code == 1 and "INVALID_ARGUMENT" in output and "mp3" in output
        code, output = cli(api, "ana", "vocabulary", "--state", "candidate")
        assert code == 0 and "Quorvia" in output and "candidate" in output
        term_id = next(w for w in output.split() if w.startswith("term-"))
        code, output = cli(api, "ana", "approve", term_id)
        assert code == 1 and "PERMISSION_DENIED" in output
        code, output = cli(api, "quinn", "approve", term_id)
        assert code == 0 and "'Quorvia' (support, en): approved" in output
