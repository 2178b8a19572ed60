"""The render session the GUI's render worker drives (no Qt here).

``Session`` owns the generator, its device, the mapping cache and the preview policy.
The worker talks to it through ``RenderSession``, a typed interface that tests satisfy
with a fake that blocks on a lock to prove latest-wins.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol

import numpy as np
import torch

from explorer.engine import fast_synthesis, latents
from explorer.engine.activation_view import Inspection, InspectOptions, LayerInfo, inspect_array
from explorer.engine.animation_spec import Animation
from explorer.engine.capabilities import dtype_supported
from explorer.engine.checkpoint import (
    default_checkpoint_path,
    is_placeholder_default,
    is_url,
    load_generator,
    resolve_path,
    sha256_file,
)
from explorer.engine.device import device_name, pick_device
from explorer.engine.direction_set import DirectionSet
from explorer.engine.export import to_uint8
from explorer.engine.families import has_input_transform
from explorer.engine.fast_render import FastRenderer
from explorer.engine.grid_spec import GridSpec
from explorer.engine.image_export import save_image
from explorer.engine.inspect import capture, synthesis_layers
from explorer.engine.latent_io import read_stored_latent, write_latent_npz
from explorer.engine.mixing import iter_grid
from explorer.engine.png import save_png
from explorer.engine.recipe import SYNTHESIS_PATHS, Recipe
from explorer.engine.render_batch import render_seeds_to_dir, write_render
from explorer.engine.rendering import (
    MappingCache,
    apply_input_transform,
    recipe_ws,
    synthesis_kwargs,
    synthesis_path,
    synthesize,
)
from explorer.engine.rendering import render as render_recipe
from explorer.engine.state import load_state_strict
from explorer.engine.stored_latents import StoredLatent
from explorer.engine.view import noise_detail
from explorer.errors import CheckpointError
from kernels import forced_ref, selfcheck


@dataclass(frozen=True)
class ModelInfo:
    """What the UI needs to know about the loaded generator (plain data, no torch)."""
    path: str                       # local file path
    name: str                       # file name shown in the title
    sha256: str                     # content hash (embedded in exported recipes)
    family: str                     # 'stylegan2' | 'stylegan3' | ...
    resolution: int                 # img_resolution
    channels: int                   # img_channels
    num_ws: int                     # number of style inputs
    z_dim: int
    w_dim: int
    c_dim: int                      # 0 = unconditional
    layer_labels: tuple             # per ws index, e.g. '8x8 up'
    layer_has_noise: tuple          # per ws index: does that layer take noise?
    groups: tuple                   # (('coarse', (0, 1, 2)), ('middle', ...), ...)
    placeholder: bool               # untrained placeholder default model?
    device: str                     # e.g. 'CPU (2 threads)' or 'GPU: NVIDIA H200'
    is_stylegan3: bool = False
    layer_noise_learned: tuple | None = None   # per ws index: the learned noise_strength (None = no noise)
    fast_dtypes: tuple = ()         # dtypes of the fast view path ('fp32', 'bf16'); () = exact path only
    live: bool = False              # G_ema of a training run, handed over live (no file; path and sha256 '')
    synthesis_path: str = 'ref'     # what a recipe's synthesis 'auto' renders with here: 'fast' | 'ref'

    def group(self, name) -> tuple:
        return dict(self.groups).get(name, ())


def learned_noise_strengths(G, layers):
    """Per ws index, the trained ``noise_strength`` of that layer (None where it takes no noise).

    Matches the synthesis network's noise_strength parameters, in order, to the style
    layers that take noise; None when the counts disagree (unknown layout).
    """
    values = [float(p.detach().reshape(-1)[0]) for n, p in G.synthesis.named_parameters()
              if n.endswith('noise_strength')]
    noisy = [layer.index for layer in layers if layer.has_noise]
    if len(values) != len(noisy):
        return None
    out = [None] * len(layers)
    for i, v in zip(noisy, values):
        out[i] = v
    return tuple(out)


def synthesis_macs_upto(G, res) -> int:
    """Multiply-accumulates of ``G.synthesis`` up to and including resolution ``res`` (convs and
    ToRGB layers; used to scale measured frame times to preview resolutions)."""
    total = 0
    for name, m in G.synthesis.named_modules():
        w = getattr(m, 'weight', None)
        r = getattr(m, 'resolution', None)
        if isinstance(w, torch.Tensor) and w.ndim == 4 and r is not None and r <= res:
            total += w.numel() * r * r
    for name, m in G.synthesis.named_modules():
        if name.endswith('torgb') and hasattr(m, 'weight'):
            r = int(name.split('.')[0][1:]) if name.startswith('b') else 0
            if 0 < r <= res:
                total += m.weight.numel() * r * r
    return max(total, 1)


def peak_memory_mb(device) -> float:
    """Peak memory so far: allocated on a CUDA device, else the process's peak resident size."""
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    try:
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024     # KiB on Linux
    except (ImportError, OSError):
        return float('nan')


GALLERY_THUMB = 128        # label gallery images are box-shrunk to at most this many pixels


def shrink(frame: np.ndarray, size: int) -> np.ndarray:
    """``frame`` (uint8 [H, W, C]) averaged over k x k boxes, the smallest integer k that brings
    its larger side to at most ``size`` (k = 1: the frame itself)."""
    H, W = frame.shape[:2]
    k = -(-max(H, W) // int(size))
    if k <= 1:
        return frame
    h, w = H // k, W // k
    boxes = frame[:h * k, :w * k].reshape(h, k, w, k, -1).astype(np.float32).mean(axis=(1, 3))
    return np.clip(np.rint(boxes), 0, 255).astype(np.uint8)


def _ema(old, new):
    return new if old is None else 0.7 * old + 0.3 * new


class RenderSession(Protocol):
    """What the render worker asks of a session (``Session``; test doubles in tests/ui_helpers.py).
    Every method runs on the worker thread; errors are raised, the worker reports them."""

    def load(self, path_or_url, progress: Callable | None = None, sha256: str | None = None) -> ModelInfo:
        """Load a checkpoint (None: the default model); on failure the current model stays.
        ``sha256``: the content expected (a favourite's checkpoint); another file is refused."""

    def render(self, recipe: Recipe, path: str = 'auto', dtype: str = 'fp32', max_ms: float | None = None,
               interrupt: Callable[[], bool] | None = None) -> tuple[np.ndarray, dict]:
        """-> (uint8 [H, W, C], timings); ``interrupt()`` true between layers -> ``Cancelled``."""

    def render_noise_detail(self, recipe: Recipe) -> tuple[np.ndarray, np.ndarray, dict]:
        """-> (what the noise adds, the normal frame, timings)."""

    def render_grid_iter(self, spec: GridSpec, interrupt: Callable[[], bool] | None = None
                         ) -> Iterator[tuple[str, int, int, np.ndarray]]:
        """Yield (kind, r, c, uint8 tile) one at a time; renders may run between two tiles.
        ``interrupt()`` true before a tile (or between layers) -> ``Cancelled``."""

    def batch_export(self, seeds, outdir, recipe: Recipe, progress: Callable | None = None,
                     upscale: int = 1, options=None) -> list:
        """One PNG per seed (``options``: an ExportOptions format); ``progress`` may raise ``Cancelled``.
        -> written paths. Callers pass ``options`` only when it is not None."""

    def export_png(self, path, recipe: Recipe, recipe_dict: dict | None = None, upscale: int = 1, options=None):
        """Render on the recipe's synthesis path and write a PNG (or ``options``' format) with the
        recipe embedded, recording the concrete path ('fast' | 'ref')."""

    def load_state(self, record: dict) -> tuple[ModelInfo, bool]:
        """Show the training run's G_ema weights: -> (info, switched to a new live model)."""

    def read_latent(self, path) -> StoredLatent:
        """A latent file (.npz in NVIDIA's layout, .npy, .pt/.pth) as a stored latent (UserError if unreadable)."""

    def recipe_latent(self, recipe: Recipe, name: str = '') -> StoredLatent:
        """The final ws of ``recipe`` (blend, mixing, edits) as a W+ stored latent."""

    def export_latent(self, path, recipe: Recipe) -> Path:
        """Write the final ws of ``recipe`` as .npz in NVIDIA's layout (key ``w``, [1, num_ws, w_dim])."""
    def drag(self, recipe: Recipe, handles, targets, mask=None, steps: int = 200, on_step: Callable | None = None,
             cancel: Callable[[], bool] | None = None, image_every: int = 0):
        """Point dragging (explorer.engine.drag) from the final ws of ``recipe``: up to ``steps``
        updates, ``on_step(DragStep)`` after each, ``cancel()`` true stops within a step. -> DragResult."""

    def projection(self, target: np.ndarray, options: dict) -> Callable:
        """Projection (explorer.engine.projector) of ``target`` (uint8 [R, R, C] at the model's
        size) with ``options`` (``ProjectionConfig`` fields: space, steps, optimize_noise, seed,
        preview_every; UserError when invalid), to run on another thread: takes a private
        copy of the generator now (on the render thread) and returns ``run(progress) ->
        ProjectionResult``, which never touches the session (``progress(ProjectionStep)`` may
        raise ``Cancelled``)."""

    def compute_directions(self, method: str, layers: tuple | None = None, num: int = 10, samples: int = 20_000,
                           progress: Callable | None = None) -> DirectionSet:
        """Semantic directions of the loaded model ('sefa' | 'pca'), with ``std`` measured;
        ``progress(done, total, text)`` may raise ``Cancelled``."""

    def measure_std(self, directions: np.ndarray, progress: Callable | None = None) -> np.ndarray:
        """[K] standard deviation of w along each row of ``directions`` [K, w_dim] (slider unit)."""

    def label_gallery(self, seeds, psi: float, progress: Callable | None = None
                      ) -> tuple[tuple, np.ndarray, list[np.ndarray]]:
        """Faces to label (Directions, "From labels"): for each seed the w its image is made of
        (truncated with ``psi``) and the image (the exact render, box-shrunk to at most
        GALLERY_THUMB px) -> (seeds, w [N, w_dim] float32, [uint8 HWC]). ``progress`` may raise
        ``Cancelled``."""

    def fit_label_direction(self, w: np.ndarray, labels: np.ndarray, condition_on=(),
                            progress: Callable | None = None) -> tuple[np.ndarray, float]:
        """InterFaceGAN: the unit normal of a linear classifier (two classes) or regressor (scores)
        of ``labels`` on ``w`` [N, w_dim], with the span of ``condition_on`` projected out; and the
        std of w along it (slider unit) -> (float32 [w_dim], std)."""

    def animation_frame(self, anim: Animation, i: int, path: str = 'auto') -> tuple[np.ndarray, dict]:
        """Frame ``i`` of ``anim`` (Play in the Animation tab): -> (uint8 [H, W, C], timings).
        path 'exact': bit-equal to rendering ``AnimationPlan.frame_recipe(i)``; 'auto': the
        view's fast path where the model has one."""

    def export_animation(self, anim: Animation, out, scale: int = 1, resample: str = 'lanczos',
                         quality: int | None = None, path: str = 'exact', progress: Callable | None = None,
                         cancel: Callable[[], bool] | None = None, synthesis: str = 'auto') -> Path:
        """Render ``anim`` to ``out`` (.mp4 / .gif / .webp / a PNG folder) with its JSON beside it;
        ``progress`` may raise ``Cancelled`` (nothing is left under ``out``). ``synthesis``: 'auto'
        (fast where the model has it) or 'ref' (the reference); the files record the concrete
        path. -> the written path."""
    def inspect_layers(self) -> list[LayerInfo]:
        """Every synthesis layer of the loaded model the inspector can show, in forward order."""

    def inspect(self, recipe: Recipe, layer: str, options: InspectOptions) -> Inspection:
        """Layer ``layer``'s output for ``recipe`` (exact path), shown as ``options`` say."""


class Session:
    """Loads a generator and renders recipes to uint8 HWC frames (implements ``RenderSession``).

    Two paths: ``'exact'`` renders the recipe on its own synthesis path
    (``explorer.engine.rendering.synthesize``: ``Recipe.synthesis`` 'auto'/'fast' -> the default
    no-grad ``G.synthesis``, for StyleGAN2 the fp32 plan, ~1e-5 from the reference; 'ref' -> the
    reference): PNG export, batch export, the grid, restored recipes and the noise view use it,
    so saved pixels equal the CLI's bit for bit ("exact" means: exactly the pixels an export
    writes; ``timings['synthesis']`` says 'fast fp32' or 'reference'). New recipes are 'auto'
    (fast where the model has it); a recipe read from an older file is 'ref'. ``'auto'`` (the
    interactive view) uses ``FastRenderer`` for StyleGAN2 models (fp32, the same plan; bf16 where
    the CPU supports it: ~44 dB) and ``'exact'`` for the others.

    Progressive preview: ``render(..., max_ms=50)`` (an interactive request, e.g. a slider
    being dragged) renders at the largest lower resolution expected to fit ``max_ms`` when
    the measured full-frame time of that path exceeds it (skip architecture: the ToRGB image
    accumulated so far), returned at that resolution (the view scales it smoothly to the full
    size); faster models render full frames.
    """

    def __init__(self, device=None, cpu_threads=None, fast=True):
        """cpu_threads: None leaves torch's setting alone; 'auto' keeps one core free for the
        UI thread (on a shared 2-core machine 1 render thread is several times faster than 2).
        fast: False keeps the view on the exact path too."""
        self.device = pick_device(device)
        if self.device.type == 'cpu' and cpu_threads is not None:
            n = max(1, (os.cpu_count() or 2) - 1) if cpu_threads == 'auto' else int(cpu_threads)
            torch.set_num_threads(n)
        self.G = None
        self.info: ModelInfo | None = None
        self.cache = MappingCache()
        self.use_fast = bool(fast)
        self.assume_full_ms: float | None = None    # tests/bench: pretend full frames take this long
        self._fast: dict = {}                       # dtype -> FastRenderer
        self._ms: dict = {}                         # (path label, resolution) -> EMA synthesis ms
        self._macs: dict = {}                       # resolution -> synthesis MACs up to it (this model)
        self._live_key = None                       # architecture of the live training model loaded, if any
        self._anim_plan = None                      # (animation, path, AnimationPlan) of the animation playing
        self._capture = None                        # (recipe, layer name, [C, H, W]) last inspected

    # ------------------------------------------------------------------ loading
    def load(self, path_or_url, progress=None, sha256=None) -> ModelInfo:
        """Load a checkpoint; on any error the current model stays in place. ``sha256``: the
        content the caller expects (a favourite's checkpoint); another file is refused."""
        if path_or_url is None:
            path_or_url = default_checkpoint_path()
        path = resolve_path(path_or_url, progress=progress) if is_url(str(path_or_url)) else Path(path_or_url)
        digest = None
        if sha256:      # checked before anything is built
            try:
                digest = sha256_file(path)
            except OSError as e:
                raise CheckpointError(path, e.strerror or str(e)) from None
            if digest != sha256:
                raise CheckpointError(path, f'the file has changed (SHA-256 {digest[:12]}…, expected {sha256[:12]}…)')
        G = load_generator(path, device=self.device, progress=progress)  # raises CheckpointError
        digest = digest or sha256_file(path)
        info = self._describe(G, path=str(path), name=Path(path).name, sha256=digest,
                              placeholder=is_placeholder_default(path))
        self._install(G, info)
        return info

    def _describe(self, G, **fields) -> ModelInfo:
        """ModelInfo of ``G`` on this engine's device; ``fields``: path, name, sha256, placeholder[, live]."""
        layers = G.style_layers()
        groups = latents.groups_for(G)
        return ModelInfo(
            family=G.family,
            resolution=int(G.img_resolution), channels=int(G.img_channels), num_ws=int(G.num_ws),
            z_dim=int(G.z_dim), w_dim=int(G.w_dim), c_dim=int(G.c_dim),
            layer_labels=tuple(x.label for x in layers), layer_has_noise=tuple(bool(x.has_noise) for x in layers),
            groups=tuple((k, tuple(v)) for k, v in groups.items()),
            device=device_name(self.device), is_stylegan3=has_input_transform(G),
            layer_noise_learned=learned_noise_strengths(G, layers), fast_dtypes=self._fast_dtypes(G),
            synthesis_path=synthesis_path(G, 'auto'), **fields)

    def _install(self, G, info: ModelInfo) -> None:
        self.G, self.info = G, info
        self._live_key = None
        self.cache = MappingCache()
        self._fast = {}
        self._ms = {}
        self._macs = {}
        self._anim_plan = None
        self._capture = None

    def _fast_dtypes(self, G) -> tuple:
        """The fast view path's dtypes for ``G``: StyleGAN2, and StyleGAN3 on the CPU (its plan,
        resuming drags from the first changed layer); other families keep G.synthesis."""
        if not self.use_fast or forced_ref():
            return ()
        if G.family == 'stylegan3' and self.device.type == 'cpu':
            # fp32 only: its bf16 plan measured no faster than the fp32 one (NNPACK) at ~60 dB
            # (bench/RESULTS.md, "StyleGAN3 on a CPU").
            return ('fp32',)
        if G.family != 'stylegan2':
            return ()
        if not fast_synthesis.available(G.synthesis):      # e.g. a layer the plan does not support
            return ()
        # On CUDA/MPS each path serves only after its first-use self-check (explorer.engine.selfcheck).
        if not selfcheck.allowed('render.fp32', self.device):
            return ()
        bf16 = dtype_supported('bf16', self.device) and selfcheck.allowed('render.bf16', self.device)
        return ('fp32',) + (('bf16',) if bf16 else ())

    def fast_renderer(self, dtype='fp32') -> FastRenderer | None:
        """The FastRenderer the view uses for ``dtype`` (None: this model renders exactly)."""
        self._require()
        if dtype not in self.info.fast_dtypes:
            return None
        fr = self._fast.get(dtype)
        if fr is None:
            # CPU fp32 (no CUDA graphs): the renderer G.synthesis itself keeps (one plan in memory;
            # the view's full frames are then bit for bit the 'fast' export's).
            shared = (fast_synthesis.renderer(self.G.synthesis)     # (StyleGAN2's; StyleGAN3 keeps its own)
                      if (dtype, self.device.type, self.G.family) == ('fp32', 'cpu', 'stylegan2') else None)
            fr = self._fast[dtype] = shared or FastRenderer(self.G, self.device, dtype=dtype)
        return fr

    # ------------------------------------------------------------------ rendering
    def _require(self):
        if self.G is None:
            raise RuntimeError('no model loaded')

    def full_frame_ms(self, label) -> float | None:
        """Measured (EMA) synthesis time of a full frame on path ``label``, or the injected one."""
        if self.assume_full_ms is not None:
            return float(self.assume_full_ms)
        return self._ms.get((label, int(self.G.img_resolution)))

    def preview_resolution(self, label, max_ms) -> int:
        """The resolution an interactive request renders at: full unless a full frame is
        measured to take longer than ``max_ms`` and the architecture can stop early; then the
        largest lower resolution expected to fit (measured, else scaled by MACs from the full
        frame), or the smallest one when none fits."""
        R = int(self.G.img_resolution)
        full = self.full_frame_ms(label)
        if full is None or full <= max_ms:
            return R
        lower = [int(r) for r in self.G.preview_resolutions() if int(r) < R]
        if not lower:
            return R
        def estimate(r):
            ms = self._ms.get((label, r))
            return ms if ms is not None else full * self._macs_upto(r) / self._macs_upto(R)
        fits = [r for r in lower if estimate(r) <= max_ms]
        return max(fits) if fits else min(lower)

    def _macs_upto(self, res) -> int:
        """synthesis_macs_upto for the loaded model, cached (it walks every module: ~2 ms per
        interactive request at 1024 otherwise)."""
        if res not in self._macs:
            self._macs[res] = synthesis_macs_upto(self.G, res)
        return self._macs[res]

    @torch.no_grad()
    def render(self, recipe: Recipe, path='auto', dtype='fp32', max_ms=None, interrupt=None):
        """-> (uint8 [H, W, C], timings).

        path: 'exact' (the recipe's synthesis path, what exports write) or 'auto' (FastRenderer in ``dtype``
        for StyleGAN2 models, else exact). max_ms: set for interactive requests (progressive
        preview, see the class docstring). A preview comes back at its own resolution (the
        view scales it smoothly to the full size: no nearest-neighbour blocks, no CPU cost).
        interrupt: optional callable asked between layers; when it returns True the render
        stops with ``Cancelled`` (the worker passes "a newer request is waiting").
        timings: 'mapping_ms', 'synthesis_ms', 'total_ms', 'path' ('exact' | 'fast fp32' |
        'fast bf16'), 'synthesis' (what rendered it: 'fast fp32' | 'fast bf16' | 'reference'),
        'resolution' (rendered), 'full_resolution', 'preview' (bool), and 'notice' once when a fast
        path failed its self-check since the last frame.
        """
        self._require()
        if path not in ('auto', 'exact'):
            raise ValueError(f"path must be 'auto' or 'exact', got {path!r}")
        fast = self.fast_renderer(dtype) if path == 'auto' else None
        if path == 'auto' and fast is None and dtype != 'fp32':
            raise ValueError(f'{dtype} rendering is not available for this model on {self.device}')
        label = f'fast {dtype}' if fast is not None else 'exact'
        R = int(self.G.img_resolution)
        res = R if max_ms is None else self.preview_resolution(label, max_ms)
        t0 = time.perf_counter()
        ws = recipe_ws(self.G, recipe, self.device, self.cache)
        t1 = time.perf_counter()
        if fast is not None:
            apply_input_transform(self.G, recipe)       # (StyleGAN3; no-op for StyleGAN2)
            img = fast.render(ws, stop_at=None if res == R else res, interrupt=interrupt,
                              **synthesis_kwargs(self.G, recipe))
            synthesis = label
        else:
            img = synthesize(self.G, recipe, ws, interrupt=interrupt, **({} if res == R else {'stop_at': res}))
            synthesis = 'fast fp32' if synthesis_path(self.G, recipe.synthesis) == 'fast' else 'reference'
        frame = to_uint8(img)
        t2 = time.perf_counter()
        self._ms[(label, res)] = _ema(self._ms.get((label, res)), (t2 - t1) * 1e3)
        timings = {'mapping_ms': (t1 - t0) * 1e3, 'synthesis_ms': (t2 - t1) * 1e3, 'total_ms': (t2 - t0) * 1e3,
                   'path': label, 'synthesis': synthesis, 'resolution': res, 'full_resolution': R,
                   'preview': res != R,
                   'peak_mem_mb': peak_memory_mb(self.device)}
        if fast is not None and getattr(fast, 'last_start', 0) > 0:    # StyleGAN3: a resumed drag frame
            timings['path'] = f'{label} · from layer {fast.last_start} (earlier layers kept)'
        notices = selfcheck.take_notices()      # a fast path switched off since the last frame: say so once
        if notices:
            timings['notice'] = '; '.join(notices)
        return frame, timings

    def render_exact(self, recipe: Recipe):
        """The pixels PNG export writes (explorer.engine.rendering.render on the recipe's path)."""
        return self.render(recipe, path='exact')

    def export_png(self, path, recipe: Recipe, recipe_dict=None, upscale: int = 1, options=None):
        """Render ``recipe`` on its synthesis path and write it as a PNG with ``recipe_dict``
        embedded, its 'synthesis' set to the concrete path that rendered it ('fast' | 'ref')
        (``upscale``: that many times larger, Lanczos); ``options`` (ExportOptions): in that
        format instead, 16-bit ones from the float pixels."""
        self._require()
        if isinstance(recipe_dict, dict) and 'seeds' in recipe_dict:       # a recipe (not a grid record)
            recipe_dict = dict(recipe_dict, synthesis=synthesis_path(self.G, recipe.synthesis))
        if options is not None and options.bits == 16:
            with torch.no_grad():
                img = render_recipe(self.G, recipe, self.device, self.cache)
            return write_render(path, img, recipe_dict, upscale, options)
        frame, _ = self.render_exact(recipe)
        if options is not None:
            return save_image(path, frame, recipe_dict, options if upscale == 1 else options.replace(upscale=upscale))
        return save_png(path, frame, recipe_dict, upscale=upscale)

    @torch.no_grad()
    def render_noise_detail(self, recipe: Recipe, gain: float | None = None):
        """What the noise adds: |image - image without noise| x gain, on the recipe's path, from
        the float images (sub-level detail survives). gain None: auto-contrast per frame
        (explorer.engine.view.auto_gain: the 99.5th percentile of the difference shows white).

        -> (display uint8 [H, W, C], the normal frame uint8 [H, W, C], timings); timings
        'noise_gain' is the gain used.
        """
        self._require()
        t0 = time.perf_counter()
        img = render_recipe(self.G, recipe, self.device, self.cache)
        plain = render_recipe(self.G, recipe.replace(noise_mode='none'), self.device, self.cache)
        levels = [(x[0].float() * 127.5 + 128).clamp(0, 255).permute(1, 2, 0).cpu().numpy() for x in (img, plain)]
        display, gain = noise_detail(*levels, gain=gain)
        frame = to_uint8(img)
        R = int(self.G.img_resolution)
        return display, frame, {'total_ms': (time.perf_counter() - t0) * 1e3, 'path': 'exact', 'resolution': R,
                                'full_resolution': R, 'preview': False, 'noise_gain': gain}

    def render_grid_iter(self, spec: GridSpec, interrupt=None):
        """Yield (kind, r, c, uint8 HWC) tiles progressively (see engine.mixing.iter_grid: each
        tile sets its own input transform, so renders between tiles change none)."""
        self._require()
        yield from iter_grid(self.G, spec, device=self.device, cache=self.cache, interrupt=interrupt)

    def batch_export(self, seeds, outdir, recipe: Recipe, progress=None, upscale: int = 1, options=None):
        """One PNG per seed (or ``options``' format) with the current settings; progress may raise Cancelled."""
        self._require()
        os.makedirs(outdir, exist_ok=True)
        return render_seeds_to_dir(self.G, self.info.path if self.info else None, seeds, outdir,
                                   device=self.device, progress=progress, base_recipe=recipe, upscale=upscale,
                                   options=options)

    # ------------------------------------------------------------------ stored latents
    def read_latent(self, path) -> StoredLatent:
        """A latent file as a stored latent named after the file (torch files need torch, so
        the GUI reads them here); whether it fits a model is ``stored_latents.fits_model``."""
        return read_stored_latent(path)

    @torch.no_grad()
    def _final_ws(self, recipe: Recipe) -> np.ndarray:
        """[num_ws, w_dim] float32: what ``render`` feeds the synthesis network."""
        self._require()
        return recipe_ws(self.G, recipe, self.device, self.cache)[0].float().cpu().numpy()

    def recipe_latent(self, recipe: Recipe, name: str = '') -> StoredLatent:
        """The final ws of ``recipe`` as a W+ stored latent: as a base on its own it renders
        exactly the pixels of ``recipe`` (same ws, no truncation of a stored latent)."""
        return StoredLatent.from_array(self._final_ws(recipe), name=name)

    def export_latent(self, path, recipe: Recipe) -> Path:
        """The final ws of ``recipe`` as NVIDIA's ``projected_w.npz`` (key ``w``, [1, num_ws, w_dim])."""
        return write_latent_npz(path, self._final_ws(recipe))

    # ------------------------------------------------------------------ point dragging
    def dragger(self, recipe: Recipe, handles, targets, mask=None):
        """A ``Dragger`` on the loaded model starting from the final ws of ``recipe`` (blend,
        mixing, edits), on this session's device, with the recipe's noise mode."""
        from explorer.engine.drag import Dragger
        self._require()
        with torch.no_grad():
            ws = recipe_ws(self.G, recipe, self.device, self.cache)
        return Dragger(self.G, ws.detach(), handles, targets, mask=mask, device=self.device,
                       noise_mode=recipe.noise_mode)

    def drag(self, recipe: Recipe, handles, targets, mask=None, steps: int = 200, on_step=None, cancel=None,
             image_every: int = 0):
        """Drag ``handles`` toward ``targets`` on the image of ``recipe`` (see ``dragger``);
        -> DragResult (its ``ws`` [num_ws, w_dim] is the dragged W+). Runs on the render thread."""
        return self.dragger(recipe, handles, targets, mask=mask).run(steps, on_step=on_step, cancel=cancel,
                                                                     image_every=image_every)

    # ------------------------------------------------------------------ projection
    def projection(self, target: np.ndarray, options: dict):
        """-> ``run(progress) -> ProjectionResult`` on a private copy of the loaded generator
        (see ``RenderSession.projection``). The copy is taken here, on the render thread, so a
        later ``load_state`` (training weights copied into ``self.G`` in place) or ``load``
        never changes the generator a running projection optimises against."""
        import copy

        from explorer.engine.projector import ProjectionConfig, project, target_tensor
        self._require()
        config = ProjectionConfig(**dict(options))
        target_tensor(target, self.G, 'cpu')        # a wrong size is refused now, not on the other thread
        G = copy.deepcopy(self.G).eval().requires_grad_(False)
        box = [G]

        def run(progress=None):
            return project(box.pop(), target, config, progress=progress)     # one run only
        return run

    # ------------------------------------------------------------------ live training weights
    def load_state(self, record: dict) -> tuple[ModelInfo, bool]:
        """Show the training run's G_ema: -> (info, switched).

        ``record``: {'class', 'init_kwargs', 'state_dict' (CPU tensors), 'kimg', 'run'}, a copy
        the trainer no longer touches. The first record (or one of another architecture)
        switches the engine to a fresh generator built from the record (``switched`` True,
        ``info.live``); later records are copied into it. Names and shapes are all checked
        before anything changes, so a bad record leaves the engine as it was. Runs on the
        render thread.
        """
        import json

        from explorer.engine.checkpoint import generator_from_record
        try:
            key = json.dumps([record.get('class'), record.get('init_kwargs')], sort_keys=True)
        except (TypeError, ValueError):
            key = None
        if key is not None and key == self._live_key and self.G is not None:
            load_state_strict(self.G, record['state_dict'], '<training>')
            self.cache = MappingCache()
            self._capture = None
            self._ms = {}       # the FastRenderers rebuild their plans from the new weights themselves
            self._anim_plan = None
            return self.info, False
        G = generator_from_record(record, '<training>').eval().requires_grad_(False).to(self.device)
        run = Path(str(record.get('run') or 'training run')).name
        info = self._describe(G, path='', name=f'live G_ema of {run}', sha256='', placeholder=False, live=True)
        self._install(G, info)
        self._live_key = key
        return info, True

    # ------------------------------------------------------------------ semantic directions
    def compute_directions(self, method, layers=None, num=10, samples=20_000, progress=None) -> DirectionSet:
        """SeFa (``method='sefa'``: the style affines of ``layers``, default all) or GANSpace PCA
        (``'pca'``: ``samples`` random w) on the loaded model, the ``num`` strongest directions,
        each with the std of w along it; made for this checkpoint's SHA-256. ``progress`` (may
        raise ``Cancelled``) reports the sampling. Runs on the render thread."""
        from explorer.engine import directions
        self._require()
        sha = self.info.sha256 if self.info is not None else ''
        layers = None if layers is None else tuple(int(i) for i in layers)
        if method == 'sefa':
            if progress is not None:
                progress(0, 1, 'factorising the style weights')
            dset = directions.sefa(self.G, layers, num=num, checkpoint_sha256=sha, std_samples=0)
            return dset.replace(std=self.measure_std(dset.directions, progress))
        if method == 'pca':
            return directions.pca(self.G, num=num, samples=samples, layers=layers, progress=progress,
                                  checkpoint_sha256=sha, device=self.device)
        raise ValueError(f"method must be 'sefa' or 'pca', got {method!r}")

    def measure_std(self, dirs, progress=None) -> np.ndarray:
        """[K] std of w along each row of ``dirs`` [K, w_dim] over directions.STD_SAMPLES random z."""
        from explorer.engine import directions
        self._require()
        dirs = np.asarray(dirs, dtype=np.float32)
        if dirs.ndim != 2 or dirs.shape[1] != self.G.w_dim:
            raise ValueError(f'directions must be [K, {self.G.w_dim}], got {list(dirs.shape)}')
        return directions.std_along(self.G, dirs, progress=progress)

    def label_gallery(self, seeds, psi, progress=None):
        """See ``RenderSession.label_gallery``: one exact render per seed, as the view would
        show ``Recipe(seeds=(seed,), psi=psi)``; the w is that recipe's first ws row."""
        self._require()
        seeds = tuple(int(s) for s in seeds)
        ws, thumbs = [], []
        for i, seed in enumerate(seeds):
            recipe = Recipe(seeds=(seed,), psi=float(psi))
            ws.append(self._final_ws(recipe)[0])
            frame, _ = self.render(recipe, path='exact')
            thumbs.append(shrink(frame, GALLERY_THUMB))
            if progress is not None:
                progress(i + 1, len(seeds), 'rendering faces')
        w = np.stack(ws).astype(np.float32) if ws else np.zeros([0, self.G.w_dim], np.float32)
        return seeds, w, thumbs

    def fit_label_direction(self, w, labels, condition_on=(), progress=None):
        """See ``RenderSession.fit_label_direction``."""
        from explorer.engine import directions
        self._require()
        w = np.asarray(w, dtype=np.float32)
        if w.ndim != 2 or w.shape[1] != self.G.w_dim:
            raise ValueError(f'w must be [N, {self.G.w_dim}], got {list(w.shape)}')
        d = directions.fit_direction(w, labels, condition_on=[np.asarray(c, np.float32) for c in condition_on])
        std = self.measure_std(d[None], progress)
        return d.astype(np.float32), float(std[0])

    # ------------------------------------------------------------------ animation
    def _animation_plan(self, anim: Animation, path: str):
        """The AnimationPlan of ``anim`` on this model (kept while the same animation plays:
        the keyframe ws are computed once)."""
        from explorer.engine.animation import AnimationPlan
        self._require()
        anim.check_checkpoint(self.info.sha256, self.info.name)
        want = 'fast' if path == 'auto' and self.info.fast_dtypes else 'exact'
        key = (anim, want)
        if self._anim_plan is None or self._anim_plan[0] != key:
            self._anim_plan = (key, AnimationPlan(self.G, anim, device=self.device, path=want))
        return self._anim_plan[1]

    def animation_frame(self, anim: Animation, i: int, path: str = 'auto'):
        """Frame ``i`` of ``anim`` -> (uint8 [H, W, C], timings: 'total_ms', 'path', 'frame')."""
        t0 = time.perf_counter()
        plan = self._animation_plan(anim, path)
        frame = plan.render(int(i))
        R = int(self.G.img_resolution)
        return frame, {'total_ms': (time.perf_counter() - t0) * 1e3, 'path': plan.path, 'frame': int(i),
                       'resolution': R, 'full_resolution': R, 'preview': False}

    def export_animation(self, anim: Animation, out, scale=1, resample='lanczos', quality=None, path='exact',
                         progress=None, cancel=None, synthesis='auto') -> Path:
        """Render ``anim`` and write it (explorer.engine.animation.export_animation) on ``synthesis``'s
        path ('auto' | 'fast' | 'ref', recorded as the concrete one); keyframes made on another
        checkpoint are refused. -> the written path."""
        from explorer.engine.animation import export_animation
        self._require()
        if synthesis not in SYNTHESIS_PATHS:
            raise ValueError(f'synthesis must be one of {SYNTHESIS_PATHS}, got {synthesis!r}')
        anim.check_checkpoint(self.info.sha256, self.info.name)
        return Path(export_animation(self.G, anim, out, device=self.device, path=path, scale=int(scale),
                                     resample=resample, quality=quality, progress=progress, cancel=cancel,
                                     synthesis=synthesis))
    # ------------------------------------------------------------------ layer inspector
    def inspect_layers(self) -> list[LayerInfo]:
        """Every synthesis layer of the loaded model the inspector can show (engine.inspect)."""
        self._require()
        return synthesis_layers(self.G)

    @torch.no_grad()
    def inspect(self, recipe: Recipe, layer: str, options: InspectOptions) -> Inspection:
        """Layer ``layer``'s output for ``recipe`` on the exact path, captured with a forward hook
        that is removed at once (the synthesis stops at that layer), then shown as ``options``
        say (engine.activation_view). The last capture is kept, so another view of the same
        layer (a channel, PCA, the spectrum) costs no synthesis. timings: 'capture_ms' (0 when
        reused), 'view_ms'."""
        self._require()
        info = next((x for x in synthesis_layers(self.G) if x.name == layer), None)
        if info is None:
            raise ValueError(f'no layer {layer!r} in this network')
        t0 = time.perf_counter()
        if self._capture is None or self._capture[:2] != (recipe, layer):
            ws = recipe_ws(self.G, recipe, self.device, self.cache)
            apply_input_transform(self.G, recipe)
            self._capture = (recipe, layer, capture(self.G, ws, layer, **synthesis_kwargs(self.G, recipe)))
        t1 = time.perf_counter()
        result = inspect_array(self._capture[2], info, options, recipe=recipe)
        result.timings = {'capture_ms': (t1 - t0) * 1e3, 'view_ms': (time.perf_counter() - t1) * 1e3}
        return result
