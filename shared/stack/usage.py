"""What a benchmark round cost the machine: CPU seconds by process, and CPU the host took away.

Why: on a shared virtual machine the hypervisor takes CPU from the guest ("steal", the eighth
number of /proc/stat's cpu line). Measured here on 2 cores, it took 1-12 s of CPU during a 25 s
Whisper decode, so two rounds of the same code differed by a quarter in wall time. A benchmark
that compares a service with the bare library therefore reports, for every round, how much was
stolen while it ran, and the CPU each process spent, so a reader can tell a slower service from
a noisier minute. All of it reads /proc; where there is none, the numbers are empty or 0.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")


def cpu_seconds(roots: dict[str, int], with_children: tuple[str, ...] = ()) -> dict[str, float]:
    """CPU seconds (user + system) so far of each named process and, under "<name> children"
    for those ``with_children``, of its child processes (the annotate service's NLP process);
    {} where /proc is not there."""
    if not PROC.is_dir():
        return {}
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}  # pid -> (parent pid, cpu s)
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    out = {}
    for name, pid in roots.items():
        if pid in stats:
            out[name] = stats[pid][1]
            if name in with_children:
                out[f"{name} children"] = sum(c for ppid, c in stats.values() if ppid == pid)
    return out


def stolen_cpu_s() -> float:
    """CPU seconds (all cores together) the host has taken from this machine since boot."""
    try:
        fields = (PROC / "stat").read_text().splitlines()[0].split()
    except OSError:
        return 0.0
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if fields[0] == "cpu" and len(fields) > 8 else 0.0


@dataclass
class Usage:
    """Filled in when the ``metered`` block ends."""

    wall_s: float = 0.0
    stolen_s: float = 0.0  # CPU seconds the host took from the machine's cores meanwhile
    cpu_s: dict[str, float] = field(default_factory=dict)  # process name -> CPU seconds

    @property
    def stolen_share(self) -> float:
        """Stolen CPU over the wall time of all cores: 0.1 means a tenth of the machine was gone."""
        cores = os.cpu_count() or 1
        return self.stolen_s / (self.wall_s * cores) if self.wall_s else 0.0


@contextmanager
def metered(roots: dict[str, int], with_children: tuple[str, ...] = ()) -> Iterator[Usage]:
    """Time the block, count the CPU each of ``roots`` (name -> pid) spent in it and what the
    host stole meanwhile."""
    usage = Usage()
    cpu_before, stolen_before = cpu_seconds(roots, with_children), stolen_cpu_s()
    started = time.perf_counter()
    yield usage
    usage.wall_s = time.perf_counter() - started
    usage.stolen_s = stolen_cpu_s() - stolen_before
    after = cpu_seconds(roots, with_children)
    usage.cpu_s = {k: after[k] - cpu_before[k] for k in after if k in cpu_before}
