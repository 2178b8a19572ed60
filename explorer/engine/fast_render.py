"""Opt-in fast inference path for the synthesis network (no Qt, no training).

``FastRenderer(G, device, dtype='fp32'|'bf16'|'fp16', use_graphs=True)`` renders
the same images as ``G.synthesis`` (same parameters, same noise, same ``stop_at``
preview semantics) with fewer and cheaper operations:

- StyleGAN2 layers run from a *plan* (``explorer.engine.fast_plan``) precomputed once per
  checkpoint (rebuilt when a parameter or buffer changes, e.g. a training snapshot
  copied in): equalized-lr
  gains, the activation gain and the learned noise strength are folded into the
  weights, bias and noise constants; demodulation coefficients come from a small
  matrix-vector product with the precomputed per-(out, in) squared weight norms
  (``d = rsqrt(W2 @ s^2 + 1e-8)``, the same sum the reference forms over the
  modulated weight); the bias rides inside the convolution; noise add, leaky ReLU
  and clamp run in place. Where it touches fewer numbers (low resolutions, batches)
  the activations are scaled instead of the weights (non-fused modulation).
- The 3x3 stride-2 transposed conv of the up layers runs as four ordinary convs, one
  per output phase (same MACs; ordinary convs are ~2x faster on CPU); the FIR filter
  after it is a depthwise conv with a filter prepared once.
- CPU fp32: NNPACK's Winograd 3x3 convolutions (~2x oneDNN fp32 here). CPU bf16
  (AVX512-BF16): oneDNN in channels_last end to end. Batches on CPU go sample by
  sample (cache-resident).
- Lower precision (``bf16`` on capable CPUs or CUDA, ``fp16`` on CUDA): convs and
  activations in that dtype, styles, demodulation and the image accumulation in
  fp32, and the lowest-resolution blocks (up to ``fp32_upto``) in fp32, since their
  rounding errors are amplified by every later layer. ``bench`` reports PSNR.
- CUDA (not yet run on a GPU): channels_last for fp16/bf16, fused Triton epilogue
  when Triton is present, CUDA-graph capture (``explorer.engine.cuda_graphs``) per
  (plan, batch, stop_at, noise_mode);
  a new checkpoint or changed weights, resolution or batch size re-captures; new
  styles or noise only refill the static input buffers; capture failure falls back
  to eager rendering.
- StyleGAN3 on the CPU runs its inference plan (``explorer.engine.fast_sg3``, fp32 or bf16)
  and resumes a drag from the first ws index that changed since the frame before (the
  input of that layer is kept): same bits as a full render, ``last_start`` says where it
  began. No ``stop_at`` previews (StyleGAN3 has no skip image).
- Other families (StyleGAN1; StyleGAN3 on CUDA) run ``G.synthesis`` itself in fp32 (its
  kernels dispatch to Triton on CUDA, StyleGAN3 runs its own fp16 layers there),
  still with graphs on CUDA; ``bf16``/``fp16`` are refused for them.

The preview policy (which ``stop_at`` resolution an interactive request renders at) is
``explorer.engine.session.Session.preview_resolution``.
``render(..., interrupt=f)`` asks ``f()`` before every layer and stops with ``Cancelled``
when it returns True (the GUI worker: a newer request waits; ``explorer.engine.interrupt``).
Which dtypes a device runs fast: ``explorer.engine.capabilities``.
``EXPLORER_KERNELS=ref`` turns the plan off (plain ``G.synthesis``). A StyleGAN2
``G.synthesis`` call under ``torch.no_grad()`` itself renders through an fp32 FastRenderer
kept on the module (``explorer.engine.fast_synthesis``).
On CUDA/MPS each fast path (the plan in each dtype, CUDA graphs, the Triton epilogue) runs its
first-use self-check (``explorer.engine.selfcheck``) before it serves; a failed one is off.
"""

from __future__ import annotations

import torch

from explorer.engine.capabilities import DTYPES, dtype_supported, nnpack_available
from explorer.engine.cuda_graphs import GraphCache
from explorer.engine.fast_plan import SG2Plan, run_lanes, weights_token
from explorer.engine.fast_sg3 import plan_for
from explorer.engine.interrupt import interruptible
from explorer.engine.layers import per_layer_values
from kernels import forced_ref, selfcheck, triton_available


class FastRenderer:
    """Inference-only renderer around a generator ``G`` (not modified, not copied).

    ``render(ws, noise_mode='const', noise_scale=None, noise_generator=None, stop_at=None)``
    -> float32 image [N, C, R, R] (R = ``stop_at`` when given), like ``G.synthesis``.
    """

    def __init__(self, G, device=None, dtype='fp32', use_graphs=True, channels_last=None, use_plan=True,
                 graph_capture=None, fp32_upto=None, use_nnpack=None):
        if dtype not in DTYPES:
            raise ValueError(f'dtype must be one of {sorted(DTYPES)}, got {dtype!r}')
        self.G = G
        self.device = torch.device(device) if device is not None else next(G.parameters()).device
        self.dtype_name = dtype
        self.dtype = DTYPES[dtype]
        # bf16/fp16: blocks up to this resolution stay fp32 (cheap; their rounding errors are
        # amplified by every later layer). Measured: >= 40 dB at 256 px with 16, at 1024 px with 64.
        if fp32_upto is None:
            fp32_upto = max(16, int(G.img_resolution) // 16)
        self.fp32_upto = int(fp32_upto)
        self.use_plan = use_plan and G.family == 'stylegan2' and not forced_ref()
        # StyleGAN3 on the CPU: its own inference plan (explorer.engine.fast_sg3), resuming a
        # drag from the first layer whose style changed; fp32 or bf16.
        self.sg3_plan = (use_plan and G.family == 'stylegan3' and self.device.type == 'cpu'
                         and not forced_ref())
        self.last_start = 0       # StyleGAN3 plan: the ws index the last render started at
        if not self.use_plan and not self.sg3_plan and self.dtype != torch.float32:
            raise ValueError(f'{dtype} rendering needs the StyleGAN2 plan (family {self.family!r}'
                             f'{", EXPLORER_KERNELS=ref" if forced_ref() else ""}); use fp32 '
                             '(StyleGAN3 runs its own fp16 layers on CUDA)')
        if not dtype_supported(dtype, self.device):
            raise ValueError(f'{dtype} rendering is not supported on {self.device}')
        if self.use_plan and not selfcheck.allowed(f'render.{dtype}', self.device):
            raise ValueError(f'{dtype} fast rendering failed its self-check on {self.device}: '
                             f'{selfcheck.cached(f"render.{dtype}", self.device).reason}')
        is_cuda = self.device.type == 'cuda'
        is_cpu = self.device.type == 'cpu'
        # CPU fp32: NNPACK's Winograd 3x3 convs (NCHW). CPU bf16: oneDNN in NHWC, much faster
        # there than NCHW (above all its depthwise FIR convs). CUDA: NHWC for fp16/bf16.
        # MPS (fp32 only): NCHW, no NNPACK.
        if use_nnpack is None:
            use_nnpack = is_cpu and nnpack_available()  # (bf16: for its fp32 low-res blocks)
        self.use_nnpack = bool(use_nnpack)
        if channels_last is None:
            channels_last = (self.dtype != torch.float32) or (is_cpu and not self.use_nnpack)
        self.channels_last = bool(channels_last)
        self.graph_capture_injected = graph_capture is not None
        self.use_graphs = bool(use_graphs) and (self.graph_capture_injected
                                                or (is_cuda and selfcheck.allowed('cuda_graphs', self.device)))
        self.graphs = GraphCache(capture=graph_capture)
        self.use_triton = (is_cuda and triton_available() and not forced_ref() and not self.channels_last
                           and selfcheck.allowed('triton.epilogue', self.device))
        self._plan = None
        self._token = None

    # -------------------------------------------------------------- bookkeeping

    @property
    def family(self):
        return self.G.family

    def _refresh(self):
        """(Re)build the plan when the weights changed (new checkpoint, training snapshot)."""
        token = (id(self.G), weights_token(self.G))
        if token == self._token and (self._plan is not None or not self.use_plan):
            return
        self.graphs.clear()
        self._token = token
        if self.use_plan:
            self._plan = SG2Plan(self.G.synthesis, self.device, torch.float32, channels_last=self.channels_last)
            self._plan.use_nnpack = self.use_nnpack
            if self.dtype != torch.float32:
                self._plan.cast(self.dtype, fp32_upto=self.fp32_upto)

    def _epilogue(self):
        if not self.use_triton:
            return None
        from kernels import triton_modconv

        def epi(y, noise, lp):
            return triton_modconv.epilogue(y, noise=noise, act='lrelu', alpha=0.2, gain=1.0, clamp=lp.clamp, out=y)
        return epi

    # -------------------------------------------------------------- rendering

    def _scales(self, noise_scale):
        return per_layer_values(noise_scale, self.G.num_ws)

    def _run_plan(self, ws, noises, stop_at, interrupt=None):
        mf = torch.channels_last if self.channels_last else torch.contiguous_format
        N = ws.shape[0]
        if self.device.type == 'cpu' and N > 1:
            # CPU: one sample at a time. Batch-1 convs already run at the core's peak, and
            # the batch's activations would no longer fit in cache (measured: batch 8 ran at
            # ~60% of the batch-1 images/s). Per-sample noise slices keep random noise exact.
            # fp32 with more than one intra-op thread: the samples run concurrently, one per
            # core (``run_lanes``), each at one thread: the same bits as rendering it alone.
            def one(i):
                ni = [n[i:i + 1] if (n is not None and n.ndim == 4 and n.shape[0] == N) else n for n in noises]
                return self._plan.run(ws[i:i + 1], ni, stop_at=stop_at, memory_format=mf,
                                      epilogue=self._epilogue(), interrupt=interrupt)
            return torch.cat(run_lanes(one, N, None if self._plan.lanes_ok() else 1)).contiguous()
        img = self._plan.run(ws, noises, stop_at=stop_at, memory_format=mf, epilogue=self._epilogue(),
                             interrupt=interrupt)
        return img.contiguous()

    def _run_generic(self, ws, noise_mode, noise_scale, noise_generator, stop_at, interrupt=None):
        kw = dict(noise_mode=noise_mode)
        if noise_scale is not None:
            kw['noise_scale'] = noise_scale
        if noise_generator is not None:
            kw['noise_generator'] = noise_generator
        if stop_at is not None and stop_at != self.G.img_resolution:
            kw['stop_at'] = stop_at
        with interruptible(self.G.synthesis, interrupt):
            return self.G.synthesis(ws, **kw).to(torch.float32)

    @torch.no_grad()
    def render(self, ws, noise_mode='const', noise_scale=None, noise_generator=None, stop_at=None,
               interrupt=None, shared_noise=False):
        """interrupt: optional callable asked between layers; True stops the render with
        ``explorer.engine.progress.Cancelled`` (eager renders only: a CUDA-graph replay,
        a few milliseconds, always completes).

        shared_noise: random noise is drawn once, for one sample, and every sample of the batch
        gets it: the noise each would get rendered alone with a generator seeded the same way
        (batch export of recipes sharing a noise seed, ``rendering.synthesize_batch``). StyleGAN2
        plan only; other families ignore it."""
        assert ws.ndim == 3 and ws.shape[1:] == (self.G.num_ws, self.G.w_dim), tuple(ws.shape)
        self._refresh()
        ws = ws.to(self.device, torch.float32)
        if stop_at is not None and stop_at >= self.G.img_resolution:
            stop_at = None
        if self.sg3_plan:
            if stop_at is not None:
                raise ValueError('StyleGAN3 has no reduced-resolution previews (no skip image)')
            plan = plan_for(self.G.synthesis, self.dtype)
            img = plan.run(ws, interrupt=interrupt, resume=True)     # asks interrupt() before each layer
            self.last_start = plan.last_start
            return img
        if not self.use_plan:
            if self.use_graphs and noise_mode != 'random':
                key = ('generic', self._token, tuple(ws.shape), noise_mode, stop_at, self.dtype_name,
                       None if noise_scale is None else tuple(self._scales(noise_scale)))
                return self._graph_or_eager(
                    key, lambda st: self._run_generic(st['ws'], noise_mode, noise_scale, None, stop_at), {'ws': ws})
            return self._run_generic(ws, noise_mode, noise_scale, noise_generator, stop_at, interrupt)
        noises = self._plan.noise_list(1 if shared_noise else ws.shape[0], noise_mode, self._scales(noise_scale),
                                       noise_generator)
        if not self.use_graphs:
            return self._run_plan(ws, noises, stop_at, interrupt)
        inputs = {'ws': ws}
        for i, n in enumerate(noises):
            if n is not None:
                inputs[f'n{i}'] = n.expand(ws.shape[0], 1, *n.shape[-2:]) if n.ndim == 4 else n
        key = ('plan', self._token, tuple(ws.shape), noise_mode, stop_at, self.dtype_name,
               tuple(None if n is None else tuple(inputs[f'n{i}'].shape) for i, n in enumerate(noises)))
        count = len(noises)

        def fn(st):
            return self._run_plan(st['ws'], [st.get(f'n{i}') for i in range(count)], stop_at)
        return self._graph_or_eager(key, fn, inputs)

    def _graph_or_eager(self, key, fn, inputs):
        """Replay a captured graph; if capture fails (an op that syncs with the host, an
        old driver), warn once and render eagerly from then on."""
        try:
            return self.graphs.run(key, fn, inputs)
        except Exception as e:  # noqa: BLE001 - any capture failure means: no graphs here
            if self.graph_capture_injected:
                raise
            import warnings
            warnings.warn(f'CUDA graph capture failed, rendering without graphs: {e}', RuntimeWarning)
            self.use_graphs = False
            self.graphs.clear()
            return fn(inputs)


# ---------------------------------------------------------------- first-use self-check (kernels.selfcheck)
# The plan in each dtype against G.synthesis(impl='ref') in fp32 on a tiny seeded generator.
# Relative max error allowed: fp32 leaves room for TF32 convs on CUDA; fp16/bf16 keep their
# first blocks in fp32 (``fp32_upto``) but not here
# (fp32_upto=4), so the check sees the low precision itself. A broken path is off by O(1).
RENDER_TOLERANCE = {'fp32': 1e-2, 'fp16': 3e-2, 'bf16': 1e-1}


def _render_unavailable(dtype):
    def why(device):
        if forced_ref():
            return 'EXPLORER_KERNELS=ref'
        if not dtype_supported(dtype, device):
            return f'{dtype} is not supported on {device.type}'
        return None
    return why


def _render(dtype, tiny_generator):
    def run(device):
        G, ws = tiny_generator(device)
        fr = FastRenderer(G, device, dtype=dtype, use_graphs=False, fp32_upto=4)
        fast = fr.render(ws, noise_mode='const')
        ref = G.synthesis(ws, noise_mode='const', impl='ref')
        return fast, ref
    return run


def register_selfchecks(tiny_generator) -> None:
    """Register 'render.<dtype>' for every dtype. ``tiny_generator(device) -> (G, ws)``: a small
    seeded StyleGAN2 generator; the network module passes its own
    (``networks_stylegan2.selfcheck_generator``), so this module never imports the network that
    asks it for its default fast path (no import cycle)."""
    for dtype in DTYPES:
        selfcheck.register(selfcheck.FastPath(f'render.{dtype}', f'fast renderer, {dtype} (StyleGAN2)',
                                              _render(dtype, tiny_generator), tolerance=RENDER_TOLERANCE[dtype],
                                              unavailable=_render_unavailable(dtype)))
