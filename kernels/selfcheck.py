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
saying why it cannot run here (None: it can). Each op registers its own beside its
reference (``kernels/bias_act.py``, ...; the engine's in ``explorer/engine/fast_render.py`` and
``cuda_graphs.py``). This module imports nothing of the app, so the dispatch can ask it.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

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


# ---------------------------------------------------------------- helpers for the checks

def randn(device, *shape, seed=0):
    """Seeded normal noise on ``device`` (the global RNG untouched)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g).to(device)
