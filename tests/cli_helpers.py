"""Test helper: run ``main.py`` in a subprocess (the CLI tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd=None, env_extra=None):
    """``python main.py ARGS`` from the repository root (or ``cwd``), this environment plus
    ``env_extra``; text output captured, 240 s at most."""
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, str(ROOT / 'main.py'), *args], cwd=cwd or ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
