"""The report ``main.py doctor`` prints: devices, versions, threads and every fast path's
first-use self-check (``kernels.selfcheck``) on a device.

The paths register beside their code: the Triton kernels in ``kernels/<op>.py``,
``render.fp32|fp16|bf16`` in ``explorer/engine/fast_render.py`` (registered by
``networks_stylegan2``, which hands it its small self-check generator), ``cuda_graphs`` in
``explorer/engine/cuda_graphs.py``; importing this module imports them all.
"""

from __future__ import annotations

import platform
import sys

import torch

import explorer.engine.cuda_graphs  # noqa: F401 - registers 'cuda_graphs'
import explorer.engine.networks_stylegan2  # noqa: F401 - registers 'render.*' (fast_render.register_selfchecks)
import kernels.filtered_lrelu  # noqa: F401 - registers 'triton.filtered_lrelu' (the others: with kernels)
from explorer.engine.device import mps_available
from kernels import selfcheck
from kernels._dispatch import forced_ref

# ---------------------------------------------------------------- doctor's report

def _version(module_name):
    try:
        module = __import__(module_name)
    except Exception:  # noqa: BLE001 - missing or broken: reported as absent
        return None
    return getattr(module, '__version__', None)


def _pyqt_version():
    try:
        from importlib.metadata import version
        return version('PyQt6')
    except Exception:  # noqa: BLE001 - not installed
        return None


def devices() -> list[dict]:
    """Every device torch can use here: the CPU, each CUDA device (name, memory), MPS."""
    import os
    out = [{'device': 'cpu', 'name': platform.processor() or platform.machine(),
            'threads': torch.get_num_threads(), 'cores': os.cpu_count()}]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            out.append({'device': f'cuda:{i}', 'name': p.name, 'memory_gb': round(p.total_memory / 2 ** 30, 1),
                        'capability': f'{p.major}.{p.minor}'})
    if mps_available():
        out.append({'device': 'mps', 'name': 'Apple Metal (MPS)'})
    return out


def versions() -> dict:
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {'python': sys.version.split()[0], 'torch': torch.__version__, 'cuda': torch.version.cuda,
            'cudnn': cudnn, 'triton': _version('triton'), 'numpy': _version('numpy'), 'pyqt6': _pyqt_version()}


def fast_path_status(device, run_checks=True) -> list[dict]:
    """Each registered fast path's state on ``device``: a check already run in this process,
    else (``run_checks``) one run now, on any device type, so `doctor` reports what would
    happen on first use. Unchecked paths read 'not checked'."""
    device = torch.device(device)
    rows = []
    for path in selfcheck.paths():
        result = selfcheck.cached(path.name, device)
        if result is None and run_checks:
            result = selfcheck.check(path.name, device)
        row = {'name': path.name, 'summary': path.summary, 'device': str(device)}
        if result is None:
            row.update(state='not checked', reason='', error=None, ms=None)
        else:
            row.update({k: v for k, v in result.as_dict().items() if k not in ('name', 'device')})
        rows.append(row)
    return rows


def report(device=None, run_checks=True) -> dict:
    """Everything `doctor` prints: devices, versions, threads, the fast paths on ``device``
    (default: the one the app would pick)."""
    from explorer.engine import cpu_heap, nnpack_winograd
    from explorer.engine.device import pick_device
    device = pick_device(device)
    return {'device': str(device), 'devices': devices(), 'versions': versions(),
            'threads': {'intra_op': torch.get_num_threads(), 'inter_op': torch.get_num_interop_threads()},
            'cpu_heap': cpu_heap.state(),
            'nnpack_cache': nnpack_winograd.state(),
            'kernels_forced_ref': forced_ref(),
            'checked_on_first_use': sorted(selfcheck.CHECKED_DEVICE_TYPES),
            'fast_paths': fast_path_status(device, run_checks=run_checks)}
