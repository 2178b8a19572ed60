"""cpu_heap.keep_freed_memory: glibc keeps freed buffers for reuse (no page faults on every render)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A fresh process (the thresholds are process-wide): malloc, touch and free a 64 MiB buffer five
# times, counting the minor page faults of the last four rounds. glibc's own thresholds mmap a
# buffer this large every time (its adaptive mmap threshold stops at 32 MiB), so every round
# faults all 16k pages in again; with the heap kept, the later rounds reuse the first round's
# memory.
PROBE = r'''
import ctypes, json, resource, sys
sys.path.insert(0, sys.argv[1])
from explorer.engine import cpu_heap
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
if sys.argv[2] == 'keep':
    cpu_heap.keep_freed_memory()
faults = []
size = 64 << 20
for _ in range(5):
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    p = libc.malloc(size)
    libc.memset(p, 1, size)
    libc.free(p)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
print(json.dumps({'state': cpu_heap.state(), 'faults': faults[1:]}))
'''


def probe(mode, **env_extra):
    env = dict(os.environ, **env_extra)
    env.pop('THP_MEM_ALLOC_ENABLE', None)
    if 'EXPLORER_MALLOC' not in env_extra:
        env.pop('EXPLORER_MALLOC', None)
    r = subprocess.run([sys.executable, '-c', PROBE, str(ROOT), mode], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


glibc_only = pytest.mark.skipif(not sys.platform.startswith('linux') or not os.confstr('CS_GNU_LIBC_VERSION'),
                                reason='glibc mallopt')


@glibc_only
def test_kept_heap_reuses_freed_buffers_without_page_faults():
    default = probe('default')
    kept = probe('keep')
    assert default['state'] == 'not applied'
    assert kept['state'].startswith('set (mmap threshold'), kept
    assert min(default['faults']) > 10000, default        # 64 MiB = 16k pages faulted in each round
    assert max(kept['faults']) < 1000, kept


@glibc_only
def test_env_keeps_glibc_defaults():
    r = probe('keep', EXPLORER_MALLOC='system')
    assert r['state'] == 'off (EXPLORER_MALLOC=system)'
    assert min(r['faults']) > 10000, r


def test_cpu_plan_applies_it_and_doctor_reports_it():
    code = ('import sys, json; sys.path.insert(0, sys.argv[1]);'
            'from explorer.engine import cpu_heap, fast_plan; from tests.sg2_nets import make_sg2;'
            'fast_plan.SG2Plan(make_sg2().synthesis, "cpu", __import__("torch").float32);'
            'print(json.dumps(cpu_heap.state()))')
    env = {k: v for k, v in os.environ.items() if k != 'EXPLORER_MALLOC'}
    r = subprocess.run([sys.executable, '-c', code, str(ROOT)], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    state = json.loads(r.stdout.strip().splitlines()[-1])
    assert state != 'not applied'
    r = subprocess.run([sys.executable, str(ROOT / 'main.py'), 'doctor', '--device', 'cpu', '--json'], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)['cpu_heap'] == state
