"""Run folders as files (no torch): snapshot names and listing, so the UI can look at a run
without loading the trainer. Writing and reading snapshots is ``explorer.training.snapshot``.
"""

from __future__ import annotations

import re
from pathlib import Path

SNAPSHOT_RE = re.compile(r'^network-snapshot-(\d{6,})\.pt$')
TEMP_GLOB = '.network-snapshot-*.tmp'


def snapshot_name(kimg: float) -> str:
    return f'network-snapshot-{int(kimg):06d}.pt'


def list_snapshots(run_dir) -> list[Path]:
    """Snapshots in ``run_dir``, oldest first (by kimg in the name, then modification time)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = []
    for p in run_dir.iterdir():
        m = SNAPSHOT_RE.match(p.name)
        if m and p.is_file():
            found.append((int(m.group(1)), p.stat().st_mtime, p))
    return [p for _, _, p in sorted(found)]


def latest_snapshot(run_dir) -> Path | None:
    snaps = list_snapshots(run_dir)
    return snaps[-1] if snaps else None
