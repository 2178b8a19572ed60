"""The run's progress log, ``RUN/stats.jsonl``: one JSON object per training tick.

The training loop (rank 0 only in a multi-process run) appends one complete line per
tick with a single ``write`` and a flush, so a reader never sees a half-written record
as a line: ``StatsTail`` only returns lines that end in a newline and keeps the rest for
its next poll. This is how the GUI follows a run it launched as a separate process
(``torchrun ... main.py train``), and how anyone can plot a run afterwards.
Non-finite numbers are written as ``null`` (JSON has no NaN).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

STATS_NAME = 'stats.jsonl'


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    try:
        return _clean(float(value))  # numpy / torch scalars
    except (TypeError, ValueError):
        return str(value)


def stats_path(run_dir) -> Path:
    return Path(run_dir) / STATS_NAME


def append_stats(run_dir, record: dict) -> None:
    """Append ``record`` as one line of ``RUN/stats.jsonl``."""
    line = json.dumps(_clean(dict(record)), allow_nan=False, sort_keys=True) + '\n'
    with open(stats_path(run_dir), 'a', encoding='utf-8') as f:
        f.write(line)
        f.flush()


class StatsTail:
    """Incremental reader of a stats file that another process is appending to."""

    def __init__(self, path, from_start: bool = True):
        self.path = Path(path)
        self.offset = 0
        self._partial = b''
        if not from_start and self.path.exists():
            self.offset = self.path.stat().st_size

    def poll(self) -> list[dict]:
        """Records completed since the last poll (a missing file is simply no records yet)."""
        try:
            size = self.path.stat().st_size
        except OSError:
            return []
        if size < self.offset:  # the file was replaced or truncated: start over
            self.offset, self._partial = 0, b''
        if size == self.offset:
            return []
        try:
            with open(self.path, 'rb') as f:
                f.seek(self.offset)
                chunk = f.read(size - self.offset)
        except OSError:
            return []
        self.offset += len(chunk)
        data = self._partial + chunk
        *lines, self._partial = data.split(b'\n')
        out = []
        for line in lines:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a corrupt line (e.g. a crash mid-write on a broken disk): skip it
            if isinstance(rec, dict):
                out.append(rec)
        return out


def read_stats(run_dir, up_to_kimg: float | None = None) -> list[dict]:
    """The run's ticks so far, oldest first, as one continuous history.

    A run resumed from a snapshot older than its last tick (a crash, a kill) re-trains the
    stretch after that snapshot and logs it again; the later records replace the earlier
    ones there. ``up_to_kimg`` drops what lies after that point (e.g. after the snapshot a
    resume starts from). A missing or unreadable file is an empty history."""
    out: list[dict] = []
    for rec in StatsTail(stats_path(run_dir)).poll():
        kimg = rec.get('kimg')
        if not isinstance(kimg, (int, float)) or isinstance(kimg, bool):
            continue
        while out and out[-1]['kimg'] >= kimg:  # a resumed run going over the same ground again
            out.pop()
        out.append(rec)
    if up_to_kimg is not None:
        out = [r for r in out if r['kimg'] <= up_to_kimg + 1e-9]
    return out
