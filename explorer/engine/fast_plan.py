"""The StyleGAN2 synthesis plan behind ``FastRenderer``: constants precomputed once per
checkpoint, and the folding math that turns the up layers into cheaper convolutions.

Equalized-lr gains, the activation gain and the learned noise strength are folded into
the weights, bias and noise constants; demodulation coefficients come from a small
matrix-vector product with the precomputed per-(out, in) squared weight norms
(``d = rsqrt(W2 @ s^2 + 1e-8)``); the 3x3 stride-2 transposed conv of the up layers
runs as four ordinary convs (one per output phase) or, with NNPACK at high resolution,
folded with its FIR filter into one conv followed by ``pixel_shuffle``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from explorer.engine import nnpack_winograd
from explorer.engine.cpu_heap import keep_freed_memory
from explorer.engine.interrupt import checker

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- CPU lanes
# ATen runs NNPACK on the calling thread only (its pool is pinned to one thread, see
# ``capabilities.nnpack_available``), and oneDNN's OpenMP threads barely pay at the plan's
# small and mid-sized layers (and stall when another process holds a core), so on a CPU with
# more than one core the plan spreads work over "lanes" itself: the calling thread plus
# persistent worker threads (torch releases the GIL inside every op), each at one intra-op
# thread. Two uses, both bit-identical to the work done on one thread:
# - one sample: each conv layer split over the lanes, each lane running the whole layer (conv,
#   FIR, bias, noise, activation, clamp) for its slice and writing it into the layer's output:
#   NNPACK layers on maps of ``ROW_SPLIT_MIN`` rows or more by rows, cut on NNPACK's 6-row
#   Winograd tiles (``SG2Plan._rows_layer``, ``nnpack_rows``: each slice reads exactly the input
#   rows its tiles read), the others by output channels: NNPACK, oneDNN's
#   direct and depthwise convs and the elementwise ops compute every output channel (and every
#   tile) independently, with the same reduction order whatever the slice;
# - a CPU batch rendered sample by sample: the samples shared out over the lanes.
# Every op the plan uses gives the same bits at any thread count, so a render does not depend
# on the number of lanes (tests/engine/test_fast_threads.py). The number of lanes is the
# calling thread's ``torch.get_num_threads()``.

_LANE_PREFIX = 'explorer-cpu-lane'
_lanes_lock = threading.Lock()
_idle_workers: list = []        # _LaneWorker threads waiting for a call (taken and given back by run_lanes)
_worker_count = 0
_in_lane = threading.local()


class _LaneWorker:
    """A persistent lane thread: ``start(fn)`` hands it one call, ``join()`` waits until it is done.
    Two locks used as binary semaphores: a split of two tiny slices costs ~85 us this way against
    ~130 us through a ThreadPoolExecutor's queue and futures (2-core EPYC), and a frame has a
    dozen splits or more. A daemon thread: it only ever waits between calls."""

    def __init__(self, name):
        self._go = threading.Lock()
        self._go.acquire()
        self._done = threading.Lock()
        self._done.acquire()
        self._fn = None
        threading.Thread(target=self._loop, name=name, daemon=True).start()

    def _loop(self):
        while True:
            self._go.acquire()
            try:
                self._fn()
            except BaseException:  # noqa: BLE001 - run_lanes' lane() keeps its own errors
                log.exception('CPU lane worker')
            finally:
                self._fn = None
                self._done.release()

    def start(self, fn):
        self._fn = fn
        self._go.release()

    def join(self):
        self._done.acquire()


def _take_workers(n: int) -> list:
    global _worker_count
    with _lanes_lock:
        taken = [_idle_workers.pop() for _ in range(min(n, len(_idle_workers)))]
        while len(taken) < n:
            _worker_count += 1
            taken.append(_LaneWorker(f'{_LANE_PREFIX}-{_worker_count}'))
        return taken


def _give_back(workers: list) -> None:
    with _lanes_lock:
        _idle_workers.extend(workers)


def weights_token(module: torch.nn.Module) -> tuple:
    """Changes whenever a parameter or buffer of ``module`` is replaced or modified in place (a
    cached plan's key: one (data_ptr, version) pair per tensor)."""
    return tuple((t.data_ptr(), t._version) for t in list(module.parameters()) + list(module.buffers()))


def cpu_lanes() -> int:
    """Lanes a CPU render on this thread may use: its intra-op thread count; 1 inside a lane."""
    if getattr(_in_lane, 'active', False):
        return 1
    return max(1, torch.get_num_threads())


def _as_lane(fn, *args):
    """Run ``fn`` as a lane: no further splitting inside it; a worker thread runs its ops at one
    intra-op thread (``torch.set_num_threads`` there also sets the process-wide defaults; the
    calling thread of a split or batch restores them when it is done)."""
    if threading.current_thread().name.startswith(_LANE_PREFIX) and torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    outer = getattr(_in_lane, 'active', False)
    _in_lane.active = True
    try:
        return fn(*args)
    finally:
        _in_lane.active = outer


@contextlib.contextmanager
def one_intra_op_thread():
    """The calling thread's ops at one thread for the duration, restored after (it also
    restores the process-wide defaults that ``torch.set_num_threads`` touches: MKL's)."""
    threads = torch.get_num_threads()
    if threads != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if threads != 1:
            torch.set_num_threads(threads)


SMALL_BATCH = 16             # few_samples_on_cpu: batches up to this size


def few_samples_on_cpu(t):
    """A context running the calling thread's ops at one intra-op thread when ``t`` is a CPU batch of
    at most ``SMALL_BATCH`` samples, for the mapping networks: their matrix-vector products gain
    nothing from more threads (paper256, 1 sample: 2.86 ms at 2 threads, 1.34 ms at 1, the same
    bits), and an OpenMP region leaves libgomp's workers spinning on the cores the CPU lanes of the
    synthesis that follows need (mapping at 2 threads then synthesis: 125.8 ms, at 1: 118.9 ms)."""
    if t is not None and t.device.type == 'cpu' and t.shape[0] <= SMALL_BATCH and torch.get_num_threads() > 1:
        return one_intra_op_thread()
    return contextlib.nullcontext()


LAYER_SPLIT_MIN = 32         # a conv layer split over lanes: output channels per slice at least
ROW_SPLIT_MIN = 128          # NNPACK layers with this many input rows or more split by rows
ROW_SPLIT_MIN_CHANNELS = 64  # ... and this many input channels or more
ROW_SLICE_MIN_ROWS = 16      # a row slice has this many output rows at least
COL2IM_MAX_PIXELS = 64       # modulated-input up layers on maps this small: GEMM + col2im
WINO_MIN_PIXELS = 256        # modulated-input 3x3 convs on maps this large: cached Winograd transforms
WINO_MAX_BYTES = 512 << 20   # a plan's cached Winograd transforms in all, at most


def run_split(fn, cuts, lanes):
    """``[fn(a, b) for consecutive (a, b) in cuts]`` shared out over ``lanes`` lanes (the
    calling thread and lane workers, one intra-op thread each); results in order. A lane takes
    the next slice when it is free, so with more slices than lanes a lane that another process
    holds up takes fewer."""
    pairs = list(zip(cuts[:-1], cuts[1:]))
    return run_lanes(lambda i: fn(*pairs[i]), len(pairs), lanes)


def run_lanes(fn, count, lanes=None):
    """``[fn(i) for i in range(count)]``, the calls shared out over ``lanes`` threads (default
    ``cpu_lanes()``), each at one intra-op thread; results in order. A lane takes the next
    index when it is free, so a lane slowed by other work on the machine takes fewer. The
    first exception (e.g. ``Cancelled``) is raised after every lane has stopped."""
    lanes = min(cpu_lanes() if lanes is None else lanes, count)
    if lanes < 2:
        return [fn(i) for i in range(count)]
    out = [None] * count
    lock = threading.Lock()
    nxt = iter(range(count))
    failed = []

    def lane():
        while not failed:
            with lock:
                i = next(nxt, None)
            if i is None:
                return
            try:
                out[i] = fn(i)
            except BaseException as e:  # noqa: BLE001 - re-raised on the calling thread
                failed.append(e)
                return

    workers = _take_workers(lanes - 1)
    with one_intra_op_thread():
        for w in workers:
            w.start(lambda: _as_lane(lane))
        try:
            _as_lane(lane)
        finally:
            for w in workers:
                w.join()
            _give_back(workers)
    if failed:
        raise failed[0]
    return out


def channel_cuts(channels, parts):
    """Cuts of ``channels`` output channels into at most ``parts`` slices of about equal size,
    each a multiple of ``LAYER_SPLIT_MIN`` (the last slice ends at ``channels``)."""
    unit = LAYER_SPLIT_MIN
    parts = max(1, min(parts, channels // unit))
    return sorted({unit * round(channels / unit * i / parts) for i in range(parts)} | {channels})


def row_parts(rows, lanes):
    """Row slices for an NNPACK conv split by rows: one per lane, of ``ROW_SLICE_MIN_ROWS`` rows or
    more. (Was: at most one per 64 rows, when each slice also recomputed 6 rows above it; since
    ``nnpack_rows`` reads only its own rows, more slices cost little. Measured one thread, NNPACK
    and the slice copies, 1 / 2 / 4 / 8 slices in turn: conv 128 @ 128 19.2 / 18.3 / 18.4 / 20.1 ms,
    conv 64 @ 256 24.4 / 27.7 / 23.4 / 22.2, folded up 128 -> 4x64 @ 128 31.0 / 32.4 / 35.0 / 37.8:
    so on 4 or 8 cores the 128 px layers use every lane instead of 2. More slices than lanes were
    measured slower in the plan at 1 and 2 threads: not used.)"""
    return max(1, min(lanes, rows // ROW_SLICE_MIN_ROWS))


def tile_row_cuts(rows, parts):
    """Cuts of ``rows`` output rows into ``parts`` about equal slices, each cut a multiple of 6
    (NNPACK's F(6x6, 3x3) output tiles)."""
    inner = {6 * round(rows * j / parts / 6) for j in range(1, parts)}
    return sorted({0, rows} | {c for c in inner if 0 < c < rows})


def nnpack_rows(x, w, bias, p, r0, r1):
    """Output rows ``r0:r1`` of ``torch._nnpack_spatial_convolution(x, w, bias, [p, p])`` (x [1, I,
    H, W], w [O, I, 3, 3] or its ``nnpack_winograd.WinogradKernel`` (p <= 2), ``r0`` a multiple of
    6): the input rows they read, ``r0 - p`` to ``r1 - p + 1``, copied (rows outside the map as
    zeros) and convolved without row padding. The slice's 6x6 output tiles then start where the
    whole conv's do and read the same numbers: the same bits, and no rows computed twice."""
    _, I, H, W = x.shape
    a, b = r0 - p, r1 - p + 2
    lo, hi = max(a, 0), min(b, H)
    if (lo, hi) == (a, b):
        inp = x[:, :, a:b].contiguous()
    else:
        inp = torch.empty([1, I, b - a, W], dtype=x.dtype)
        if lo > a:
            inp[:, :, :lo - a].zero_()
        if hi < b:
            inp[:, :, hi - a:].zero_()
        inp[:, :, lo - a:hi - a].copy_(x[:, :, lo:hi])
    if isinstance(w, nnpack_winograd.WinogradKernel):
        return w.conv(inp, bias, (0, p, 0, p))
    return torch._nnpack_spatial_convolution(inp, w, bias, [0, p])


def nnpack_conv(x, w, bias, padding, lanes=None):
    """``torch._nnpack_spatial_convolution(x, w, bias, [padding, padding])`` for one sample
    (x [1, I, H, W] contiguous, w [O, I, 3, 3]) spread over ``lanes`` lanes (default
    ``cpu_lanes()``), with the bits of the single call: by rows on maps of ``ROW_SPLIT_MIN`` rows
    or more with ``ROW_SPLIT_MIN_CHANNELS`` input channels or more (cut on NNPACK's 6-row output
    tiles, each slice reading the input rows its tiles read, see ``SG2Plan._rows_layer``), else
    by output channels (``LAYER_SPLIT_MIN`` or more per slice), else whole."""
    lanes = cpu_lanes() if lanes is None else lanes
    _, I, H, W = x.shape
    O, _, k, _ = w.shape
    p = int(padding)
    Ho, Wo = H + 2 * p - k + 1, W + 2 * p - k + 1
    if lanes < 2 or k != 3 or not 1 <= p <= 6:
        return torch._nnpack_spatial_convolution(x, w, bias, [p, p])
    if H >= ROW_SPLIT_MIN and I >= ROW_SPLIT_MIN_CHANNELS and Ho >= 12:
        out = torch.empty([1, O, Ho, Wo], dtype=x.dtype)

        def rows(r0, r1):
            return out[:, :, r0:r1].copy_(nnpack_rows(x, w, bias, p, r0, r1))
        cuts = tile_row_cuts(Ho, row_parts(Ho, lanes))
        run_split(rows, cuts, lanes)
        return out
    return by_output_channels(
        lambda a, b: torch._nnpack_spatial_convolution(x, w[a:b], None if bias is None else bias[a:b], [p, p]),
        O, [1, O, Ho, Wo], lanes)


def by_output_channels(conv, channels, shape, lanes):
    """``conv(0, channels)`` (one sample, output ``shape`` [1, channels, H, W]) as output-channel
    slices ``conv(a, b)`` spread over ``lanes`` lanes, written into one output; whole when there
    are fewer than two slices' worth of channels. For convs that compute every output channel on
    its own (NNPACK, oneDNN's direct convs): the bits of the whole call."""
    if lanes < 2 or channels < 2 * LAYER_SPLIT_MIN:
        return conv(0, channels)
    out = torch.empty(shape)
    run_split(lambda a, b: out[:, a:b].copy_(conv(a, b)), channel_cuts(channels, lanes), lanes)
    return out


def _shuffled_epilogue(y, noise, clamp, dst, d=None, bias=None):
    """A folded up layer's ``pixel_shuffle`` into ``dst`` and its epilogue (demodulation and bias
    when ``d`` is given, noise, leaky ReLU, clamp): y [1, 4*O, h, w] (channels in pixel_shuffle's
    order (o, a, b)) -> dst [1, O, 2h, 2w] (may be a row slice of a larger output). The shuffle
    first, then the elementwise ops in place on ``dst``: measured 6.7 -> 5.3 ms at 256 px (64
    channels, one thread) against the ops on the strided phase views before the shuffle; the
    same bits (elementwise ops commute with the shuffle's permutation)."""
    _, C, h, w = y.shape
    O = C // 4
    dst.unflatten(-1, (w, 2)).unflatten(-3, (h, 2)).copy_(y.unflatten(1, (O, 2, 2)).permute(0, 1, 4, 2, 5, 3))
    if d is not None:
        dst = dst.mul_(d.reshape(1, O, 1, 1)).add_(bias.reshape(1, O, 1, 1))
    if noise is not None:
        dst = dst.add_(noise)
    dst = F.leaky_relu_(dst, 0.2)
    if clamp is not None:
        dst = dst.clamp_(-clamp, clamp)
    return dst


def fir_up_params(f: torch.Tensor, channels: int, up: int, pad0: int, pad1: int, gain: float, dtype, device):
    """Depthwise transposed-conv form of upfirdn2d(up=up, padding=[pad0, pad1] on both axes).

    Zero insertion followed by correlation with the flipped filter equals a strided
    transposed convolution with the unflipped filter and padding ``K - 1 - pad0``;
    ``output_padding = pad1 - pad0 + up - 1`` makes the lengths agree (negative: crop).
    """
    if f.ndim == 1:
        f = torch.outer(f, f)
    k = f.shape[0]
    pt = k - 1 - pad0
    if pt < 0:
        raise NotImplementedError('FIR padding larger than the filter')
    w = (f * gain).to(device=device, dtype=dtype)[None, None].expand(channels, 1, k, k).contiguous()
    return w, pt, pad1 - pad0 + up - 1


def upfirdn_up(x, w, up, pt, out_pad):
    """x: [N, C, H, W] -> [N, C, H*up, W*up] (depthwise, groups=C)."""
    C = x.shape[1]
    if out_pad < 0:
        y = F.conv_transpose2d(x, w, stride=up, padding=pt, groups=C)
        return y[:, :, :out_pad, :out_pad]
    return F.conv_transpose2d(x, w, stride=up, padding=pt, output_padding=out_pad, groups=C)


def separable_up2_taps(f: torch.Tensor, gain: float):
    """Per-axis taps (rows, columns) of a symmetric 4-tap FIR ``f`` (1-D, or 2-D and exactly the
    outer product of its row and column sums, as ``setup_filter`` makes [1, 3, 3, 1]) for
    ``upsample2_rows``, each axis carrying sqrt(``gain``); None for any other filter."""
    f = f.detach().to('cpu', torch.float32)
    if f.ndim == 1:
        f = torch.outer(f, f)
    if tuple(f.shape) != (4, 4):
        return None
    total = f.sum()
    a, b = f.sum(1), f.sum(0)
    if (not torch.equal(torch.outer(a, b) / total, f) or not torch.equal(a, a.flip(0))
            or not torch.equal(b, b.flip(0))):
        return None
    g = (gain / float(total)) ** 0.5
    return tuple(float(v) * g for v in a), tuple(float(v) * g for v in b)


def _up2_axis(x, t, dim):
    """2x upsampling along ``dim`` (-1 or -2) with the symmetric 4-tap filter ``t`` and upfirdn2d's
    padding: out[2j] = t2 x[j] + t0 x[j-1], out[2j+1] = t1 x[j] + t3 x[j+1] (zero outside)."""
    t0, t1, t2, t3 = t
    L = x.shape[dim]
    even = x * t2
    even.narrow(dim, 1, L - 1).add_(x.narrow(dim, 0, L - 1), alpha=t0)
    odd = x * t1
    odd.narrow(dim, 0, L - 1).add_(x.narrow(dim, 1, L - 1), alpha=t3)
    shape = list(x.shape)
    shape[dim] *= 2
    return torch.stack([even, odd], dim=x.ndim + dim + 1).reshape(shape)


def upsample2_rows(x, taps_h, taps_w, r0, r1):
    """Output rows r0:r1 (even) of the image's 2x upsampling (``upfirdn_up`` with the block's
    separable symmetric 4-tap filter, gain 4): x [N, C, L, W] -> [N, C, r1 - r0, 2W], in 1-D passes
    of a few elementwise ops. Every output row is made by the same operations whatever the
    slice (the rows beyond the map as zeros): the same bits by rows as whole, so the row lanes of
    the last layer upsample the image too. (In the plan the depthwise transposed conv took ~0.96
    ms at 128 -> 256 px, these passes ~0.5 ms; float rounding differs from the conv's.)"""
    N, C, L, W = x.shape
    j0, j1 = r0 // 2, (r1 + 1) // 2
    lo, hi = max(j0 - 1, 0), min(j1 + 1, L)
    xw = _up2_axis(x[:, :, lo:hi], taps_w, -1)
    if (lo, hi) != (j0 - 1, j1 + 1):
        xe = xw.new_zeros([N, C, j1 - j0 + 2, 2 * W])
        xe[:, :, lo - j0 + 1:hi - j0 + 1] = xw
    else:
        xe = xw
    t0, t1, t2, t3 = taps_h
    mid = xe[:, :, 1:-1]
    even = (mid * t2).add_(xe[:, :, :-2], alpha=t0)
    odd = (mid * t1).add_(xe[:, :, 2:], alpha=t3)
    y = torch.stack([even, odd], dim=3).reshape(N, C, 2 * (j1 - j0), 2 * W)
    return y[:, :, r0 - 2 * j0:r1 - 2 * j0]


def fir_pad_params(f: torch.Tensor, channels, gain, dtype, device):
    """Depthwise correlation weights for a same-rate FIR (what upfirdn2d does with up=down=1)."""
    if f.ndim == 1:
        f = torch.outer(f, f)
    w = (f * gain).flip([0, 1]).to(device=device, dtype=dtype)
    return w[None, None].expand(channels, 1, *f.shape).contiguous()


def _reshape(t, shape):
    """``t.reshape(shape)``, but ``t`` itself when the shape is unchanged: reshape re-derives
    the stride of size-1 dims, which makes oneDNN misread a channels_last tensor as NCHW."""
    return t if list(t.shape) == list(shape) else t.reshape(shape)


def polyphase_3x3(weight):
    """Split a 3x3 stride-2 transposed conv (unflipped weight [O, I, 3, 3]) into the
    ordinary correlations that produce output phase (py, px): phase 0 along an axis
    reads taps (2, 0) from (x[m-1], x[m]) (padding 1), phase 1 reads tap 1 (no padding).
    -> [(py, px, sub-weight [O, I, kh, kw], (pad_y, pad_x))]."""
    taps = {0: [2, 0], 1: [1]}
    out = []
    for py in (0, 1):
        for px in (0, 1):
            sub = weight[:, :, taps[py]][:, :, :, taps[px]].contiguous()
            out.append((py, px, sub, (1 - py, 1 - px)))
    return out


def fold_up_fir(weight, fir, fir_pad):
    """The whole up layer (3x3 stride-2 transposed conv with unflipped ``weight`` [O, I, 3, 3],
    then the depthwise FIR correlation ``fir`` [O, 1, J, J] with zero padding ``fir_pad``) as
    ONE ordinary 3x3 conv with 4*O output channels followed by ``pixel_shuffle(., 2)``.

    Output pixel (2q+a, 2r+b) = sum over (u, v) of x[q+u, r+v] * G_ab[u, v] with
    G_ab[u, v] = sum_{j1, j2} fir[j1, j2] * weight[a + j1 - p - 2u, b + j2 - p - 2v]
    (p = fir_pad; taps outside the 3x3 weight are zero). Returns the kernel stack
    [4*O, I, 3, 3] in pixel_shuffle's channel order (o, a, b), or None when some phase
    needs taps outside u, v in {-1, 0, 1} (then the layer keeps the polyphase path)."""
    O, I, k, _ = weight.shape
    J = fir.shape[-1]
    p = int(fir_pad)
    if k != 3 or fir.shape[-2] != J:
        return None
    for a in (0, 1):        # the u range that has any non-zero tap must be within [-1, 1]
        lo = -((p + k - 1 - a) // 2)            # ceil((a - p - (k - 1)) / 2)
        hi = (a + J - 1 - p) // 2
        if lo < -1 or hi > 1:
            return None
    f = fir[:, 0].to(torch.float64)                                   # [O, J, J]
    w = weight.to(torch.float64)
    G = torch.zeros(O, 2, 2, I, 3, 3, dtype=torch.float64, device=weight.device)
    for a in (0, 1):
        for b in (0, 1):
            for u in (-1, 0, 1):
                for v in (-1, 0, 1):
                    acc = G[:, a, b, :, u + 1, v + 1]
                    for j1 in range(J):
                        t1 = a + j1 - p - 2 * u
                        if not 0 <= t1 < k:
                            continue
                        for j2 in range(J):
                            t2 = b + j2 - p - 2 * v
                            if 0 <= t2 < k:
                                acc += f[:, j1, j2, None] * w[:, :, t1, t2]
    return G.reshape(4 * O, I, 3, 3).to(weight.dtype).contiguous()


@dataclass
class LayerPlan:
    kind: str                      # 'conv' | 'up' | 'torgb'
    affine_w: torch.Tensor         # [I, w_dim] (fp32; equalized-lr gain folded)
    affine_b: torch.Tensor         # [I]
    weight: torch.Tensor           # [O, I, k, k] raw weight (fp32)
    w2: torch.Tensor | None        # [O, I] sum_k weight^2, for demodulation
    bias: torch.Tensor             # [O] bias * act_gain (conv) or bias (torgb)
    act_gain: float
    clamp: float | None            # already multiplied by the gain
    padding: int = 0
    noise_const: torch.Tensor | None = None   # [H, W] noise_const * strength * act_gain
    noise_strength: float = 0.0               # strength * act_gain (for random noise)
    resolution: int = 0
    ws_index: int = 0
    fir_w: torch.Tensor | None = None         # up layers: depthwise 4x4 FIR (gain folded)
    fir_pad: int = 0
    extra: dict = field(default_factory=dict)


class SG2Plan:
    """Precomputed constants of a StyleGAN2 SynthesisNetwork for one device/dtype."""

    def __init__(self, synthesis, device, dtype, channels_last=False):
        self.device = torch.device(device)
        if self.device.type == 'cpu':
            keep_freed_memory()
        self.dtype = dtype
        self.channels_last = channels_last
        self.use_nnpack = False
        # fp32 NNPACK up layers from this output resolution on run folded (fold_up_fir):
        # measured on a 2-core EPYC at 1 thread, config-f: 1024 px 742 -> ~360 ms, 512 px
        # 355 -> ~225 ms; at 256 px and below the polyphase path is as fast or faster.
        self.fold_from = 256
        self.synthesis = synthesis
        self._tls = threading.local()       # .lanes while ``run`` runs on this thread
        self.slices_per_lane = 1            # a split layer: slices per lane (taken as lanes get free)
        # Modulated-input 3x3 convs on maps of WINO_MIN_PIXELS or more run on NNPACK with their
        # Winograd kernel transforms cached (nnpack_winograd; turned off here if a call fails),
        # up to ``wino_budget`` bytes of transforms; and so do the up layers from output
        # resolution ``wino_fold_from`` on whose input has fewer than ROW_SPLIT_MIN rows, folded
        # (measured one thread, up layer 256 -> 128 channels at 128 px, paper256: polyphase 32.2 ms,
        # folded through ATen 31.1, folded on the cache 29.5; config-f's 512 -> 256: 110.5 / 110.4 /
        # 99.5 ms; at 64 px (512 -> 256) folding is slower: 31.3 ms for the conv alone vs 27.3).
        self.use_wino = True
        self.styles_up_front = True         # lanes >= 2: every layer's styles first, on the lanes
        self.rgb_by_rows = True             # one fp32 CPU sample: ToRGB as torch.mm, in the row lanes
        self.separable_img_up = True        # CPU: the image's 2x upsampling in 1-D passes (upsample2_rows)
        self.wino_budget = WINO_MAX_BYTES
        self.wino_fold_from = 128
        self._wino_bytes = 0
        self._wino_lock = threading.Lock()
        self.blocks = []
        for res, start, count in synthesis.block_ws_slices():
            block = getattr(synthesis, f'b{res}')
            entry = {'res': res, 'block': block, 'layers': [], 'torgb': None, 'skip': None}
            idx = start
            if block.in_channels == 0:
                entry['const'] = block.const.detach().to(self.device, torch.float32)
            else:
                entry['layers'].append(self._layer(block.conv0, 'up', idx))
                idx += 1
            entry['layers'].append(self._layer(block.conv1, 'conv', idx))
            idx += 1
            if block.is_last or block.architecture == 'skip':
                entry['torgb'] = self._torgb(block.torgb, idx)
            if block.in_channels != 0 and block.architecture == 'resnet':
                entry['skip'] = block.skip
            f = block.resample_filter.detach().to(self.device, torch.float32)
            fw = f.shape[-1]
            # upsample2d(img): padding [(fw+1)//2, (fw-2)//2], gain 4.
            entry['img_up'] = fir_up_params(f, synthesis.img_channels, 2, (fw + 1) // 2, (fw - 2) // 2, 4.0,
                                             torch.float32, self.device)
            entry['img_up_taps'] = separable_up2_taps(f, 4.0)
            self.blocks.append(entry)

    def _affine(self, layer):
        fc = layer.affine
        w = fc.weight.detach().to(self.device, torch.float32) * fc.weight_gain
        b = fc.bias.detach().to(self.device, torch.float32) * fc.bias_gain
        return w, b

    def _layer(self, layer, kind, ws_index):
        aw, ab = self._affine(layer)
        weight = layer.weight.detach().to(self.device, torch.float32).contiguous()
        g = float(layer.act_gain)
        plan = LayerPlan(kind=kind, affine_w=aw, affine_b=ab, weight=weight,
                          w2=weight.square().sum(dim=[2, 3]), bias=layer.bias.detach().to(self.device) * g,
                          act_gain=g, clamp=(layer.conv_clamp * 1.0) if layer.conv_clamp is not None else None,
                          padding=layer.padding, resolution=layer.resolution, ws_index=ws_index)
        if layer.activation != 'lrelu':
            raise NotImplementedError(f'fast path supports lrelu synthesis layers, got {layer.activation!r}')
        if layer.use_noise:
            strength = float(layer.noise_strength.detach())
            plan.noise_const = (layer.noise_const.detach().to(self.device, torch.float32) * (strength * g))
            plan.noise_strength = strength * g
        if kind == 'up':
            f = layer.resample_filter.detach().to(self.device, torch.float32)
            if f.ndim == 1:
                f = torch.outer(f, f)
            # conv2d_resample's up path: transposed conv (no padding for k=3, p=1), then
            # FIR with padding [p0, p1] = [p + (fw+1)//2 - (k-1), p + (fw-2)//2 - (k-2)], gain 4.
            fw = f.shape[-1]
            k = weight.shape[-1]
            p0 = layer.padding + (fw + 1) // 2 - (k - 1)
            p1 = layer.padding + (fw - 2) // 2 - (k - 2)
            if p0 != p1 or p0 < 0:
                raise NotImplementedError('asymmetric up-conv padding')
            plan.fir_w = fir_pad_params(f, weight.shape[0], 4.0, torch.float32, self.device)
            plan.fir_pad = p0
            if k == 3:
                plan.extra['phases'] = polyphase_3x3(weight)
        return plan

    def _torgb(self, layer, ws_index):
        aw, ab = self._affine(layer)
        aw = aw * layer.weight_gain
        ab = ab * layer.weight_gain
        weight = layer.weight.detach().to(self.device, torch.float32)
        return LayerPlan(kind='torgb', affine_w=aw, affine_b=ab, weight=weight, w2=None,
                          bias=layer.bias.detach().to(self.device, torch.float32), act_gain=1.0,
                          clamp=layer.conv_clamp, ws_index=ws_index)

    # ------------------------------------------------------------------ execution

    def cast(self, dtype, fp32_upto=0):
        """Low-precision copies of the conv weights / FIR filters (styles stay fp32).
        Blocks up to resolution ``fp32_upto`` stay fp32: they are cheap, and rounding
        errors made there are amplified by every later layer."""
        for entry in self.blocks:
            for lp in entry['layers']:
                if entry['res'] <= fp32_upto:
                    continue
                lp.extra['dtype'] = dtype
                if lp.fir_w is not None:
                    lp.extra['fir_w'] = lp.fir_w.to(dtype)
                lp.extra['bias'] = lp.bias.to(dtype)
                if lp.noise_const is not None:
                    lp.extra['noise_const'] = lp.noise_const.to(dtype)
        self.dtype = dtype

    def noise_list(self, batch, noise_mode, scales, generator=None):
        """Per conv layer: additive noise (act gain and strength folded) or None, in the
        order and shapes the reference draws random noise."""
        out = []
        for entry in self.blocks:
            for lp in entry['layers']:
                if lp.noise_const is None or noise_mode == 'none':
                    out.append(None)
                    continue
                scale = scales[lp.ws_index]
                if noise_mode == 'const':
                    n = lp.extra.get('noise_const', lp.noise_const)
                    out.append(n if scale == 1 else n * scale)
                else:
                    shape = [batch, 1, lp.resolution, lp.resolution]
                    if generator is None:
                        r = torch.randn(shape, device=self.device)
                    else:
                        r = torch.randn(shape, generator=generator).to(self.device)
                    out.append((r * (lp.noise_strength * scale)).to(lp.extra.get('dtype', torch.float32)))
        return out

    def styles(self, lp, w):
        return torch.addmm(lp.affine_b.unsqueeze(0), w, lp.affine_w.t())  # [N, I]

    def _nnpack_ok(self, x, w):
        """NNPACK pays for fp32 3x3 convs on maps of 32x32 and more (its Winograd tiles make
        tiny maps slower than oneDNN)."""
        return (self.use_nnpack and x.dtype == torch.float32 and tuple(w.shape[-2:]) == (3, 3)
                and x.shape[-1] * x.shape[-2] >= 1024)

    def _wino_ok(self, lp, xs, fold=False):
        """This layer's modulated-input conv (``xs``: activations times styles, one CPU sample)
        runs on NNPACK with cached Winograd kernel transforms (``nnpack_winograd``): a stride-1 3x3
        conv with padding 1 (``fold``: an up layer's folded kernel stack) on a map of
        ``WINO_MIN_PIXELS`` or more, in fp32, while the plan's transforms fit ``wino_budget``.
        Measured one thread, 512 -> 512 channels, NNPACK with / without the cache / oneDNN: 8x8
        4.8 / 9.6 / 3.2 ms (not used there), 16x16 6.4 / 11.2 / 11.6 ms, 32x32 16.2 / 20.9 / 42.5 ms."""
        if not (xs is not None and self.use_nnpack and self.use_wino and xs.dtype == torch.float32
                and xs.shape[0] == 1 and xs.device.type == 'cpu' and xs.shape[-1] * xs.shape[-2] >= WINO_MIN_PIXELS):
            return False
        if not fold and not (lp.kind == 'conv' and lp.padding == 1 and tuple(lp.weight.shape[-2:]) == (3, 3)):
            return False
        key = 'wino_fold' if fold else 'wino'
        if key not in lp.extra:
            O, I = lp.weight.shape[:2]
            need = (4 if fold else 1) * O * I * 64 * 4          # NNPACK: 8x8 fp32 per kernel
            if self._wino_bytes + need > self.wino_budget:
                return False
        return nnpack_winograd.available()

    def _wino_fold_ok(self, lp, x):
        """This up layer runs folded on cached transforms, its input modulated: one CPU sample in
        fp32, output resolution ``wino_fold_from`` or more, input of fewer than ``ROW_SPLIT_MIN``
        rows (a layer split by rows would modulate its input on the calling thread alone)."""
        return (lp.kind == 'up' and 'phases' in lp.extra and x.shape[0] == 1 and self._dt(lp) == torch.float32
                and self.wino_fold_from <= 2 * x.shape[-2] and x.shape[-2] < ROW_SPLIT_MIN
                and self._nnpack_ok(x, lp.weight) and self._wino_ok(lp, x, fold=True))

    def _wino(self, lp, parts=1, fold=False):
        """The cached Winograd kernels (cuts, kernels) of the layer's weight (``fold``: of its
        folded kernel stack, 4 kernels per output channel): one ``WinogradKernel`` per
        output-channel slice ``cuts[k]:cuts[k + 1]``, so a split over the lanes reuses them. Built
        on first use; rebuilt (replacing the old ones) when ``channel_cuts(O, parts)`` has more
        slices than the cache. Fewer lanes run several slices in turn: every output channel is
        computed on its own, so the bits do not depend on the slices."""
        O = lp.weight.shape[0]
        key = 'wino_fold' if fold else 'wino'
        cache = lp.extra.get(key)
        if cache is None or (parts > len(cache[1]) and len(channel_cuts(O, parts)) > len(cache[0])):
            with self._wino_lock:
                cache = lp.extra.get(key)
                cuts = channel_cuts(O, parts)
                if cache is None or len(cuts) > len(cache[0]):
                    weight, m = (lp.extra['fold'], 4) if fold else (lp.weight.to(torch.float32), 1)
                    kernels = [nnpack_winograd.WinogradKernel(weight[m * a:m * b]) for a, b in zip(cuts[:-1], cuts[1:])]
                    old = 0 if cache is None else sum(k.nbytes for k in cache[1])
                    self._wino_bytes += sum(k.nbytes for k in kernels) - old
                    cache = lp.extra[key] = (cuts, kernels)
        return cache

    def _wino_conv(self, lp, xs, a, b, out=None, fold=False):
        """Output channels a:b of the stride-1 3x3 conv of ``xs`` with the layer's raw weight (or
        of its folded stack, channels 4a:4b), padding 1, on the cached Winograd kernels (into
        ``out`` when given, contiguous); None when a:b is not made of cached slices or NNPACK
        failed (the caller then uses ``_conv``)."""
        cuts, kernels = self._wino(lp, fold=fold)
        if a not in cuts or b not in cuts:
            return None
        m = 4 if fold else 1
        H, W = xs.shape[-2:]
        if out is None:
            out = torch.empty([1, m * (b - a), H, W], dtype=xs.dtype)
        try:
            for k in range(cuts.index(a), cuts.index(b)):
                kernels[k].conv(xs, None, (1, 1, 1, 1), out[:, m * (cuts[k] - a):m * (cuts[k + 1] - a)])
        except RuntimeError:
            self.use_wino = False
            return None
        return out

    def _conv(self, x, w, bias, padding):
        """Ordinary stride-1 conv; NNPACK (Winograd, about 2x oneDNN's fp32 speed for 3x3 on
        CPU, relative error ~1e-5) where enabled, else ``F.conv2d``."""
        if self._nnpack_ok(x, w):
            try:
                return torch._nnpack_spatial_convolution(x.contiguous(), w.contiguous(), bias, [padding, padding])
            except RuntimeError:
                self.use_nnpack = False
        return F.conv2d(x, w, bias=bias, padding=padding)

    @staticmethod
    def _dt(lp):
        return lp.extra.get('dtype', torch.float32)

    def _use_nonfused(self, lp, x):
        """Scale activations instead of weights when that touches fewer numbers (small
        resolutions) or for batches (one shared-weight conv instead of a grouped one).
        Not in fp16, where unnormalised activations times styles could overflow."""
        if self._dt(lp) == torch.float16:
            return False
        N, I, H, W = x.shape
        O, _, k, _ = lp.weight.shape
        return N > 1 or H * W * (I + O) < O * I * k * k or self._wino_fold_ok(lp, x)

    def _raw(self, lp, key, t):
        """Raw (unmodulated) weight ``t`` in the compute dtype and memory format, cast once."""
        cache = lp.extra.setdefault('raw', {})
        if key not in cache:
            nnpack = self.use_nnpack and self._dt(lp) == torch.float32 and lp.resolution ** 2 >= 1024
            fmt = torch.channels_last if self.channels_last and not nnpack else torch.contiguous_format
            cache[key] = t.to(self._dt(lp)).contiguous(memory_format=fmt)
        return cache[key]

    def _modulated(self, lp, key, raw, scale, dt, a=0):
        """raw [O, I, kh, kw] rows ``a:a+Ob`` x scale [N, Ob, I] -> [N*Ob, I, kh, kw] in ``dt``,
        produced directly in channels_last layout when the plan runs channels_last (oneDNN then
        stays in NHWC)."""
        N, Ob = scale.shape[:2]
        _, I, kh, kw = raw.shape
        if not self.channels_last:
            return (raw[a:a + Ob].unsqueeze(0) * scale.unsqueeze(3).unsqueeze(4)).to(dt).reshape(N * Ob, I, kh, kw)
        cache = lp.extra.setdefault('perm', {})
        if key not in cache:
            cache[key] = raw.permute(0, 2, 3, 1).contiguous()          # [O, kh, kw, I]
        w = cache[key][a:a + Ob].unsqueeze(0) * scale.unsqueeze(2).unsqueeze(3)  # [N, Ob, kh, kw, I]
        return w.to(dt).reshape(N * Ob, kh, kw, I).permute(0, 3, 1, 2)

    def _folded(self, lp, x):
        """The folded kernel stack of an up layer (see fold_up_fir), built on first use, when
        this layer runs in fp32 through NNPACK at a resolution of ``fold_from`` or more (or on
        cached Winograd transforms, ``_wino_fold_ok``) and one sample at a time; else None."""
        if (lp.kind != 'up' or 'phases' not in lp.extra or x.shape[0] != 1 or self._dt(lp) != torch.float32
                or not self._nnpack_ok(x, lp.weight)):
            return None
        if 2 * x.shape[-1] < self.fold_from and not self._wino_fold_ok(lp, x):
            return None
        if 'fold' not in lp.extra:     # (bias first: concurrent lanes test 'fold')
            lp.extra['fold_bias'] = lp.bias.to(torch.float32).repeat_interleave(4).contiguous()
            lp.extra['fold'] = fold_up_fir(lp.weight, lp.fir_w, lp.fir_pad)
        return lp.extra['fold']

    def _up_phases(self, x, lp, weights, groups):
        """Stride-2 3x3 transposed conv as four ordinary convs, one per output phase (same
        MACs; ordinary convs run about twice as fast as transposed ones on CPU)."""
        N, _, H, W = x.shape
        O = weights[0].shape[0] // groups
        fmt = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        y = torch.empty([N if groups == 1 else 1, O * (groups if groups > 1 else 1), 2 * H + 1, 2 * W + 1],
                        dtype=x.dtype, device=x.device, memory_format=fmt)
        for (py, px, _, pad), kk in zip(lp.extra['phases'], weights):
            y[:, :, py::2, px::2] = F.conv2d(x, kk, padding=pad, groups=groups)
        return y

    def _up_col2im(self, lp, xs, a, b):
        """Output channels a:b of the stride-2 3x3 transposed conv of one sample ``xs`` [1, I, H, W]
        on a tiny map: one GEMM (raw weight as [(o, ky, kx), I]) and ``F.fold`` (col2im), instead
        of four phase convs writing into a strided grid: measured one thread, 512 -> 512, 4x4 input
        2.57 -> 1.50 ms, 8x8 5.20 -> 4.57 ms (16x16: slower)."""
        if 'col' not in lp.extra:
            O, I, k, _ = lp.weight.shape
            lp.extra['col'] = lp.weight.permute(0, 2, 3, 1).reshape(O * k * k, I).contiguous()
        _, I, H, W = xs.shape
        cols = lp.extra['col'][9 * a:9 * b] @ xs.reshape(I, H * W)         # [(o, ky, kx), H*W]
        return F.fold(cols.unsqueeze(0), (2 * H + 1, 2 * W + 1), 3, stride=2)

    def _split_lanes(self, lp, x, epilogue):
        """Lanes this layer's output channels are split over: ``self.lanes`` (set by ``run``)
        for one CPU sample whose layer has enough channels, else 1."""
        if (self.lanes < 2 or x.shape[0] != 1 or epilogue is not None or x.device.type != 'cpu'
                or (lp.kind == 'up' and 'phases' not in lp.extra)):
            return 1
        return self.lanes

    def conv_layer(self, lp, x, w, noise, epilogue=None, rgb=None):
        """One modulated conv layer (``up``: with its 2x upsampling and FIR) with bias, noise,
        leaky ReLU and clamp. On a CPU with ``self.lanes`` > 1, one sample: the output channels
        are split over the lanes, each lane running the whole layer for its slice (the same
        bits as the unsplit layer: every op here computes an output channel independently)."""
        dt = self._dt(lp)
        x = x.to(dt)
        N, I, H, W = x.shape
        O = lp.weight.shape[0]
        s, d = self._styles_of(lp, w)                                       # [N, I] fp32, [N, O]
        folded = self._folded(lp, x)
        nonfused = self._use_nonfused(lp, x)
        xs = x * s.to(dt).reshape(N, I, 1, 1) if nonfused else None
        lanes = self._split_lanes(lp, x, epilogue)
        # (Measured on config-f 1024: the 32-channel 1024 px conv ran slower split by rows, its
        # slice copies and page faults outweighing the halved conv: it stays whole.)
        if lanes >= 2 and H >= ROW_SPLIT_MIN and I >= ROW_SPLIT_MIN_CHANNELS and (folded is not None or (
                lp.kind == 'conv' and lp.padding == 1 and self._nnpack_ok(x, lp.weight))):
            return self._rows_layer(lp, x, xs, s, d, noise, folded, lanes, rgb)
        if lanes < 2 or lp.weight.shape[0] < 2 * LAYER_SPLIT_MIN:
            return self._conv_part(lp, x, xs, s, d, noise, epilogue, folded, 0, O)
        fold = folded is not None
        if self._wino_ok(lp, xs, fold):
            cuts = self._wino(lp, lanes * self.slices_per_lane, fold)[0]
        else:
            cuts = channel_cuts(O, lanes * self.slices_per_lane)
        pad = lp.padding - (lp.weight.shape[-1] - 1) // 2
        Ho, Wo = (2 * H, 2 * W) if lp.kind == 'up' else (H + 2 * pad, W + 2 * pad)
        out = torch.empty([1, O, Ho, Wo], dtype=dt)
        run_split(lambda a, b: self._conv_part(lp, x, xs, s, d, noise, None, folded, a, b, out[:, a:b]), cuts, lanes)
        return out

    def _rows_layer(self, lp, x, xs, s, d, noise, folded, lanes, rgb=None):
        """A layer whose conv runs through NNPACK on a map of ``ROW_SPLIT_MIN`` rows or more,
        split by rows over the lanes: NNPACK's Winograd transform of the input is then not
        repeated per slice (what an output-channel split costs where there are few channels).
        Each slice starts on a multiple of 6 rows and reads exactly the input rows it needs
        (``nnpack_rows``), so NNPACK's 6x6 output tiles are the whole conv's tiles and see the same
        inputs: the same bits. (Before: a slice also computed the 6 rows above it and dropped them,
        measured +1.9 ms of 18.6 on conv 128 @ 128 and +3.3 of 31.5 on the folded 256 px up layer,
        two slices, one thread.)"""
        dt = self._dt(lp)
        N, I, H, W = x.shape
        O = lp.weight.shape[0]
        bias = lp.extra.get('bias', lp.bias)
        if folded is not None:
            up = 2
            if xs is not None:
                wino = self._wino(lp, fold=True) if self._wino_ok(lp, xs, fold=True) else None
                wgt = wino[1][0] if wino is not None and len(wino[1]) == 1 else folded
                inp, cbias = xs, None
            else:
                inp = _reshape(x, [1, I, H, W])
                scale = d.repeat_interleave(4, dim=1).unsqueeze(2) * s.unsqueeze(1)
                wgt = self._modulated(lp, 'fold', folded, scale, dt)
                cbias = lp.extra['fold_bias']
        else:
            up = 1
            if xs is not None:
                wino = self._wino(lp) if self._wino_ok(lp, xs) else None
                if wino is not None and len(wino[1]) == 1:
                    inp, wgt, cbias = xs, wino[1][0], None
                else:
                    inp, wgt, cbias = xs, self._raw(lp, 'w', lp.weight), None
            else:
                inp, wgt, cbias = x, self._modulated(lp, 'w', lp.weight, d.unsqueeze(2) * s.unsqueeze(1), dt), bias
        inp = inp.contiguous()
        if isinstance(wgt, torch.Tensor):
            wgt = wgt.contiguous()
        out = torch.empty([1, O, up * H, up * W], dtype=dt)
        # rgb: {'layer', 'w'} of the ToRGB this output feeds: made here too, each lane's rows right
        # after it wrote them (measured, paper256 at 2 threads: ToRGB at 256 px 1.7 ms on the
        # calling thread alone), returned in rgb['out'].
        # With the previous image and separable taps given, each lane also upsamples the image's
        # rows and adds them: rgb['img_out'], the block's image.
        if rgb is not None and self._rgb_mm_ok(out):
            rgb_w = self._rgb_weight(rgb['layer'], rgb['w'])
            rgb['out'] = torch.empty([1, rgb['layer'].weight.shape[0], up * H, up * W])
            prev = rgb.get('img')
            if prev is not None and tuple(prev.shape[2:]) != (up * H // 2, up * W // 2):
                prev = None
        else:
            rgb = None

        def part(r0, r1):
            y = nnpack_rows(inp, wgt, cbias, 1, r0, r1)
            dst = out[:, :, up * r0:up * r1]
            if up == 2:
                n = None if noise is None else noise[..., 2 * r0:2 * r1, :]
                _shuffled_epilogue(y, n, lp.clamp, dst, *((d.to(dt), bias) if xs is not None else ()))
            else:
                if xs is not None:
                    y = y.mul_(d.to(dt).reshape(N, O, 1, 1)).add_(bias.reshape(1, O, 1, 1))
                if noise is not None:
                    y = y.add_(noise[..., up * r0:up * r1, :])
                y = F.leaky_relu_(y, 0.2)
                if lp.clamp is None:
                    dst.copy_(y)
                else:
                    torch.clamp(y, -lp.clamp, lp.clamp, out=dst)
            if rgb is not None:
                rows = self._rgb_rows(rgb['layer'], rgb_w, out, up * r0, up * r1, rgb['out'][:, :, up * r0:up * r1])
                if prev is not None:
                    rows.add_(upsample2_rows(prev, *rgb['taps'], up * r0, up * r1))
        cuts = tile_row_cuts(H, row_parts(H, lanes))
        run_split(part, cuts, lanes)
        if rgb is not None and prev is not None:
            rgb['img_out'] = rgb['out']
        return out

    def _conv_part(self, lp, x, xs, s, d, noise, epilogue, folded, a, b, dst=None):
        """Output channels a:b of ``conv_layer`` (into ``dst`` when given, a contiguous slice)."""
        dt = self._dt(lp)
        N, I, H, W = x.shape
        O = b - a
        k = lp.weight.shape[-1]
        bias = lp.extra.get('bias', lp.bias)[a:b]
        fir = lp.extra.get('fir_w', lp.fir_w)
        fir = None if fir is None else fir[a:b]
        phases = lp.extra.get('phases')
        d = d[:, a:b]
        if folded is not None and epilogue is None:
            if xs is not None:
                y = self._wino_conv(lp, xs, a, b, fold=True) if self._wino_ok(lp, xs, fold=True) else None
                if y is None:
                    y = self._conv(xs, folded[4 * a:4 * b], None, 1)
            else:
                wt = self._modulated(lp, 'fold', folded, d.repeat_interleave(4, dim=1).unsqueeze(2)
                                     * s.unsqueeze(1), dt, 4 * a)
                y = self._conv(_reshape(x, [1, N * I, H, W]), wt, lp.extra['fold_bias'][4 * a:4 * b], 1)
            if dst is None:
                dst = torch.empty([N, O, 2 * H, 2 * W], dtype=y.dtype, device=y.device)
            return _shuffled_epilogue(y, noise, lp.clamp, dst, *((d.to(dt), bias) if xs is not None else ()))
        if folded is not None:
            if xs is not None:
                y = F.pixel_shuffle(self._conv(xs, folded[4 * a:4 * b], None, 1), 2)
                y = y.mul_(d.to(dt).reshape(N, O, 1, 1)).add_(bias.reshape(1, O, 1, 1))
            else:
                wt = self._modulated(lp, 'fold', folded, d.repeat_interleave(4, dim=1).unsqueeze(2)
                                     * s.unsqueeze(1), dt, 4 * a)
                y = F.pixel_shuffle(self._conv(_reshape(x, [1, N * I, H, W]), wt,
                                               lp.extra['fold_bias'][4 * a:4 * b], 1), 2)
        elif xs is not None:
            if lp.kind == 'conv':
                y = self._wino_conv(lp, xs, a, b, dst) if self._wino_ok(lp, xs) else None
                if y is None:
                    y = self._conv(xs, self._raw(lp, 'w', lp.weight)[a:b], None, lp.padding)
            elif N == 1 and H * W <= COL2IM_MAX_PIXELS and xs.dtype == torch.float32 and lp.weight.shape[-1] == 3:
                y = self._up_col2im(lp, xs, a, b)
            elif phases is not None:
                y = self._up_phases(xs, lp, [self._raw(lp, (py, px), sub)[a:b] for py, px, sub, _ in phases], 1)
            else:
                y = F.conv_transpose2d(xs, self._raw(lp, 'wt', lp.weight.transpose(0, 1))[:, a:b], stride=2)
            y = y.mul_(d.to(dt).reshape(N, O, 1, 1))
            if lp.kind == 'up':
                y = F.conv2d(y, fir, padding=lp.fir_pad, groups=O)
            y = y.add_(bias.reshape(1, O, 1, 1))
        else:
            scale = d.unsqueeze(2) * s.unsqueeze(1)                          # [N, O, I]
            xg = _reshape(x, [1, N * I, H, W])
            if lp.kind == 'conv':
                wt = self._modulated(lp, 'w', lp.weight, scale, dt, a)
                if N == 1:
                    y = self._conv(xg, wt, bias, lp.padding)
                else:
                    y = F.conv2d(xg, wt, bias=bias.repeat(N), padding=lp.padding, groups=N)
            else:
                if phases is not None:
                    subs = [self._modulated(lp, (py, px), sub, scale, dt, a) for py, px, sub, _ in phases]
                    y = self._up_phases(xg, lp, subs, N)
                else:
                    # Transposed conv weight per group: [I, O, k, k], unflipped (conv2d_resample's up path).
                    wt = (lp.weight[a:b].unsqueeze(0) * scale.unsqueeze(3).unsqueeze(4)).to(dt)
                    y = F.conv_transpose2d(xg, wt.transpose(1, 2).reshape(N * I, O, k, k), stride=2, groups=N)
                y = F.conv2d(_reshape(y, [N, O, 2 * H + 1, 2 * W + 1]), fir, bias=bias, padding=lp.fir_pad, groups=O)
            y = _reshape(y, [N, O, *y.shape[2:]])
        if epilogue is not None:
            return epilogue(y, noise, lp)
        if noise is not None:
            y = y.add_(noise)
        if lp.clamp is None:
            y = F.leaky_relu_(y, 0.2)
            return y if dst is None else dst.copy_(y)
        if dst is None:
            return F.leaky_relu_(y, 0.2).clamp_(-lp.clamp, lp.clamp)
        return torch.clamp(F.leaky_relu_(y, 0.2), -lp.clamp, lp.clamp, out=dst)

    def _rgb_mm_ok(self, x):
        """ToRGB of one contiguous fp32 CPU sample runs as ``torch.mm`` on rows (``_rgb_rows``)."""
        return (x.shape[0] == 1 and x.dtype == torch.float32 and x.device.type == 'cpu'
                and x.is_contiguous() and self.rgb_by_rows)

    def _rgb_weight(self, lp, w):
        """The modulated ToRGB weight of one sample as a matrix [O, I]."""
        s = self._styles_of(lp, w)[0]                                      # [1, I]
        return lp.weight.reshape(lp.weight.shape[0], -1) * s

    @staticmethod
    def _rgb_rows(lp, wt, x, r0, r1, dst):
        """ToRGB of rows r0:r1 of one sample x [1, I, H, W] into ``dst`` [1, O, r1 - r0, W] (bias,
        clamp): one ``torch.mm`` of the weight and the rows as an [I, rows * W] view. MKL computes
        each output column with the same operations whatever the columns around it when the slices
        are whole rows of at least 16-float-aligned maps: the same bits split by rows as whole
        (tests/engine/test_fast_threads.py), which the CPU lanes use to run the last layers' ToRGB
        beside the conv that wrote the rows (``_rows_layer``)."""
        _, I, H, W = x.shape
        y = torch.mm(wt, x[0, :, r0:r1].reshape(I, (r1 - r0) * W)).add_(lp.bias.to(torch.float32)[:, None])
        y = y.view(1, -1, r1 - r0, W)
        if lp.clamp is not None:
            return torch.clamp(y, -lp.clamp, lp.clamp, out=dst)
        return dst.copy_(y)

    def torgb(self, lp, x, w):
        N, I = x.shape[:2]
        if self._rgb_mm_ok(x):
            out = torch.empty([1, lp.weight.shape[0], *x.shape[2:]])
            return self._rgb_rows(lp, self._rgb_weight(lp, w), x, 0, x.shape[2], out)
        s = self._styles_of(lp, w)[0]                                      # [N, I]
        O = lp.weight.shape[0]
        # In the activations' dtype (converting them to fp32 would cost a pass over the
        # largest tensor; measured: no PSNR difference), accumulated into the fp32 image.
        wt = (lp.weight.unsqueeze(0) * s.reshape(N, 1, I, 1, 1)).to(x.dtype)
        y = F.conv2d(_reshape(x, [1, N * I, *x.shape[2:]]), wt.reshape(N * O, I, 1, 1),
                     bias=lp.bias.to(x.dtype).repeat(N), groups=N)
        y = _reshape(y, [N, O, *y.shape[2:]]).to(torch.float32)
        if lp.clamp is not None:
            y = y.clamp_(-lp.clamp, lp.clamp)
        return y

    def lanes_ok(self):
        """Lanes only for the fp32 plan: bf16 convs (oneDNN, channels_last) do not give the
        same bits sliced or at another thread count, and their NHWC activations would be
        copied into NCHW slices; the bf16 plan keeps intra-op threading."""
        return self.dtype == torch.float32

    @property
    def lanes(self):
        return getattr(self._tls, 'lanes', 1)

    def run(self, ws, noises, stop_at=None, memory_format=torch.contiguous_format, epilogue=None, interrupt=None):
        """interrupt: a callable asked before every layer; when it returns True the render
        stops with ``Cancelled`` (a newer request made this one pointless).

        One sample on a CPU with more than one intra-op thread: each conv layer's output
        channels are split over ``cpu_lanes()`` lanes (``conv_layer``), everything runs at one
        intra-op thread meanwhile (same bits at any thread count)."""
        lanes = cpu_lanes() if (self.device.type == 'cpu' and ws.shape[0] == 1 and self.lanes_ok()) else 1
        self._tls.lanes = lanes
        try:
            with one_intra_op_thread() if lanes > 1 else contextlib.nullcontext():
                if lanes > 1 and self.styles_up_front:
                    self._tls.ahead = self._styles_ahead(ws.to(torch.float32), stop_at)
                return self._run(ws, noises, stop_at, memory_format, epilogue, interrupt)
        finally:
            self._tls.lanes = 1
            self._tls.ahead = None

    def _styles_ahead(self, ws, stop_at):
        """Every layer's styles and demodulation coefficients (one sample), computed up front
        and shared out over the lanes: {id(layer): (s, d)}. Each is a matrix-vector product that
        mostly waits for its weights to come from memory (measured ~0.25 ms per 512-channel layer,
        one thread), which one after the other on the calling thread left the other lanes idle;
        the same ops on the same numbers, so the same bits."""
        layers = []
        for entry in self.blocks:
            layers += entry['layers'] + ([entry['torgb']] if entry['torgb'] is not None else [])
            if stop_at is not None and entry['res'] >= stop_at:
                break

        sd = run_lanes(lambda i: self._styles_now(layers[i], ws[:, layers[i].ws_index]), len(layers), self.lanes)
        return {id(lp): v for lp, v in zip(layers, sd)}

    def _styles_of(self, lp, w):
        """(s, d) of a layer: computed ahead (``_styles_ahead``) or now."""
        ahead = getattr(self._tls, 'ahead', None)
        if ahead is not None and id(lp) in ahead:
            return ahead[id(lp)]
        return self._styles_now(lp, w)

    def _styles_now(self, lp, w):
        """Styles [N, I] and demodulation coefficients [N, O] (act gain folded; None for ToRGB)."""
        s = self.styles(lp, w)
        return s, (None if lp.w2 is None else (s.square() @ lp.w2.t() + 1e-8).rsqrt() * lp.act_gain)

    def _run(self, ws, noises, stop_at, memory_format, epilogue, interrupt):
        check = checker(interrupt)
        N = ws.shape[0]
        ws = ws.to(torch.float32)
        img = None
        x = None
        ni = 0
        for entry in self.blocks:
            res = entry['res']
            block = entry['block']
            layers = entry['layers']
            if 'const' in entry:
                x = entry['const'].unsqueeze(0).expand(N, -1, -1, -1)
                x = x.contiguous(memory_format=memory_format)
            taps = entry['img_up_taps'] if self.separable_img_up and self.device.type == 'cpu' else None
            rgb = {} if entry['torgb'] is None else {'layer': entry['torgb'], 'w': ws[:, entry['torgb'].ws_index],
                                                     'img': img if taps is not None else None, 'taps': taps}
            if entry['skip'] is not None:
                check()
                y_skip = block.skip(x.to(torch.float32), gain=np.sqrt(0.5))
                x = self.conv_layer(layers[0], x, ws[:, layers[0].ws_index], noises[ni], epilogue)
                check()
                # resnet's conv1 carries an extra gain sqrt(0.5) (exact: lrelu is positively homogeneous).
                x = self.conv_layer(layers[1], x, ws[:, layers[1].ws_index], noises[ni + 1], epilogue)
                x = y_skip.add_(x.to(torch.float32) * np.sqrt(0.5))
                ni += 2
            else:
                for lp in layers:
                    check()
                    x = self.conv_layer(lp, x, ws[:, lp.ws_index], noises[ni], epilogue,
                                        rgb=rgb if lp is layers[-1] else None)
                    ni += 1
            if rgb.get('img_out') is not None:      # the image made in the last layer's lanes
                img = rgb['img_out']
            else:
                if img is not None:
                    if taps is not None:
                        img = upsample2_rows(img, *taps, 0, 2 * img.shape[2])
                    else:
                        wf, pt, op = entry['img_up']
                        img = upfirdn_up(img, wf, 2, pt, op)
                if entry['torgb'] is not None:
                    y = rgb.get('out')
                    if y is None:
                        y = self.torgb(entry['torgb'], x, ws[:, entry['torgb'].ws_index])
                    img = y if img is None else img.add_(y)
            if stop_at is not None and res >= stop_at:
                if img is None:
                    raise ValueError(f'architecture {block.architecture!r} has no image before the last block')
                break
        return img
