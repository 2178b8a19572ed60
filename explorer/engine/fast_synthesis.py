"""The default path of a StyleGAN2 ``G.synthesis`` call: fast under ``torch.no_grad()``.

DESIGN.md: "Under torch.no_grad() synthesis takes the fastest path that matches the
reference to float rounding; EXPLORER_KERNELS=ref (or impl='ref') forces the reference.
With gradients enabled it is always differentiable."

``SynthesisNetwork.forward(ws, ..., impl='auto')`` asks ``try_render`` first. It renders with
an fp32 ``explorer.engine.fast_render.FastRenderer`` (the StyleGAN2 plan) kept on the module
(``FastCache``: not a submodule, not in ``state_dict``; a copy or a pickle of the module starts
with an empty one) and returns None -- the caller then runs the reference -- unless all hold:

- ``impl='auto'``, gradients disabled, ``EXPLORER_KERNELS`` is not ``ref``, the module is in
  eval mode (a module being trained changes its weights every step) and ``update_emas`` is off;
- the arguments are ones the plan renders: ``noise_mode`` const/random/none, ``noise_scale``,
  ``noise_generator``, ``stop_at`` (skip architecture only: orig/resnet have no image before
  the last block); ``fused_modconv`` and ``force_fp32`` change rounding only and are ignored;
- no forward hook sits on a layer inside the network (the plan never calls them: the layer
  inspector, point dragging's feature hook and ``interrupt.interruptible`` need the reference);
- ``ws`` is on the weights' device and has the network's shape;
- the plan could be built (an exotic layer, e.g. another activation, raises
  ``NotImplementedError`` there: remembered, the reference serves from then on) and, on
  CUDA/MPS, the ``render.fp32`` first-use self-check passed.

The plan rebuilds itself when a weight changes (``fast_plan.weights_token``: one
(data_ptr, version) pair per tensor, ~0.2 ms). Random noise is drawn from the same generator
in the same order and shapes as the reference, so the same values come out (with ``stop_at``
the plan also draws the noise of the layers it skips: the image is the same, the generator is
left further along than by the reference).

Bound (tests/engine/test_fast_default.py, CPU fp32, 1 and 2 threads): max |fast - reference|
<= 1e-4 on images in about [-1, 1]. Measured: 0.7e-5 .. 1.5e-5 on tiny skip/resnet/orig nets and
on the shipped default checkpoint (NNPACK's Winograd convolutions and the folded constants round
differently); after uint8 rounding a pixel differs by at most one level, on ~0.003% of the
pixels. On CUDA (TF32 convolutions) the first-use self-check allows 1e-2.

Determinism: on the CPU the renderer goes sample by sample, so an image's bits do not depend
on its batch size or position in the batch (same machine, same torch, same thread count).
"""

from __future__ import annotations

import logging
import threading

import torch
from torch.nn.modules import module as _nn_module

from explorer.engine.fast_render import FastRenderer
from kernels import forced_ref

log = logging.getLogger(__name__)

IMPLS = ('auto', 'ref')
NOISE_MODES = ('const', 'random', 'none')
BOUND_MAX_ABS = 1e-4            # documented bound (CPU fp32) of |fast - reference| on [-1, 1] images
_RENDERED = frozenset({'noise_mode', 'noise_generator'})
_ROUNDING_ONLY = frozenset({'fused_modconv', 'force_fp32'})
_CACHE_ATTR = '_explorer_fast_cache'


def check_impl(impl) -> None:
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")


class _Host:
    """What ``FastRenderer`` asks of a generator, for a bare StyleGAN2 synthesis network."""

    family = 'stylegan2'

    def __init__(self, synthesis):
        self.synthesis = synthesis
        self.img_resolution = synthesis.img_resolution
        self.num_ws = synthesis.num_ws
        self.w_dim = synthesis.w_dim

    def parameters(self):
        return self.synthesis.parameters()

    def buffers(self):
        return self.synthesis.buffers()


class FastCache:
    """Per-module state of the default path (lives in the module's ``__dict__``)."""

    __slots__ = ('renderer', 'device', 'reason', 'lock')

    def __init__(self):
        self.renderer = None        # FastRenderer for ``device``
        self.device = None
        self.reason = None          # why this module renders with the reference (None: no reason known)
        self.lock = threading.RLock()

    def __deepcopy__(self, memo):   # copies of the module build their own
        return FastCache()

    def __reduce__(self):
        return (FastCache, ())


def _cache(synthesis) -> FastCache:
    c = synthesis.__dict__.get(_CACHE_ATTR)
    if c is None:
        c = FastCache()
        synthesis.__dict__[_CACHE_ATTR] = c
    return c


def _device(synthesis) -> torch.device:
    return next(synthesis.parameters()).device


def renderer(synthesis) -> FastRenderer | None:
    """The module's cached fp32 renderer on the weights' device, or None when this network
    renders with the reference (``why_reference`` says why)."""
    if forced_ref():
        return None
    cache = _cache(synthesis)
    device = _device(synthesis)
    if cache.renderer is not None and cache.device == device:
        return cache.renderer
    with cache.lock:
        if cache.device != device:
            cache.renderer, cache.reason, cache.device = None, None, device
        if cache.reason is not None:
            return None
        if cache.renderer is None:
            try:
                cache.renderer = FastRenderer(_Host(synthesis), device, dtype='fp32', use_graphs=False)
            except (ValueError, NotImplementedError) as e:   # a failed self-check, an unsupported device
                cache.reason = str(e)
                log.info('G.synthesis renders with the reference: %s', e)
                return None
        return cache.renderer


def why_reference(synthesis) -> str | None:
    """Why ``impl='auto'`` renders this network with the reference (None: it renders fast)."""
    if forced_ref():
        return 'EXPLORER_KERNELS=ref'
    if renderer(synthesis) is None:
        return _cache(synthesis).reason
    if not _plan_ok(synthesis):
        return _cache(synthesis).reason
    return None


def available(synthesis) -> bool:
    """Does ``impl='auto'`` under ``torch.no_grad()`` render a recipe of this network (full
    resolution, any noise mode) on the fast path in this process?"""
    return not synthesis.training and why_reference(synthesis) is None


def _plan_ok(synthesis) -> bool:
    """Build the plan now (once per weights); False, remembered, when it cannot be built."""
    fr = renderer(synthesis)
    if fr is None:
        return False
    with _cache(synthesis).lock:
        try:
            fr._refresh()
        except NotImplementedError as e:
            _unsupported(synthesis, e)
            return False
    return True


def _unsupported(synthesis, e) -> None:
    cache = _cache(synthesis)
    cache.renderer, cache.reason = None, f'the fast plan does not support this network: {e}'
    log.info('G.synthesis renders with the reference: %s', cache.reason)


def _hooked(synthesis) -> bool:
    if _nn_module._global_forward_hooks or _nn_module._global_forward_pre_hooks:
        return True
    return any(m._forward_hooks or m._forward_pre_hooks for m in synthesis.modules() if m is not synthesis)


def eligible(synthesis, ws, stop_at=None, impl='auto', block_kwargs=None) -> FastRenderer | None:
    """The renderer that serves this call on the fast path, or None when the reference must
    (see the module docstring). ``block_kwargs``: the other keyword arguments of the call."""
    block_kwargs = block_kwargs or {}
    if impl != 'auto' or torch.is_grad_enabled() or synthesis.training or forced_ref():
        return None
    if block_kwargs.get('update_emas') or set(block_kwargs) - _RENDERED - _ROUNDING_ONLY - {'update_emas'}:
        return None
    if block_kwargs.get('noise_mode', 'random') not in NOISE_MODES:
        return None
    R = synthesis.img_resolution
    if stop_at is not None and stop_at < R and getattr(synthesis, f'b{R}').architecture != 'skip':
        return None
    if not (isinstance(ws, torch.Tensor) and ws.ndim == 3
            and tuple(ws.shape[1:]) == (synthesis.num_ws, synthesis.w_dim)):
        return None
    fr = renderer(synthesis)
    if fr is None or ws.device != fr.device or _hooked(synthesis):
        return None
    return fr


def try_render(synthesis, ws, noise_scale=None, stop_at=None, impl='auto', block_kwargs=None, interrupt=None,
               shared_noise=False):
    """The image of the fast path, or None when the reference must render it. ``interrupt``:
    asked before every layer, True -> ``Cancelled`` (the GUI session: a newer request waits).
    ``shared_noise``: every sample gets the random noise one sample draws
    (``FastRenderer.render``)."""
    block_kwargs = block_kwargs or {}
    fr = eligible(synthesis, ws, stop_at, impl, block_kwargs)
    if fr is None:
        return None
    with _cache(synthesis).lock:
        try:
            return fr.render(ws, noise_mode=block_kwargs.get('noise_mode', 'random'), noise_scale=noise_scale,
                             noise_generator=block_kwargs.get('noise_generator'), stop_at=stop_at,
                             interrupt=interrupt, shared_noise=shared_noise)
        except NotImplementedError as e:
            _unsupported(synthesis, e)
            return None
