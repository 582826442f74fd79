"""What a benchmark round cost: CPU by process (with children) and CPU the host stole, from the
real /proc of this machine."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from shared.stack.usage import cpu_seconds, metered, stolen_cpu_s


def _spin(seconds: float) -> None:
    deadline = time.process_time() + seconds
    while time.process_time() < deadline:
        pass


def test_a_busy_block_is_counted_to_its_process_and_an_idle_one_not():
    roots = {"me": os.getpid()}
    with metered(roots) as busy:
        _spin(0.3)
    with metered(roots) as idle:
        time.sleep(0.3)
    assert busy.cpu_s["me"] >= 0.25
    assert idle.cpu_s["me"] < 0.1
    assert idle.wall_s >= 0.3
    assert busy.stolen_s >= 0 and 0 <= busy.stolen_share <= 1


def test_children_are_counted_apart_from_their_parent():
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass\ntime.sleep(30)",
        ]
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            used = cpu_seconds({"me": os.getpid()}, with_children=("me",))
            if used["me children"] >= 0.4:
                break
            time.sleep(0.1)
        assert used["me children"] >= 0.4
        assert "me children" not in cpu_seconds({"me": os.getpid()})
    finally:
        child.kill()
        child.wait()


def test_an_unknown_process_is_left_out():
    assert cpu_seconds({"gone": 2**22 + 12345}) == {}


def test_stolen_cpu_never_goes_back():
    first = stolen_cpu_s()
    _spin(0.05)
    assert stolen_cpu_s() >= first >= 0
