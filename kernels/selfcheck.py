"""First-use self-check of the fast paths.

On a CUDA or MPS device (``CHECKED_DEVICE_TYPES``), before a fast path (a Triton kernel,
CUDA graphs, fp16/bf16 rendering) serves for the first time in this process, it runs once
on a small input beside its plain-torch reference. An exception or a difference beyond
its tolerance switches that path off for the process (the caller then uses the
reference), logs the details and says so once: one line on stderr and a notice the GUI
shows in its status line (``take_notices``). ``main.py doctor`` lists every path's state.

On the CPU nothing is checked (``allowed`` is True): the Triton kernels never run there
except under ``TRITON_INTERPRET`` in tests, and the CPU fast renderer has its own parity
tests. Tests put 'cpu' into ``CHECKED_DEVICE_TYPES`` (or ``register`` a fake path) to
exercise the check, the fallback and the message without a GPU.

A path is a ``FastPath``: ``run(device) -> (fast, reference)`` on a small input,
``tolerance`` on ``max|fast - ref| / max(1, max|ref|)``, and ``unavailable(device)``
saying why it cannot run here (None: it can). The Triton kernels register below; the
engine registers its own (``explorer.engine.selfcheck``).
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from kernels._dispatch import triton_available, triton_interpret

log = logging.getLogger(__name__)

CHECKED_DEVICE_TYPES = frozenset({'cuda', 'mps'})

OK, FAILED, UNAVAILABLE = 'ok', 'fell back', 'not available'


@dataclass(frozen=True)
class FastPath:
    name: str                                   # 'triton.bias_act', 'render.bf16', ...
    summary: str                                # one line for `doctor`
    run: Callable                               # (device) -> (fast, reference) tensors on a small input
    tolerance: float                            # max |fast - ref| / max(1, max |ref|)
    unavailable: Callable = lambda device: None  # (device) -> why it cannot run there, or None


@dataclass(frozen=True)
class Result:
    name: str
    device: str
    state: str                  # OK | FAILED | UNAVAILABLE
    reason: str = ''            # why it fell back / is not available
    error: float | None = None  # measured relative max error
    ms: float | None = None     # how long the check took

    def as_dict(self) -> dict:
        return {'name': self.name, 'device': self.device, 'state': self.state, 'reason': self.reason,
                'error': self.error, 'ms': self.ms}


_paths: dict[str, FastPath] = {}
_results: dict[tuple[str, str], Result] = {}
_running: set = set()
_notices: list[str] = []
_lock = threading.RLock()


def register(path: FastPath) -> None:
    """Add (or replace) a fast path; replacing forgets its cached results."""
    with _lock:
        _paths[path.name] = path
        for key in [k for k in _results if k[0] == path.name]:
            del _results[key]


def unregister(name: str) -> None:
    with _lock:
        _paths.pop(name, None)
        for key in [k for k in _results if k[0] == name]:
            del _results[key]


def paths() -> list[FastPath]:
    with _lock:
        return list(_paths.values())


def reset() -> None:
    """Forget every result and notice (tests; a new process starts this way)."""
    with _lock:
        _results.clear()
        _notices.clear()


def take_notices() -> list[str]:
    """The fall-back messages not yet shown (each message is handed out once)."""
    with _lock:
        out = list(_notices)
        _notices.clear()
        return out


def _key(device: torch.device) -> str:
    if device.type == 'cuda' and device.index is None:
        return f'cuda:{torch.cuda.current_device()}' if torch.cuda.is_available() else 'cuda'
    return str(device)


def cached(name: str, device) -> Result | None:
    return _results.get((name, _key(torch.device(device))))


def allowed(name: str, device) -> bool:
    """May fast path ``name`` serve on ``device``? Checked on first use on the devices in
    ``CHECKED_DEVICE_TYPES`` (always True elsewhere, and for paths not registered)."""
    device = torch.device(device)
    if device.type not in CHECKED_DEVICE_TYPES or name not in _paths:
        return True
    result = _results.get((name, _key(device)))   # the common case: no lock
    if result is None:
        with _lock:
            if name in _running:                   # the check itself runs the path
                return True
        result = check(name, device)
    return result.state == OK


def check(name: str, device) -> Result:
    """Run fast path ``name`` once on ``device`` against its reference (cached per process)."""
    device = torch.device(device)
    key = (name, _key(device))
    with _lock:
        if key in _results:
            return _results[key]
        path = _paths[name]
        _running.add(name)
        try:
            result = _run(path, device, key[1])
        finally:
            _running.discard(name)
        _results[key] = result
    if result.state == FAILED:
        _announce(result)
    return result


def _relative_error(fast, ref) -> float:
    fast, ref = fast.detach().float(), ref.detach().float()
    if fast.shape != ref.shape:
        raise ValueError(f'shape {tuple(fast.shape)}, the reference gives {tuple(ref.shape)}')
    if not torch.isfinite(fast).all():
        return float('inf')
    scale = max(1.0, ref.abs().max().item())
    return (fast - ref).abs().max().item() / scale


def _run(path: FastPath, device: torch.device, where: str) -> Result:
    try:
        why = path.unavailable(device)
    except Exception as e:  # noqa: BLE001 - a probe that fails means: not here
        why = _one_line(e)
    if why:
        return Result(path.name, where, UNAVAILABLE, why)
    t0 = time.perf_counter()
    try:
        with torch.no_grad():
            fast, ref = path.run(device)
            error = _relative_error(fast, ref)
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
    except Exception as e:  # noqa: BLE001 - any failure of the fast path switches it off
        log.exception('self-check of %s on %s raised', path.name, where)
        return Result(path.name, where, FAILED, _one_line(e), ms=(time.perf_counter() - t0) * 1e3)
    ms = (time.perf_counter() - t0) * 1e3
    if not error <= path.tolerance:
        return Result(path.name, where, FAILED, f'differs from the reference: max error {error:.3g} '
                      f'> tolerance {path.tolerance:g}', error=error, ms=ms)
    log.info('self-check of %s on %s: ok (max error %.3g, %.0f ms)', path.name, where, error, ms)
    return Result(path.name, where, OK, error=error, ms=ms)


def _announce(result: Result) -> None:
    msg = (f'fast path {result.name} switched off on {result.device}, using the reference: '
           f'{result.reason} (see: python main.py doctor)')
    log.warning('%s', msg)
    with _lock:
        _notices.append(msg)
    try:
        sys.stderr.write(f'warning: {msg}\n')
    except (OSError, ValueError, AttributeError):   # no usable stderr (pythonw, closed)
        pass


def _one_line(e: BaseException, limit: int = 300) -> str:
    text = ' '.join(str(e).split())
    text = f'{type(e).__name__}: {text}' if text else type(e).__name__
    return text if len(text) <= limit else text[:limit] + '...'


# ---------------------------------------------------------------- the Triton kernels

def _triton_unavailable(device: torch.device) -> str | None:
    if not triton_available():
        return 'Triton is not installed'
    if device.type == 'cuda' or (device.type == 'cpu' and triton_interpret()):
        return None
    return f'Triton kernels run on CUDA only, not on {device.type}'


def _randn(device, *shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g).to(device)


def _bias_act(device):
    from kernels.bias_act import bias_act_ref
    fast = importlib.import_module('kernels.triton_bias_act')
    x, b = _randn(device, 2, 8, 5, 5), _randn(device, 8, seed=1)
    kw = dict(dim=1, act='lrelu', alpha=0.2, gain=1.4, clamp=0.8)
    return fast.bias_act_triton(x, b, **kw), bias_act_ref(x, b, **kw)


def _upfirdn2d(device):
    from kernels.upfirdn2d import setup_filter, upfirdn2d_ref
    fast = importlib.import_module('kernels.triton_upfirdn2d')
    x, f = _randn(device, 1, 3, 8, 8), setup_filter([1, 3, 3, 1], device=device)
    kw = dict(up=2, down=1, padding=[2, 1, 2, 1], flip_filter=False, gain=4)
    return fast.upfirdn2d_triton(x, f, **kw), upfirdn2d_ref(x, f, **kw)


def _modconv(device):
    from kernels.modulated_conv2d import modulated_conv2d_ref
    from kernels.upfirdn2d import setup_filter
    fast = importlib.import_module('kernels.triton_modconv')
    x, w, s = _randn(device, 2, 4, 6, 6), _randn(device, 5, 4, 3, 3, seed=1), _randn(device, 2, 4, seed=2)
    kw = dict(up=2, padding=1, resample_filter=setup_filter([1, 3, 3, 1], device=device), demodulate=True)
    return fast.modulated_conv2d_triton(x, w, s, **kw), modulated_conv2d_ref(x, w, s, **kw)


def _epilogue(device):
    from kernels.bias_act import bias_act_ref
    fast = importlib.import_module('kernels.triton_modconv')
    x, noise, b = _randn(device, 2, 4, 6, 6), _randn(device, 1, 1, 6, 6, seed=1), _randn(device, 4, seed=2)
    ref = bias_act_ref(x + noise, b, act='lrelu', alpha=0.2, gain=1.4, clamp=0.9)
    return fast.epilogue(x.clone(), noise=noise, bias=b, act='lrelu', alpha=0.2, gain=1.4, clamp=0.9), ref


def _filtered_lrelu(device):
    from kernels.filtered_lrelu import filtered_lrelu_ref
    from kernels.upfirdn2d import setup_filter
    fast = importlib.import_module('kernels.triton_filtered_lrelu')
    x, b = _randn(device, 1, 3, 8, 8), _randn(device, 3, seed=1)
    f = setup_filter([1, 3, 3, 1], device=device)
    kw = dict(fu=f, fd=f, b=b, up=2, down=2, padding=[2, 1, 2, 1], clamp=1.0)
    return fast.filtered_lrelu_triton(x, reference=filtered_lrelu_ref, **kw), filtered_lrelu_ref(x, **kw)


# Names: 'triton.' + the module name after 'triton_' (what kernels._dispatch.fast_module asks).
# fp32 inputs; the convolutions may run in TF32 on CUDA (~1e-3), hence the looser modconv bound.
for _name, _summary, _run_small, _tol in [
    ('triton.bias_act', 'Triton bias + activation + gain + clamp', _bias_act, 1e-4),
    ('triton.upfirdn2d', 'Triton upsample / FIR filter / downsample', _upfirdn2d, 1e-4),
    ('triton.modconv', 'Triton modulated convolution (fused modulation/demodulation)', _modconv, 1e-2),
    ('triton.epilogue', 'Triton noise + bias + activation epilogue (fast renderer)', _epilogue, 1e-4),
    ('triton.filtered_lrelu', 'Triton filtered leaky ReLU (StyleGAN3)', _filtered_lrelu, 1e-4),
]:
    register(FastPath(_name, _summary, _run_small, tolerance=_tol, unavailable=_triton_unavailable))
