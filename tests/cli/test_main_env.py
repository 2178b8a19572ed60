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


FINISH = ("import runpy, sys, threading, time; ns = runpy.run_path(sys.argv[1], run_name='probe'); "
          "t = threading.Thread(target=lambda: (time.sleep(0.3), print('joined', flush=True))); "
          "t.start(); import atexit; atexit.register(lambda: print('atexit ran', flush=True)); "
          "print('out', end='', flush=False); ns['finish'](int(sys.argv[2]))")


@pytest.mark.parametrize('torchrun', [False, True])
@pytest.mark.parametrize('code', [0, 3])
def test_finish_exits_without_teardown_only_in_torchrun_workers(torchrun, code):
    env = {k: v for k, v in os.environ.items() if k not in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK')}
    if torchrun:
        env.update(RANK='0', WORLD_SIZE='2', LOCAL_RANK='0')
    proc = subprocess.run([sys.executable, '-c', FINISH, str(MAIN), str(code)], env=env, capture_output=True,
                          text=True, timeout=120, cwd=MAIN.parent)
    assert proc.returncode == code, proc.stderr
    assert 'joined' in proc.stdout and proc.stdout.startswith('out')   # threads joined, unflushed output kept
    assert ('atexit ran' in proc.stdout) is (not torchrun)             # torchrun: os._exit, no interpreter teardown
