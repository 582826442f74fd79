"""Progress reporting through a hook, so library code never prints (the CLI draws the bars)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Phase = Literal["download", "extract", "copy", "verify"]


@dataclass(frozen=True)
class ProgressEvent:
    """``task`` is a stable key (one bar per key); ``total`` is None when the size is unknown."""

    task: str
    phase: Phase
    completed: int
    total: int | None


ProgressHook = Callable[[ProgressEvent], None]


def no_progress(event: ProgressEvent) -> None:
    """The default hook: report nothing."""
