"""Recipes to pixels: mapping (with a cache), blending, mixing, edits, synthesis.

``explorer.engine.recipe`` holds the plain-data ``Recipe``; this module turns one into
ws and images with torch. The GUI's session, the CLI, the grid, batch export and video
all render through ``recipe_ws`` + ``synthesize`` (``render`` is the two together).

Which synthesis path renders a recipe is its ``synthesis`` field: ``'ref'`` the reference
(``G.synthesis(impl='ref')``), ``'fast'`` the default no-grad path (``impl='auto'``, e.g. the
StyleGAN2 plan, ``explorer.engine.fast_synthesis``), ``'auto'`` the fast one where this model
has it in this process, else the reference. Files record the concrete path (``resolved``), so a
PNG re-renders bit for bit (same checkpoint, machine, versions and thread count). A ``'fast'``
recipe on a model or device without that path renders with the reference, said once in the log.
"""

from __future__ import annotations

import logging

import torch

from explorer.engine import latents
from explorer.engine.families import has_input_transform
from explorer.engine.interrupt import interruptible
from explorer.engine.recipe import Recipe, validate
from explorer.engine.stored_latents import StoredLatent, is_ref, ref_key
from explorer.errors import UserError

log = logging.getLogger(__name__)
_warned: set = set()


class MappingCache:
    """Caches w per (seed, psi, cutoff, class) so style-only changes skip mapping."""

    def __init__(self, max_items=4096):
        self.max_items = max_items
        self._d: dict = {}
        self.hits = 0
        self.misses = 0

    def clear(self):
        self._d.clear()

    def ws_for_seeds(self, G, seeds, psi, cutoff, class_idx, device, stored=()) -> torch.Tensor:
        """[len(seeds), L, D]. A source may be a stored latent's ref ('latent:<key>', found in
        ``stored``): its W/W+ is used as it is (no truncation: it is already a w)."""
        out = [None] * len(seeds)
        todo = []
        for i, s in enumerate(seeds):
            if is_ref(s):
                out[i] = stored_ws(G, _find(stored, s), device)
                continue
            key = (int(s), float(psi), cutoff, class_idx)
            hit = self._d.get(key)
            if hit is not None:
                self.hits += 1
                out[i] = hit
            else:
                todo.append((i, s, key))
        if todo:
            self.misses += len(todo)
            ws = latents.compute_ws(G, [s for _, s, _ in todo], psi, cutoff, class_idx, device)
            for (i, _, key), w in zip(todo, ws):
                out[i] = w
                if len(self._d) >= self.max_items:
                    self._d.pop(next(iter(self._d)))
                self._d[key] = w
        return torch.stack(out)


def _find(stored, source) -> StoredLatent:
    key = ref_key(source)
    for lat in stored:
        if lat.key == key:
            return lat
    raise UserError(f'no stored latent {source}')


def stored_ws(G, lat: StoredLatent, device) -> torch.Tensor:
    """[num_ws, w_dim] of a stored latent on ``device``."""
    return torch.from_numpy(lat.ws(G.num_ws)).to(device)


def compute_sources(G, sources, psi, cutoff, class_idx, device, stored=()) -> torch.Tensor:
    """[len(sources), L, D] for seeds and stored-latent refs, without a cache."""
    out = [None] * len(sources)
    seeds = [(i, s) for i, s in enumerate(sources) if not is_ref(s)]
    if seeds:
        ws = latents.compute_ws(G, [s for _, s in seeds], psi, cutoff, class_idx, device)
        for (i, _), w in zip(seeds, ws):
            out[i] = w
    for i, s in enumerate(sources):
        if is_ref(s):
            out[i] = stored_ws(G, _find(stored, s), device)
    return torch.stack(out)


def apply_edits(ws: torch.Tensor, edits) -> torch.Tensor:
    """DESIGN.md's edit rule for each edit in turn: ``ws[:, layers] += amount * vector``."""
    from explorer.engine.directions import apply_edit
    for e in edits:
        ws = apply_edit(ws, e.array(), e.amount, e.layers)
    return ws


@torch.no_grad()
def recipe_ws(G, recipe: Recipe, device=None, cache: MappingCache | None = None) -> torch.Tensor:
    """[1, num_ws, w_dim]: blended base latent, then per-layer mixing."""
    validate(recipe, G)
    device = device if device is not None else latents._device_of(G)

    def lookup(seeds):
        if cache is not None:
            return cache.ws_for_seeds(G, seeds, recipe.psi, recipe.cutoff, recipe.class_idx, device,
                                      recipe.latents)
        return compute_sources(G, list(seeds), recipe.psi, recipe.cutoff, recipe.class_idx, device,
                               recipe.latents)

    base_all = lookup(recipe.seeds)  # [S, L, D]
    weights = torch.tensor(recipe.seed_weights, dtype=base_all.dtype, device=base_all.device)
    base = (base_all * weights.reshape(-1, 1, 1)).sum(0, keepdim=True)
    if recipe.layer_source is not None and recipe.mix_seeds:
        sources = lookup(recipe.mix_seeds)
        src = [(-1 if s is None else int(s)) for s in recipe.layer_source]
        base = latents.mix_ws(base, sources, src, recipe.layer_blend)
    if recipe.edits:
        base = apply_edits(base, recipe.edits)
    return base


def synthesis_kwargs(G, recipe: Recipe) -> dict:
    kw = {'noise_mode': recipe.noise_mode,
          'noise_scale': latents.noise_scales(G.num_ws, recipe.noise_strength, recipe.layer_noise)}
    if recipe.noise_mode == 'random':
        g = torch.Generator()
        g.manual_seed(int(recipe.noise_seed))
        kw['noise_generator'] = g
    return kw


def apply_input_transform(G, recipe: Recipe) -> None:
    if has_input_transform(G):
        G.set_input_transform(translate=tuple(recipe.translate), rotate_deg=float(recipe.rotate))


def fast_available(G) -> bool:
    """Does this model's ``G.synthesis`` take a fast path under ``torch.no_grad()`` for a recipe
    (full resolution, any noise mode) in this process? A synthesis network says so with a
    ``fast_available()`` method (StyleGAN2: the plan; StyleGAN1: NNPACK convolutions on the CPU);
    a network without one renders recipes with the reference."""
    probe = getattr(G.synthesis, 'fast_available', None)
    return bool(probe()) if callable(probe) else False


def synthesis_path(G, requested: str = 'auto') -> str:
    """The concrete path ('fast' | 'ref') that renders a recipe asking for ``requested``."""
    if requested == 'ref':
        return 'ref'
    if fast_available(G):
        return 'fast'
    if requested == 'fast':
        key = (G.family, str(next(G.parameters()).device))
        if key not in _warned:
            _warned.add(key)
            log.warning('this recipe was rendered on the fast synthesis path, which %s on %s does not have '
                        'here: rendering it with the reference (pixels may differ by a level)', *key)
    return 'ref'


def resolved(G, recipe: Recipe) -> Recipe:
    """``recipe`` recording the path that renders it here ('fast' | 'ref'), as files embed it."""
    path = synthesis_path(G, recipe.synthesis)
    return recipe if recipe.synthesis == path else recipe.replace(synthesis=path)


@torch.no_grad()
def synthesize(G, recipe: Recipe, ws: torch.Tensor, interrupt=None, **extra) -> torch.Tensor:
    """The image of ``recipe`` from its latents ``ws`` (``recipe_ws``): input transform, noise
    settings, ``G.synthesis`` on the recipe's path (``synthesis_path``). ``extra``: more
    synthesis arguments (``stop_at``). ``interrupt``: asked between layers, True -> ``Cancelled``."""
    apply_input_transform(G, recipe)
    kw = dict(synthesis_kwargs(G, recipe), **extra)
    if synthesis_path(G, recipe.synthesis) == 'ref':
        with interruptible(G.synthesis, interrupt):
            return G.synthesis(ws, impl='ref', **kw)
    if interrupt is not None and G.family == 'stylegan2':      # the plan asks interrupt itself
        from explorer.engine import fast_synthesis
        img = fast_synthesis.try_render(G.synthesis, ws, noise_scale=kw.pop('noise_scale'),
                                        stop_at=kw.pop('stop_at', None), block_kwargs=kw, interrupt=interrupt)
        if img is not None:
            return img
    with interruptible(G.synthesis, interrupt):     # (hooks: the StyleGAN2 plan would step aside)
        return G.synthesis(ws, impl='auto', **kw)


# ---------------------------------------------------------------- several recipes in one call
# A StyleGAN2 fp32 plan on a CPU with more than one intra-op thread renders a batch's samples
# concurrently, one per lane (``fast_plan.run_lanes``), each with the bits it has rendered alone:
# batch export feeds it recipes that differ only in their ws. Elsewhere (the reference, another
# family, a GPU: its batched convolutions and the plan's batch formulation, non-fused
# modulation, round differently from a batch of one) recipes render one by one.
BATCH_IMAGE_BYTES = 1 << 30     # float images a batch export holds at once (rendered + waiting to be written)
BATCH_WORK_BYTES = 4 << 30      # working memory of the samples a batch renders concurrently
MAX_BATCH = 16


def synthesis_key(G, recipe: Recipe) -> tuple:
    """Equal for recipes whose synthesis call differs only in ws: same path, noise settings
    (the random noise's seed included) and input transform."""
    return (synthesis_path(G, recipe.synthesis), recipe.noise_mode, float(recipe.noise_strength),
            recipe.layer_noise, int(recipe.noise_seed) if recipe.noise_mode == 'random' else None,
            tuple(recipe.translate), float(recipe.rotate))


def sample_work_bytes(G) -> int:
    """Working memory of one sample rendered by the plan, estimated as six fp32 maps of the
    last block (its channels at full resolution). Measured, config-f 1024 (32 channels, estimate
    768 MiB): a second concurrent sample raised the peak RSS by 0.55-0.9 GB."""
    R = int(G.img_resolution)
    block = getattr(G.synthesis, f'b{R}', None)
    channels = int(block.conv1.weight.shape[0]) if block is not None and hasattr(block, 'conv1') else 512
    return 6 * 4 * channels * R * R


def batch_size(G, device=None) -> int:
    """How many recipes ``synthesize_batch`` renders in one call here: the CPU lanes
    (``fast_plan.cpu_lanes``, the intra-op thread count: the samples render concurrently) for a
    StyleGAN2 model on its fast path on the CPU, at most ``MAX_BATCH``, with the concurrent
    samples' working memory (``sample_work_bytes``) within ``BATCH_WORK_BYTES`` and a batch's
    float images within ``BATCH_IMAGE_BYTES`` (counted twice: one batch rendered while the
    previous one is written); else 1."""
    from explorer.engine import fast_plan
    device = torch.device(device) if device is not None else latents._device_of(G)
    if G.family != 'stylegan2' or device.type != 'cpu' or not fast_available(G):
        return 1
    image_bytes = 4 * int(G.img_channels) * int(G.img_resolution) ** 2
    return max(1, min(fast_plan.cpu_lanes(), MAX_BATCH, BATCH_WORK_BYTES // sample_work_bytes(G),
                      BATCH_IMAGE_BYTES // (2 * image_bytes)))


@torch.no_grad()
def synthesize_batch(G, recipes, ws: torch.Tensor) -> list[torch.Tensor]:
    """The images [1, C, H, W] of ``recipes`` from their ws stacked (``recipe_ws`` each, [N, L, D]),
    each bit for bit what ``synthesize`` gives it alone. One synthesis call for the lot when
    they share a ``synthesis_key`` on the StyleGAN2 fast path on the CPU (random noise: every
    sample gets the noise its own seeded generator draws, ``shared_noise``); else one by one."""
    assert ws.ndim == 3 and ws.shape[0] == len(recipes), (tuple(ws.shape), len(recipes))
    recipes = list(recipes)
    batchable = len(recipes) > 1 and G.family == 'stylegan2' and ws.device.type == 'cpu'
    keys = {synthesis_key(G, r) for r in recipes} if batchable else set()
    if len(keys) == 1 and next(iter(keys))[0] == 'fast':          # (a key starts with the path)
        from explorer.engine import fast_synthesis
        kw = synthesis_kwargs(G, recipes[0])
        img = fast_synthesis.try_render(G.synthesis, ws, noise_scale=kw.pop('noise_scale'), block_kwargs=kw,
                                        shared_noise=True)
        if img is not None:
            return [img[i:i + 1] for i in range(len(recipes))]
    return [synthesize(G, r, ws[i:i + 1]) for i, r in enumerate(recipes)]


@torch.no_grad()
def render_many(G, recipes, device=None, cache: MappingCache | None = None) -> list[torch.Tensor]:
    """``[render(G, r, device, cache) for r in recipes]``, bit for bit, in as few synthesis calls
    as ``synthesize_batch`` allows (the mapping runs per recipe, as ``render`` runs it: a
    mapping batch could round differently)."""
    recipes = list(recipes)
    if not recipes:
        return []
    ws = torch.cat([recipe_ws(G, r, device, cache) for r in recipes])
    return synthesize_batch(G, recipes, ws)


@torch.no_grad()
def render(G, recipe: Recipe, device=None, cache: MappingCache | None = None, **extra) -> torch.Tensor:
    """[1, C, H, W] float image in about [-1, 1], on the recipe's synthesis path."""
    return synthesize(G, recipe, recipe_ws(G, recipe, device, cache), **extra)
