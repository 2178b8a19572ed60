"""main.py doctor on a machine without a GPU: devices, versions, each fast path's state; --json."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
STATES = {'ok', 'fell back', 'not available'}


def run_cli(*args, env_extra=None):
    env = dict(os.environ)
    env.pop('EXPLORER_KERNELS', None)
    env.pop('TRITON_INTERPRET', None)       # set by the kernel tests; it would run Triton on the CPU
    env.update(env_extra or {})
    return subprocess.run([sys.executable, str(ROOT / 'main.py'), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)


def test_doctor_prints_devices_versions_and_fast_paths():
    r = run_cli('doctor', '--device', 'cpu')
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for text in ('Devices:', '  cpu ', 'Versions:', f'torch    {torch.__version__}', 'python ', 'triton ',
                 'pyqt6 ', 'Threads:', 'CPU heap: ', 'Fast paths on cpu'):
        assert text in out, (text, out)
    if torch.version.cuda is None:
        assert 'cuda     not installed' in out
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.startswith('  ') and '.' in ln.split()[0]}
    assert lines['render.fp32'].split(None, 1)[1].startswith('ok')
    if not torch.cuda.is_available():
        assert 'not available: Triton' in lines['triton.modconv']
    assert 'not available: CUDA graphs need a CUDA device' in out
    assert r.stderr == ''


def test_doctor_json():
    r = run_cli('doctor', '--json')
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d['versions']['torch'] == torch.__version__ and d['versions']['python'] == sys.version.split()[0]
    assert d['devices'][0]['device'] == 'cpu' and d['threads']['intra_op'] >= 1
    assert set(d['checked_on_first_use']) == {'cuda', 'mps'}
    from explorer.engine import nnpack_winograd
    assert d['nnpack_cache'] == nnpack_winograd.state()     # this process and the CLI's agree
    paths = {p['name']: p for p in d['fast_paths']}
    assert {'triton.bias_act', 'triton.upfirdn2d', 'triton.modconv', 'triton.epilogue', 'triton.filtered_lrelu',
            'render.fp32', 'render.fp16', 'render.bf16', 'cuda_graphs'} <= set(paths)
    assert all(p['state'] in STATES for p in paths.values())
    if not torch.cuda.is_available():
        assert d['device'] in ('cpu', 'mps')
        assert paths['cuda_graphs']['state'] == 'not available'


def test_doctor_with_forced_reference():
    r = run_cli('doctor', '--json', '--device', 'cpu', env_extra={'EXPLORER_KERNELS': 'ref'})
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d['kernels_forced_ref'] is True
    assert {p['name']: p['reason'] for p in d['fast_paths']}['render.fp32'] == 'EXPLORER_KERNELS=ref'


def test_doctor_refuses_a_missing_device_in_one_line():
    if torch.cuda.is_available():
        pytest.skip('this machine has CUDA')
    r = run_cli('doctor', '--device', 'cuda')
    assert r.returncode == 2 and r.stderr.strip() == 'error: --device cuda given but no CUDA device is available'


def test_format_report_shows_why_a_path_fell_back():
    from explorer.commands.doctor import format_report
    report = {'device': 'cuda:0',
              'devices': [{'device': 'cpu', 'name': 'x86_64', 'threads': 4, 'cores': 8},
                          {'device': 'cuda:0', 'name': 'H200', 'memory_gb': 139.8, 'capability': '9.0'}],
              'versions': {'python': '3.11', 'torch': '2.5', 'cuda': '12.4', 'cudnn': 90100, 'triton': None,
                           'pyqt6': '6.7'},
              'threads': {'intra_op': 4, 'inter_op': 4}, 'kernels_forced_ref': False,
              'cpu_heap': 'set (mmap threshold 1024 MiB, trim threshold 1024 MiB)',
              'nnpack_cache': 'not available (NNPACK is not available in this torch build)',
              'checked_on_first_use': ['cuda', 'mps'],
              'fast_paths': [
                  {'name': 'triton.modconv', 'state': 'fell back', 'reason': 'RuntimeError: boom', 'error': None,
                   'ms': 3.0},
                  {'name': 'render.fp16', 'state': 'ok', 'reason': '', 'error': 0.004, 'ms': 12.0}]}
    text = format_report(report)
    assert '  cuda:0   H200 (139.8 GB, compute 9.0)' in text
    assert '  mps      not available' in text and '  triton   not installed' in text
    assert 'triton.modconv  fell back: RuntimeError: boom' in text
    assert 'render.fp16     ok (max error 0.004, 12 ms)' in text
    assert 'CPU heap: set (mmap threshold 1024 MiB' in text
    assert 'NNPACK cached Winograd transforms (CPU): not available (NNPACK is not available' in text
