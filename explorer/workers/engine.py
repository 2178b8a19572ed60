"""RenderEngine: the plain-Python object the render worker drives (no Qt here).

It owns the generator, its device and the mapping cache. The worker thread calls
it; tests replace it with a fake that blocks on a lock to prove latest-wins.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from explorer.engine import latents
from explorer.engine.checkpoint import (default_checkpoint_path, is_placeholder_default, is_url, load_generator, resolve_path,
                                        sha256_file)
from explorer.engine.export import to_uint8
from explorer.engine.mixing import GridSpec, iter_grid
from explorer.engine.recipe import MappingCache, Recipe, recipe_ws, apply_input_transform, synthesis_kwargs


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

    def group(self, name) -> tuple:
        return dict(self.groups).get(name, ())


def device_name(device: torch.device) -> str:
    if device.type == 'cuda':
        return f'GPU: {torch.cuda.get_device_name(device)}'
    n = torch.get_num_threads()
    return f'CPU ({n} thread{"s" if n != 1 else ""})'


def pick_device(name=None) -> torch.device:
    if name in (None, 'auto'):
        name = 'cuda' if torch.cuda.is_available() else 'cpu'
    return torch.device(name)


def learned_noise_strengths(G, layers):
    """Per ws index, the trained ``noise_strength`` of that layer (None where it takes no noise).

    Matches the synthesis network's noise_strength parameters, in order, to the style
    layers that take noise; None when the counts disagree (unknown layout).
    """
    values = [float(p.detach().reshape(-1)[0]) for n, p in G.synthesis.named_parameters()
              if n.endswith('noise_strength')]
    noisy = [l.index for l in layers if l.has_noise]
    if len(values) != len(noisy):
        return None
    out = [None] * len(layers)
    for i, v in zip(noisy, values):
        out[i] = v
    return tuple(out)


class RenderEngine:
    """Loads a generator and renders recipes to uint8 HWC frames."""

    def __init__(self, device=None, cpu_threads=None):
        """cpu_threads: None leaves torch's setting alone; 'auto' keeps one core free for the
        UI thread (on a shared 2-core machine 1 render thread is several times faster than 2)."""
        self.device = pick_device(device)
        if self.device.type == 'cpu' and cpu_threads is not None:
            n = max(1, (os.cpu_count() or 2) - 1) if cpu_threads == 'auto' else int(cpu_threads)
            torch.set_num_threads(n)
        self.G = None
        self.info: ModelInfo | None = None
        self.cache = MappingCache()

    # ------------------------------------------------------------------ loading
    def load(self, path_or_url, progress=None) -> ModelInfo:
        """Load a checkpoint; on any error the current model stays in place."""
        if path_or_url is None:
            path_or_url = default_checkpoint_path()
        path = resolve_path(path_or_url, progress=progress) if is_url(str(path_or_url)) else Path(path_or_url)
        G = load_generator(path, device=self.device, progress=progress)  # raises CheckpointError
        layers = G.style_layers()
        groups = latents.groups_for(G)
        info = ModelInfo(
            path=str(path), name=Path(path).name, sha256=sha256_file(path), family=getattr(G, 'family', '?'),
            resolution=int(G.img_resolution), channels=int(G.img_channels), num_ws=int(G.num_ws),
            z_dim=int(G.z_dim), w_dim=int(G.w_dim), c_dim=int(G.c_dim),
            layer_labels=tuple(l.label for l in layers), layer_has_noise=tuple(bool(l.has_noise) for l in layers),
            groups=tuple((k, tuple(v)) for k, v in groups.items()),
            placeholder=is_placeholder_default(path), device=device_name(self.device),
            is_stylegan3=hasattr(G, 'set_input_transform'),
            layer_noise_learned=learned_noise_strengths(G, layers))
        self.G, self.info = G, info
        self.cache = MappingCache()
        return info

    # ------------------------------------------------------------------ rendering
    def _require(self):
        if self.G is None:
            raise RuntimeError('no model loaded')

    @torch.no_grad()
    def render(self, recipe: Recipe):
        """-> (uint8 [H, W, C], {'mapping_ms', 'synthesis_ms', 'total_ms'})."""
        self._require()
        t0 = time.perf_counter()
        ws = recipe_ws(self.G, recipe, self.device, self.cache)
        t1 = time.perf_counter()
        apply_input_transform(self.G, recipe)
        img = self.G.synthesis(ws, **synthesis_kwargs(self.G, recipe))
        frame = to_uint8(img)
        t2 = time.perf_counter()
        return frame, {'mapping_ms': (t1 - t0) * 1e3, 'synthesis_ms': (t2 - t1) * 1e3, 'total_ms': (t2 - t0) * 1e3}

    @torch.no_grad()
    def render_noise_detail(self, recipe: Recipe, gain: float = 4.0):
        """What the noise adds: |image - image without noise| x gain.

        -> (display uint8 [H, W, C], the normal frame uint8 [H, W, C], timings).
        """
        frame, timings = self.render(recipe)
        plain, t2 = self.render(recipe.replace(noise_mode='none'))
        diff = np.abs(frame.astype(np.int16) - plain.astype(np.int16)).astype(np.float32) * gain
        display = np.clip(diff, 0, 255).astype(np.uint8)
        timings = dict(timings, total_ms=timings['total_ms'] + t2['total_ms'])
        return display, frame, timings

    def render_grid_iter(self, spec: GridSpec):
        """Yield (kind, r, c, uint8 HWC) tiles progressively (see engine.mixing.iter_grid)."""
        self._require()
        if hasattr(self.G, 'set_input_transform'):
            self.G.set_input_transform(translate=(0.0, 0.0), rotate_deg=0.0)
        yield from iter_grid(self.G, spec, device=self.device, cache=self.cache)

    def batch_export(self, seeds, outdir, recipe: Recipe, progress=None):
        """One PNG per seed with the current settings; progress may raise Cancelled."""
        self._require()
        from explorer.engine.render_batch import render_seeds_to_dir
        os.makedirs(outdir, exist_ok=True)
        return render_seeds_to_dir(self.G, self.info.path if self.info else None, seeds, outdir,
                                   device=self.device, progress=progress, base_recipe=recipe)

    # ------------------------------------------------------------------ live training weights
    def load_state(self, record: dict) -> ModelInfo:
        """Copy G_ema weights handed over by the training worker into the loaded generator.

        ``record``: {'class', 'init_kwargs', 'state_dict' (CPU tensors), ...}, a copy the
        trainer no longer touches. Only the same architecture fits (open a snapshot of the
        run first); names and shapes are all checked before anything is copied, so a
        mismatch leaves the current weights as they were. Runs on the render thread.
        """
        from explorer.engine.checkpoint import load_state_strict
        from explorer.errors import CheckpointError
        self._require()
        if record.get('class') != getattr(self.G, 'family', None):
            raise CheckpointError('<training>', f'the training weights ({record.get("class")}) do not fit the loaded '
                                                f'{getattr(self.G, "family", "?")} model; open a snapshot of the run first')
        load_state_strict(self.G, record['state_dict'], '<training>')
        self.cache = MappingCache()
        return self.info
