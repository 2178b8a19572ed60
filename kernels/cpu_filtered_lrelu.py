"""CPU fast path of the filtered leaky ReLU (inference only, no autograd).

Same op as ``kernels.filtered_lrelu.filtered_lrelu_ref`` (bias -> upsample + FIR ->
gain, leaky ReLU, clamp -> FIR + downsample), computed with far fewer operations:

- The upsampling is polyphase: instead of inserting ``up - 1`` zeros and running an
  ``L``-tap FIR over them, each of the ``up`` output phases is an ``L/up``-tap FIR
  over the original samples (a depthwise conv with C output channels, the shape
  oneDNN runs fastest), and the phases are interleaved. Separable (1-D) filters run as
  a row pass and a column pass; a 2-D up filter runs its ``up**2`` 2-D phases.
- The downsampling is a strided depthwise conv: only the kept samples are computed.
  Separable filters: a row pass ``[C, 1, 1, L]`` with stride ``(1, down)`` and a column
  pass ``[C, 1, L, 1]`` with stride ``(down, 1)``; 2-D (radial) filters one
  ``[C, 1, L, L]`` pass with stride ``down``.
- The activation gain (lrelu is positively homogeneous) and the up gain are folded into
  the up-filter taps; leaky ReLU and clamp run in place.
- Everything runs in channels_last (NHWC), where oneDNN's depthwise convs are several
  times faster than in NCHW; samples run one at a time (same bits for a sample
  whatever its position in the batch).
- Cache-sized strips (separable up filters): the output is made ``strip`` rows at a time,
  each strip upsampling only the rows it needs, so the 4x/16x intermediate never goes
  to memory (the op is memory-bound: ~2x faster than whole-image passes at 256 px). In
  NHWC a row is W*C contiguous numbers, so the column upsampling of a strip is a
  band-matrix product that interleaves the phases as it writes.

The taps are prepared once per (filters, factors, padding, gain, channels, dtype) in a
``FilteredLReLUPlan``; ``filtered_lrelu_cpu`` builds one per call (cheap) for ad-hoc use.

Accuracy (fp32): only the summation order and the place of the gain differ from the
reference; on random inputs and filters (tests/kernels/test_cpu_filtered_lrelu.py) the max
abs difference stays below 1e-5 x max(1, |output|), ~5e-7 on StyleGAN3's own layers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from kernels._params import parse_padding

_CL = torch.channels_last


def _phase_taps(f, up, pad0, gain, flip_filter):
    """Polyphase split of a 1-D upsampling FIR along one axis.

    The reference computes ``out[i] = sum_k g[k] * z[i + k - pad0]`` where ``z`` is the
    zero-inserted input and ``g`` the correlation taps (``f`` flipped unless
    ``flip_filter``) times ``gain``. Output ``i = up*q + r`` reads ``x[q + j]`` with tap
    ``g[up*j + pad0 - r]``. Returns (taps [up, K] float64, jmin): phase r is the
    correlation ``out_r[q] = sum_t taps[r, t] * x[q + jmin + t]``.
    """
    g = f.to(torch.float64)
    if not flip_filter:
        g = g.flip(0)
    g = g * gain
    L = g.shape[0]
    lo = [-((pad0 - r) // up) for r in range(up)]            # ceil((r - pad0) / up)
    hi = [(L - 1 + r - pad0) // up for r in range(up)]
    valid = [r for r in range(up) if lo[r] <= hi[r]]
    jmin = min(lo[r] for r in valid)
    jmax = max(hi[r] for r in valid)
    K = jmax - jmin + 1
    taps = torch.zeros(up, K, dtype=torch.float64)
    for r in valid:
        for j in range(lo[r], hi[r] + 1):
            taps[r, j - jmin] = g[up * j + pad0 - r]
    return taps, jmin


def _phase_taps_2d(f, up, pad_x0, pad_y0, gain, flip_filter):
    """2-D version: taps [up(y), up(x), Kh, Kw], (jmin_y, jmin_x)."""
    g = f.to(torch.float64)
    if not flip_filter:
        g = g.flip([0, 1])
    g = g * gain
    Lh, Lw = g.shape

    def axis(L, pad0):
        lo = [-((pad0 - r) // up) for r in range(up)]
        hi = [(L - 1 + r - pad0) // up for r in range(up)]
        valid = [r for r in range(up) if lo[r] <= hi[r]]
        return lo, hi, min(lo[r] for r in valid), max(hi[r] for r in valid)

    loy, hiy, jy0, jy1 = axis(Lh, pad_y0)
    lox, hix, jx0, jx1 = axis(Lw, pad_x0)
    taps = torch.zeros(up, up, jy1 - jy0 + 1, jx1 - jx0 + 1, dtype=torch.float64)
    for ry in range(up):
        for rx in range(up):
            for jy in range(loy[ry], hiy[ry] + 1):
                for jx in range(lox[rx], hix[rx] + 1):
                    taps[ry, rx, jy - jy0, jx - jx0] = g[up * jy + pad_y0 - ry, up * jx + pad_x0 - rx]
    return taps, (jy0, jx0)


def _depthwise(taps, channels, dtype):
    """[..., kh, kw] taps -> contiguous [C, 1, kh, kw] depthwise weight."""
    return taps.to(dtype)[None, None].expand(channels, 1, *taps.shape[-2:]).contiguous()


def _pad_nhwc(x, left, right, top, bottom):
    """Zero-pad (negative: crop) W by left/right and H by top/bottom into a new channels_last tensor."""
    N, C, H, W = x.shape
    x = x[:, :, max(-top, 0): H - max(-bottom, 0), max(-left, 0): W - max(-right, 0)]
    t, b, lft, rgt = max(top, 0), max(bottom, 0), max(left, 0), max(right, 0)
    h, w = x.shape[2], x.shape[3]
    out = torch.empty([N, C, h + t + b, w + lft + rgt], dtype=x.dtype, device=x.device, memory_format=_CL)
    if t:
        out[:, :, :t].zero_()
    if b:
        out[:, :, t + h:].zero_()
    if lft:
        out[:, :, t:t + h, :lft].zero_()
    if rgt:
        out[:, :, t:t + h, lft + w:].zero_()
    out[:, :, t:t + h, lft:lft + w].copy_(x)
    return out


class FilteredLReLUPlan:
    """Prepared taps of one filtered leaky ReLU for ``channels`` channels in ``dtype``.

    ``plan(x, b=None)``: x [N, C, H, W] (any memory format) -> [N, C, out_h, out_w]
    (channels_last strides). ``b`` is added first when given.
    """

    def __init__(self, fu, fd, up, down, padding, gain, slope, clamp, channels, flip_filter=False,
                 dtype=torch.float32, strip=16):
        assert isinstance(up, int) and up >= 1 and isinstance(down, int) and down >= 1
        assert gain > 0 and slope >= 0
        self.up = up
        self.down = down
        self.pad = parse_padding(padding)  # x0, x1, y0, y1
        self.slope = float(slope)
        self.clamp = None if clamp is None else float(clamp)
        self.channels = int(channels)
        self.dtype = dtype
        self.strip = int(strip)   # output rows per cache-sized strip (0: whole image at once)
        self._cache = {}
        if fu is None:
            fu = torch.ones([1], dtype=torch.float32)
        if fd is None:
            fd = torch.ones([1], dtype=torch.float32)
        fu = fu.detach().to('cpu', torch.float32)
        fd = fd.detach().to('cpu', torch.float32)
        self.fu_size = (int(fu.shape[-1]), int(fu.shape[0]))  # (w, h)
        self.fd_size = (int(fd.shape[-1]), int(fd.shape[0]))
        px0, _, py0, _ = self.pad
        C = self.channels
        # The up gain (up**2 over both axes) and the activation gain ride on the up taps.
        total_gain = float(up * up) * float(gain)
        self.up_separable = fu.ndim == 1
        if self.up_separable:
            gx = math.sqrt(total_gain)
            tx, self.up_jx = _phase_taps(fu, up, px0, gx, flip_filter)
            ty, self.up_jy = _phase_taps(fu, up, py0, total_gain / gx, flip_filter)
            self.up_kw, self.up_kh = tx.shape[1], ty.shape[1]
            self.up_w = [_depthwise(tx[r].reshape(1, -1), C, dtype) for r in range(up)]   # [C, 1, 1, Kw]
            self.up_h = [_depthwise(ty[r].reshape(-1, 1), C, dtype) for r in range(up)]   # [C, 1, Kh, 1]
            self.identity_up = (up == 1 and fu.numel() == 1)
            self.identity_gain = float(tx[0, 0] * ty[0, 0]) if self.identity_up else None
        else:
            t2, (self.up_jy, self.up_jx) = _phase_taps_2d(fu, up, px0, py0, total_gain, flip_filter)
            self.up_kh, self.up_kw = t2.shape[2], t2.shape[3]
            self.up_2d = [[_depthwise(t2[ry, rx], C, dtype) for rx in range(up)] for ry in range(up)]
            self.identity_up = False
        gd = fd.to(torch.float64)
        if not flip_filter:
            gd = gd.flip(list(range(gd.ndim)))
        self.down_separable = fd.ndim == 1
        if self.down_separable:
            self.identity_down = (down == 1 and fd.numel() == 1 and float(fd[0]) == 1.0)
            self.down_w = _depthwise(gd.reshape(1, -1), C, dtype)     # [C, 1, 1, L]
            self.down_h = _depthwise(gd.reshape(-1, 1), C, dtype)     # [C, 1, L, 1]
        else:
            self.identity_down = False
            self.down_2d = _depthwise(gd, C, dtype)                  # [C, 1, L, L]

    # ------------------------------------------------------------------ sizes

    def _up_len(self, n, pad0, pad1, L):
        return n * self.up + pad0 + pad1 - (L - 1)

    def output_size(self, in_h, in_w):
        px0, px1, py0, py1 = self.pad
        mw = self._up_len(in_w, px0, px1, self.fu_size[0])
        mh = self._up_len(in_h, py0, py1, self.fu_size[1])
        return (mh - self.fd_size[1]) // self.down + 1, (mw - self.fd_size[0]) // self.down + 1

    # ------------------------------------------------------------------ execution

    def _upsample(self, x):
        """x [1, C, H, W] -> the upsampled, padded, filtered image [1, C, Mh(+), Mw(+)] in
        channels_last (columns past Mw may follow: they only feed discarded outputs)."""
        up = self.up
        _, C, H, W = x.shape
        px0, px1, py0, py1 = self.pad
        mw = self._up_len(W, px0, px1, self.fu_size[0])
        mh = self._up_len(H, py0, py1, self.fu_size[1])
        if self.identity_up:
            y = _pad_nhwc(x, px0, px1, py0, py1)
            if self.identity_gain != 1.0:
                y.mul_(self.identity_gain)
            return y
        qw, qh = -(-mw // up), -(-mh // up)
        kw, kh = self.up_kw, self.up_kh
        jx, jy = self.up_jx, self.up_jy
        xp = _pad_nhwc(x, -jx, qw + kw - 1 - W + jx, -jy, qh + kh - 1 - H + jy)   # [1, C, qh+kh-1, qw+kw-1]
        if not self.up_separable:
            y = torch.empty([1, C, qh * up, qw * up], dtype=x.dtype, memory_format=_CL)
            yv = y.permute(0, 2, 3, 1).view(1, qh, up, qw, up, C)
            for ry in range(up):
                for rx in range(up):
                    o = F.conv2d(xp, self.up_2d[ry][rx], groups=C)                  # [1, C, qh, qw]
                    yv[:, :, ry, :, rx, :].copy_(o.permute(0, 2, 3, 1))
            return y[:, :, :mh]
        hp = xp.shape[2]
        if up == 1:
            yw = F.conv2d(xp, self.up_w[0], groups=C)
            return F.conv2d(yw, self.up_h[0], groups=C)[:, :, :mh]
        yw = torch.empty([1, C, hp, qw * up], dtype=x.dtype, memory_format=_CL)
        ywv = yw.permute(0, 2, 3, 1).view(1, hp, qw, up, C)
        for r in range(up):
            ywv[:, :, :, r, :].copy_(F.conv2d(xp, self.up_w[r], groups=C).permute(0, 2, 3, 1))
        y = torch.empty([1, C, qh * up, qw * up], dtype=x.dtype, memory_format=_CL)
        yv = y.permute(0, 2, 3, 1).view(1, qh, up, qw * up, C)
        for r in range(up):
            yv[:, :, r].copy_(F.conv2d(yw, self.up_h[r], groups=C).permute(0, 2, 3, 1))
        return y[:, :, :mh]

    def _downsample(self, y, out_h, out_w):
        C = y.shape[1]
        d = self.down
        if self.identity_down:
            return y[:, :, :out_h, :out_w]
        if self.down_separable:
            y = F.conv2d(y, self.down_w, stride=(1, d), groups=C)
            y = F.conv2d(y, self.down_h, stride=(d, 1), groups=C)
        else:
            y = F.conv2d(y, self.down_2d, stride=d, groups=C)
        return y[:, :, :out_h, :out_w]

    def _up_h_matrix(self, tq):
        """Band matrix of the column pass for ``tq`` input-row steps: [tq*up, tq + Kh - 1]; row
        ``t*up + r`` holds phase r's taps at columns t .. t + Kh - 1 (interleaves the phases)."""
        key = ('uph', tq)
        if key not in self._cache:
            up, kh = self.up, self.up_kh
            taps = torch.stack([w[0, 0, :, 0] for w in self.up_h])         # [up, Kh]
            A = torch.zeros(tq * up, tq + kh - 1, dtype=self.dtype)
            for t in range(tq):
                A[t * up:(t + 1) * up, t:t + kh] = taps
            self._cache[key] = A
        return self._cache[key]

    def _strips(self, x, out_h, out_w, strip, map_strips=None):
        """Separable filters, cache-sized: output rows in strips of ``strip``; each strip
        computes only the upsampled rows it needs, so the 4x/16x intermediate never leaves
        the cache. The column upsampling is a band-matrix product over whole rows (NHWC rows
        are contiguous: W*C numbers), which interleaves the phases as it writes."""
        up, d = self.up, self.down
        _, C, H, W = x.shape
        px0, px1, py0, py1 = self.pad
        mw = self._up_len(W, px0, px1, self.fu_size[0])
        mh = self._up_len(H, py0, py1, self.fu_size[1])
        qw, qh = -(-mw // up), -(-mh // up)
        kw, kh = self.up_kw, self.up_kh
        jx, jy = self.up_jx, self.up_jy
        ld = self.fd_size[1]
        xp = _pad_nhwc(x, -jx, qw + kw - 1 - W + jx, -jy, qh + kh - 1 - H + jy)   # [1, C, qh+kh-1, qw+kw-1]
        wu = qw * up
        tq = 4
        A = self._up_h_matrix(tq)
        out = torch.empty([1, C, out_h, out_w], dtype=x.dtype)

        def one(j):
            o0 = j * strip
            o1 = min(out_h, o0 + strip)
            i0, i1 = o0 * d, (o1 - 1) * d + ld
            q0, q1 = i0 // up, -(-i1 // up)
            xs = xp[:, :, q0:q1 + kh - 1]
            rows = xs.shape[2]
            yw = torch.empty([1, C, rows, wu], dtype=x.dtype, memory_format=_CL)
            ywv = yw.permute(0, 2, 3, 1).view(1, rows, qw, up, C)
            for r in range(up):
                ywv[:, :, :, r, :].copy_(F.conv2d(xs, self.up_w[r], groups=C).permute(0, 2, 3, 1))
            X = yw.permute(0, 2, 3, 1).reshape(rows, wu * C)
            nq = q1 - q0
            Y = torch.empty([nq * up, wu * C], dtype=x.dtype)
            for t0 in range(0, nq, tq):
                n = min(tq, nq - t0)
                torch.mm(A[:n * up, :n + kh - 1], X[t0:t0 + n + kh - 1], out=Y[t0 * up:(t0 + n) * up])
            y = Y[i0 - q0 * up:i1 - q0 * up].view(1, i1 - i0, wu, C).permute(0, 3, 1, 2)
            if self.slope != 1:
                F.leaky_relu_(y, self.slope)
            if self.clamp is not None:
                y.clamp_(-self.clamp, self.clamp)
            z = self._downsample(y, o1 - o0, out_w)
            out[:, :, o0:o1].copy_(z)

        count = -(-out_h // strip)
        if map_strips is None:
            for j in range(count):
                one(j)
        else:
            map_strips(one, count)
        return out

    def run_one(self, x, b=None, strip=None, map_strips=None):
        """One sample: x [1, C, H, W] -> [1, C, out_h, out_w] (channels_last strides).

        map_strips: ``map_strips(fn, n)`` -> ``[fn(i) for i in range(n)]``, e.g. spread over
        threads (the strips are independent; each writes its own output rows)."""
        assert x.ndim == 4 and x.shape[0] == 1 and x.shape[1] == self.channels, tuple(x.shape)
        x = x.to(self.dtype)
        if b is not None:
            x = x + b.to(self.dtype).reshape(1, -1, 1, 1)
        out_h, out_w = self.output_size(x.shape[2], x.shape[3])
        strip = self.strip if strip is None else strip
        if strip and self.up_separable and not self.identity_up and self.up > 1:
            return self._strips(x, out_h, out_w, strip, map_strips)
        y = self._upsample(x)
        if self.slope != 1:
            y = F.leaky_relu_(y, self.slope) if y.is_contiguous(memory_format=_CL) else F.leaky_relu(y, self.slope)
        if self.clamp is not None:
            y = y.clamp_(-self.clamp, self.clamp)
        return self._downsample(y, out_h, out_w)

    def __call__(self, x, b=None):
        out = [self.run_one(x[i:i + 1], b) for i in range(x.shape[0])]
        return out[0] if len(out) == 1 else torch.cat(out)


def filtered_lrelu_cpu(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=math.sqrt(2), slope=0.2,
                       clamp=None, flip_filter=False, strip=16):
    """The CPU fast twin of ``filtered_lrelu_ref`` (same arguments; ``strip``: see
    ``FilteredLReLUPlan``); no autograd."""
    assert x.ndim == 4
    plan = FilteredLReLUPlan(fu, fd, up, down, padding, gain, slope, clamp, x.shape[1],
                             flip_filter=flip_filter, dtype=x.dtype, strip=strip)
    with torch.no_grad():
        return plan(x, b).contiguous()
