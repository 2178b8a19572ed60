"""main.py sets THP_MEM_ALLOC_ENABLE=1 (PyTorch's CPU allocator on transparent huge pages) before
torch is imported, and never overrides a value the user set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

MAIN = Path(__file__).resolve().parents[2] / 'main.py'
PROBE = ("import runpy, sys; runpy.run_path(sys.argv[1], run_name='probe'); "
         "import os; print(os.environ.get('THP_MEM_ALLOC_ENABLE'), 'torch' in sys.modules)")


@pytest.mark.parametrize('user,expected', [(None, '1'), ('0', '0'), ('1', '1')])
def test_main_sets_huge_pages_before_torch_unless_the_user_chose(user, expected):
    env = {k: v for k, v in os.environ.items() if k != 'THP_MEM_ALLOC_ENABLE'}
    if user is not None:
        env['THP_MEM_ALLOC_ENABLE'] = user
    proc = subprocess.run([sys.executable, '-c', PROBE, str(MAIN)], env=env, capture_output=True, text=True,
                          timeout=120, cwd=MAIN.parent)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [expected, 'False']       # set, and torch not imported yet
