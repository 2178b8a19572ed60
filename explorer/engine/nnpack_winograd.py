"""NNPACK's Winograd F(6x6, 3x3) convolution with the kernel transform computed once per weight.

ATen's ``torch._nnpack_spatial_convolution`` asks NNPACK to transform the 3x3 kernels into the
Winograd domain on every call (``nnp_convolution_transform_strategy_compute``): for a StyleGAN2
layer whose weight is fixed per checkpoint (the plan's modulated-input convs scale the
activations, not the weight), that is the same work every frame, and on small maps with many
channels most of the call (512 -> 512 channels at 16x16: 11.5 ms of which 5.2 ms kernel
transform; at 32x32 21.8 / 5.8 ms; one thread, 2-core EPYC). NNPACK's C API can do it once
(``..._precompute``) and reuse the transformed kernels (``..._reuse``); torch links NNPACK into
``libtorch_cpu`` and exports that API, so this module calls it through ``ctypes``.

The transformed kernels are the ones ATen's call computes, and NNPACK then runs the same
input/output transforms and tuple products: the same bits as ``torch._nnpack_spatial_convolution``
(checked once per process on a small conv before first use, ``available()``; a mismatch or any
error turns this path off and the callers use ATen's). The price is memory: a transformed 3x3
kernel takes 64 floats instead of 9 (512 x 512 channels: 67 MB).

Every call is validated before it reaches C (fp32, CPU, contiguous, shapes, padding, output
size), since a wrong pointer or size there would corrupt memory rather than raise. The call runs
on the calling thread (no NNPACK thread pool) with the GIL released, so the CPU lanes of
``fast_plan`` run theirs side by side, each with a workspace from a shared pool.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import threading

import torch

log = logging.getLogger(__name__)

_ALGO_WT8X8 = 3                 # nnp_convolution_algorithm_wt8x8: Winograd F(6x6, 3x3)
_PRECOMPUTE, _REUSE = 2, 3      # nnp_convolution_transform_strategy_*
_IDENTITY = 0                   # nnp_activation_identity
_ALIGN = 64                     # NNPACK's buffers: 64-byte aligned


class _Size(ctypes.Structure):
    _fields_ = [('width', ctypes.c_size_t), ('height', ctypes.c_size_t)]


class _Padding(ctypes.Structure):
    _fields_ = [('top', ctypes.c_size_t), ('right', ctypes.c_size_t),
                ('bottom', ctypes.c_size_t), ('left', ctypes.c_size_t)]


_lock = threading.Lock()
_fn = None                      # nnp_convolution_inference, once bound
_state: str | None = None       # None: not tried; 'ok' or why not
_free_workspaces: list = []     # aligned workspace tensors not in use (taken and given back per call)
_pool_lock = threading.Lock()   # (not _lock: the self-test runs convolutions while holding that)


def _bind():
    """nnp_convolution_inference from torch's own library, or raise OSError/AttributeError."""
    from explorer.engine.capabilities import nnpack_available
    if not nnpack_available():          # (ATen initialises NNPACK here)
        raise OSError('NNPACK is not available in this torch build')
    lib_dir = os.path.join(os.path.dirname(torch.__file__), 'lib')
    name = {'darwin': 'libtorch_cpu.dylib', 'win32': 'torch_cpu.dll'}.get(sys.platform, 'libtorch_cpu.so')
    lib = ctypes.CDLL(os.path.join(lib_dir, name))
    init = lib.nnp_initialize
    init.restype = ctypes.c_int
    if init() != 0:
        raise OSError('nnp_initialize failed (unsupported CPU?)')
    fn = lib.nnp_convolution_inference
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_size_t, ctypes.c_size_t, _Size, _Padding, _Size, _Size,
                   ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                   ctypes.POINTER(ctypes.c_size_t), ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                   ctypes.c_void_p]
    return fn


def _self_test():
    """The cached transform against ATen's call, bit for bit: whole, and a row slice with
    asymmetric padding; returns a reason string when it differs."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 5, 13, 11, generator=g)
    w = torch.randn(7, 5, 3, 3, generator=g)
    b = torch.randn(7, generator=g)
    kernel = WinogradKernel(w)
    ref = torch._nnpack_spatial_convolution(x, w, b, [1, 1])
    if not torch.equal(kernel.conv(x, b, (1, 1, 1, 1)), ref):
        return 'differs from torch._nnpack_spatial_convolution'
    part = kernel.conv(x[:, :, 5:].contiguous(), b, (0, 1, 1, 1))       # output rows 6..12
    if not torch.equal(part, ref[:, :, 6:]):
        return 'a row slice differs from torch._nnpack_spatial_convolution'
    return None


def available() -> bool:
    """This path can run here (bound, and its self-test gave ATen's bits); ``state()`` says why
    not. ``EXPLORER_NNPACK_CACHE=0`` turns it off."""
    global _fn, _state
    if _state is None:
        with _lock:
            if _state is None:
                if os.environ.get('EXPLORER_NNPACK_CACHE', '1') == '0':
                    _state = 'off (EXPLORER_NNPACK_CACHE=0)'
                else:
                    try:
                        _fn = _bind()
                        why = _self_test()
                    except (OSError, AttributeError, RuntimeError, ValueError) as e:
                        why = f'{type(e).__name__}: {e}'
                    if why is None:
                        _state = 'ok'
                    else:
                        _fn = None
                        _state = f'not available ({why})'
                        log.info('NNPACK cached Winograd transforms: %s', _state)
    return _state == 'ok'


def state() -> str:
    available()
    return _state


def _aligned(nbytes: int) -> torch.Tensor:
    """An uninitialised fp32 tensor of at least ``nbytes`` bytes starting on a 64-byte boundary."""
    n = (nbytes + 3) // 4
    buf = torch.empty(n + _ALIGN // 4, dtype=torch.float32)
    off = (-buf.data_ptr()) % _ALIGN // 4
    return buf[off:off + n]


def _take_workspace(nbytes: int) -> torch.Tensor:
    """A workspace of ``nbytes`` or more for one call, from the pool (one per concurrent caller,
    reused). Not a thread-local: a tensor left in a thread's locals is freed while that thread's
    Python state is torn down, which crashed the process when a QThread that had rendered ended."""
    with _pool_lock:
        for i, ws in enumerate(_free_workspaces):
            if ws.numel() * 4 >= nbytes:
                return _free_workspaces.pop(i)
        if _free_workspaces:                       # too small: replaced by a larger one
            _free_workspaces.pop(0)
    return _aligned(nbytes)


def _give_workspace(ws: torch.Tensor) -> None:
    with _pool_lock:
        _free_workspaces.append(ws)


def _check(status: int, what: str):
    if status != 0:
        raise RuntimeError(f'NNPACK {what} failed (nnp_status {status})')


class WinogradKernel:
    """The Winograd transform of a fixed 3x3 weight [O, I, 3, 3] (fp32, CPU), computed once;
    ``conv`` then runs stride-1 convolutions of one sample with it. Only when ``available()``."""

    def __init__(self, weight: torch.Tensor):
        if _fn is None:
            raise RuntimeError('NNPACK cached Winograd transforms are not available')
        if (weight.dtype != torch.float32 or weight.device.type != 'cpu' or weight.ndim != 4
                or tuple(weight.shape[2:]) != (3, 3) or min(weight.shape[:2]) < 1):
            raise ValueError(f'need an fp32 CPU weight [O, I, 3, 3], got {weight.dtype} {tuple(weight.shape)}')
        weight = weight.contiguous()
        self.out_channels, self.in_channels = (int(v) for v in weight.shape[:2])
        size = ctypes.c_size_t(0)
        args = (_ALGO_WT8X8, _PRECOMPUTE, self.in_channels, self.out_channels, _Size(8, 8), _Padding(1, 1, 1, 1),
                _Size(3, 3), _Size(1, 1), None, weight.data_ptr(), None, None)
        _check(_fn(*args, None, ctypes.byref(size), _IDENTITY, None, None, None), 'kernel transform size')
        self.transform = _aligned(size.value)
        _check(_fn(*args, self.transform.data_ptr(), ctypes.byref(size), _IDENTITY, None, None, None),
               'kernel transform')
        self.zero_bias = torch.zeros(self.out_channels)
        self._ws_bytes = {}         # (H, W, padding) -> NNPACK's workspace size for that call

    @property
    def nbytes(self) -> int:
        return self.transform.numel() * 4

    def conv(self, x: torch.Tensor, bias: torch.Tensor | None, padding: tuple, out: torch.Tensor | None = None):
        """conv2d(x, weight, bias) of one sample x [1, I, H, W] with ``padding`` (top, right,
        bottom, left), each 0..2; into ``out`` (contiguous [1, O, Ho, Wo]) when given."""
        if x.dtype != torch.float32 or x.device.type != 'cpu' or x.ndim != 4 or x.shape[0] != 1 \
                or x.shape[1] != self.in_channels or not x.is_contiguous():
            raise ValueError(f'need a contiguous fp32 CPU input [1, {self.in_channels}, H, W], got '
                             f'{x.dtype} {tuple(x.shape)}')
        top, right, bottom, left = (int(p) for p in padding)
        if not all(0 <= p <= 2 for p in (top, right, bottom, left)):
            raise ValueError(f'padding must be 0..2, got {padding}')
        H, W = int(x.shape[2]), int(x.shape[3])
        Ho, Wo = H + top + bottom - 2, W + left + right - 2
        if Ho < 1 or Wo < 1:
            raise ValueError(f'input {H}x{W} with padding {padding} leaves no output')
        if bias is None:
            bias = self.zero_bias
        elif bias.dtype != torch.float32 or bias.device.type != 'cpu' or bias.shape != (self.out_channels,):
            raise ValueError(f'need an fp32 CPU bias [{self.out_channels}]')
        bias = bias.contiguous()
        if out is None:
            out = torch.empty([1, self.out_channels, Ho, Wo])
        elif (out.dtype != torch.float32 or out.device.type != 'cpu' or not out.is_contiguous()
              or tuple(out.shape) != (1, self.out_channels, Ho, Wo)):
            raise ValueError(f'need a contiguous fp32 CPU output [1, {self.out_channels}, {Ho}, {Wo}]')
        args = (_ALGO_WT8X8, _REUSE, self.in_channels, self.out_channels, _Size(W, H),
                _Padding(top, right, bottom, left), _Size(3, 3), _Size(1, 1), x.data_ptr(),
                self.transform.data_ptr(), bias.data_ptr(), out.data_ptr())
        key = (H, W, top, right, bottom, left)
        need = self._ws_bytes.get(key)
        if need is None:            # (asked once per shape: the size depends on nothing else)
            size = ctypes.c_size_t(0)
            _check(_fn(*args, None, ctypes.byref(size), _IDENTITY, None, None, None), 'workspace size')
            need = self._ws_bytes[key] = size.value
        ws = _take_workspace(need)
        try:
            size = ctypes.c_size_t(ws.numel() * 4)
            _check(_fn(*args, ws.data_ptr(), ctypes.byref(size), _IDENTITY, None, None, None), 'convolution')
        finally:
            _give_workspace(ws)
        return out
