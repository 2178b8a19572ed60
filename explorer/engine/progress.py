"""Progress reporting without Qt: a callback protocol and a text bar for the CLI.

A progress callback is ``progress(done, total, text='')``; it may raise
``Cancelled`` to stop the work (the GUI uses that for its Cancel buttons).
"""

from __future__ import annotations

import sys
import time


class Cancelled(Exception):
    """Raised from a progress callback to cancel long work."""


class TextProgress:
    """A tqdm-style one-line bar on stderr, redrawn at most ~10 times a second."""

    def __init__(self, label='', stream=None, min_interval=0.1):
        self.label = label
        self.stream = stream or sys.stderr
        self.min_interval = min_interval
        self._last = 0.0
        self._start = time.monotonic()
        self._drawn = False

    def __call__(self, done, total=None, text=''):
        now = time.monotonic()
        if total is not None and done < total and now - self._last < self.min_interval:
            return
        self._last = now
        elapsed = max(now - self._start, 1e-9)
        if total:
            frac = min(max(done / total, 0.0), 1.0)
            bar = '#' * int(frac * 30)
            line = f'\r{self.label} [{bar:<30}] {frac * 100:5.1f}% {_fmt(done)}/{_fmt(total)} {_fmt(done / elapsed)}/s {text}'
        else:
            line = f'\r{self.label} {_fmt(done)} {text}'
        self.stream.write(line)
        self.stream.flush()
        self._drawn = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._drawn:
            self.stream.write('\n')
            self.stream.flush()
        return False


def _fmt(n):
    n = float(n)
    for unit in ('', 'k', 'M', 'G'):
        if abs(n) < 1000:
            return f'{n:.0f}{unit}' if unit == '' else f'{n:.1f}{unit}'
        n /= 1000
    return f'{n:.1f}T'
