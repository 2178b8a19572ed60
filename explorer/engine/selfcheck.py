"""The engine's fast paths in the first-use self-check (``kernels.selfcheck``), and the
report ``main.py doctor`` prints.

Paths registered here: ``render.fp32`` / ``render.fp16`` / ``render.bf16`` (the
``FastRenderer`` plan in that precision against ``G.synthesis`` in fp32, on a tiny seeded
StyleGAN2 generator) and ``cuda_graphs`` (a captured graph replayed on new inputs against
eager execution). The Triton kernels register in ``kernels.selfcheck``. Importing this
module builds nothing; each check builds its small input when it runs.
"""

from __future__ import annotations

import platform
import sys

import torch

from explorer.engine.capabilities import DTYPES, dtype_supported
from explorer.engine.device import mps_available
from kernels import selfcheck
from kernels._dispatch import forced_ref
from kernels.selfcheck import FAILED, OK, UNAVAILABLE, FastPath, allowed, cached, take_notices  # noqa: F401

# Relative max error allowed against the fp32 reference: fp32 leaves room for TF32 convs on
# CUDA; fp16/bf16 keep their first blocks in fp32 (explorer.engine.fast_render) but not here
# (fp32_upto=4), so the check sees the low precision itself. A broken path is off by O(1).
RENDER_TOLERANCE = {'fp32': 1e-2, 'fp16': 3e-2, 'bf16': 1e-1}


def _tiny_generator(device):
    """A 32 px StyleGAN2 generator with seeded weights (global RNG untouched)."""
    from explorer.engine.networks_stylegan2 import Generator
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=32, img_channels=3,
                      mapping_kwargs=dict(num_layers=1),
                      synthesis_kwargs=dict(channel_base=256, channel_max=16, architecture='skip'))
        with torch.no_grad():
            for name, p in G.named_parameters():
                if name.endswith('noise_strength'):
                    p.fill_(0.3)
        ws = G.mapping(torch.randn(1, G.z_dim), None)
    return G.eval().requires_grad_(False).to(device), ws.to(device)


def _render_unavailable(dtype):
    def why(device):
        if forced_ref():
            return 'EXPLORER_KERNELS=ref'
        if not dtype_supported(dtype, device):
            return f'{dtype} is not supported on {device.type}'
        return None
    return why


def _render(dtype):
    def run(device):
        from explorer.engine.fast_render import FastRenderer
        G, ws = _tiny_generator(device)
        fr = FastRenderer(G, device, dtype=dtype, use_graphs=False, fp32_upto=4)
        fast = fr.render(ws, noise_mode='const')
        ref = G.synthesis(ws, noise_mode='const')
        return fast, ref
    return run


def _graphs_unavailable(device):
    if device.type != 'cuda':
        return 'CUDA graphs need a CUDA device'
    return None


def _graphs(device, capture=None):
    from explorer.engine.cuda_graphs import GraphCache
    cache = GraphCache(capture=capture)
    w = torch.randn(16, 16, generator=torch.Generator().manual_seed(0)).to(device)

    def fn(st):
        return torch.relu(st['x'] @ w) * 2 + 1
    outs, refs = [], []
    for seed in (1, 2):     # the second replays the captured graph with refilled inputs
        x = torch.randn(4, 16, generator=torch.Generator().manual_seed(seed)).to(device)
        outs.append(cache.run('k', fn, {'x': x}))
        refs.append(fn({'x': x}))
    return torch.stack(outs), torch.stack(refs)


for _dtype in DTYPES:
    selfcheck.register(FastPath(f'render.{_dtype}', f'fast renderer, {_dtype} (StyleGAN2 view)', _render(_dtype),
                                tolerance=RENDER_TOLERANCE[_dtype], unavailable=_render_unavailable(_dtype)))
selfcheck.register(FastPath('cuda_graphs', 'CUDA-graph capture and replay (fast renderer)', _graphs,
                            tolerance=1e-5, unavailable=_graphs_unavailable))


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
    from explorer.engine.device import pick_device
    device = pick_device(device)
    return {'device': str(device), 'devices': devices(), 'versions': versions(),
            'threads': {'intra_op': torch.get_num_threads(), 'inter_op': torch.get_num_interop_threads()},
            'kernels_forced_ref': forced_ref(),
            'checked_on_first_use': sorted(selfcheck.CHECKED_DEVICE_TYPES),
            'fast_paths': fast_path_status(device, run_checks=run_checks)}
