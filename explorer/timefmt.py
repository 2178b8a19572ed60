"""Durations as text (a leaf: no torch, no Qt): the one ETA format of the CLI's progress line
and the Training tab's progress bar."""

from __future__ import annotations

import math

UNKNOWN = '--:--:--'


def format_eta(seconds) -> str:
    """Seconds left -> 'HH:MM:SS' (rounded to the second; hours may exceed 99).

    Unknown (None, nan, inf) -> '--:--:--'. Negative -> '00:00:00': the step that crosses a
    run's length overshoots it, so the remaining time comes out below zero when it is done."""
    if seconds is None or not math.isfinite(seconds):
        return UNKNOWN
    s = max(int(round(seconds)), 0)
    return f'{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}'
