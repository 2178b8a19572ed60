"""Latent toolkit: seeds -> z -> w, truncation, per-layer mixing, layer groups, noise.

Seeds map to z exactly as NVIDIA's scripts do: ``np.random.RandomState(seed).randn(1, z_dim)``.
Everything here is plain torch/numpy (no Qt) and shared by the CLI, the export
code and the GUI's render worker.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from explorer.engine.layers import GROUP_NAMES, layer_groups, parse_layer_spec  # noqa: F401
from explorer.engine.seeds import MAX_SEED, parse_int_list, parse_seeds, seed_to_z  # noqa: F401 (used by callers)
from explorer.errors import UserError


def seeds_to_z(seeds: Sequence[int], z_dim: int, device=None) -> torch.Tensor:
    """[N, z_dim] float32."""
    z = np.concatenate([seed_to_z(s, z_dim) for s in seeds], axis=0) if len(seeds) else np.zeros([0, z_dim])
    return torch.from_numpy(z).to(torch.float32).to(device)


def class_vector(class_idx, c_dim: int, n: int = 1, device=None):
    """One-hot [n, c_dim] for conditional models, None for unconditional ones."""
    if c_dim == 0:
        if class_idx not in (None, -1):
            raise UserError('this model is unconditional; it takes no class')
        return None
    if class_idx is None or class_idx < 0:
        raise UserError(f'this model is conditional: choose a class 0..{c_dim - 1}')
    if not 0 <= class_idx < c_dim:
        raise UserError(f'class {class_idx} out of range 0..{c_dim - 1}')
    c = torch.zeros([n, c_dim], device=device)
    c[:, class_idx] = 1
    return c


def groups_for(G) -> dict[str, tuple[int, ...]]:
    """Named layer groups (coarse/middle/fine/all) from the network's own resolutions."""
    groups = layer_groups(G.style_layers())
    groups['all'] = tuple(range(G.num_ws))
    return groups


def parse_layers(text: str, G) -> tuple[int, ...]:
    """'coarse' | 'middle' | 'fine' | 'all' | '0-3,8' -> ws indices (validated)."""
    return parse_layer_spec(text, groups_for(G), G.num_ws, model=f'this {G.img_resolution}px model')


@torch.no_grad()
def compute_ws(G, seeds, truncation_psi=1.0, truncation_cutoff=None, class_idx=None, device=None) -> torch.Tensor:
    """[len(seeds), num_ws, w_dim] for the given seeds."""
    device = device if device is not None else _device_of(G)
    z = seeds_to_z(seeds, G.z_dim, device)
    c = class_vector(class_idx, G.c_dim, n=len(seeds), device=device)
    return G.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)


def truncate(ws: torch.Tensor, w_avg: torch.Tensor, psi: float, cutoff=None) -> torch.Tensor:
    """Truncation trick on existing ws: lerp toward w_avg for layers < cutoff."""
    out = ws.clone()
    n = ws.shape[1] if cutoff is None else min(int(cutoff), ws.shape[1])
    out[:, :n] = w_avg.lerp(ws[:, :n], psi)
    return out


def mix_ws(base: torch.Tensor, sources: torch.Tensor | None, layer_source: Sequence[int],
           layer_blend: Sequence[float] | None = None) -> torch.Tensor:
    """Per-layer style mixing from any number of sources.

    base: [N, L, D]; sources: [S, L, D] or [S, N, L, D]; layer_source[l] = -1 keeps the
    base, k >= 0 takes source k; layer_blend[l] in [0, 1] (0 = base, 1 = source).
    """
    L = base.shape[1]
    if len(layer_source) != L:
        raise ValueError(f'layer_source needs {L} entries, got {len(layer_source)}')
    blend = [1.0] * L if layer_blend is None else list(layer_blend)
    if len(blend) != L:
        raise ValueError(f'layer_blend needs {L} entries, got {len(blend)}')
    out = base.clone()
    for layer, (src, t) in enumerate(zip(layer_source, blend)):
        if src is None or src < 0 or t == 0:
            continue
        if sources is None or src >= sources.shape[0]:
            raise ValueError(f'layer {layer} asks for source {src} but only '
                             f'{0 if sources is None else sources.shape[0]} given')
        s = sources[src]
        s = s[:, layer] if s.ndim == 3 else s[layer].unsqueeze(0)
        out[:, layer] = base[:, layer].lerp(s.to(base.dtype), float(t))
    return out


def mix_group(row_ws: torch.Tensor, col_ws: torch.Tensor, layers: Sequence[int]) -> torch.Tensor:
    """Figure-3 mixing: row faces with ``layers`` taken from the column face. [N, L, D]."""
    out = row_ws.clone()
    idx = list(layers)
    out[:, idx] = col_ws[:, idx]
    return out


def noise_scales(num_ws: int, global_strength: float = 1.0, per_layer: Sequence[float] | None = None) -> list[float]:
    """Effective per-ws-index noise multipliers: global x per-layer."""
    per = [1.0] * num_ws if per_layer is None else list(per_layer)
    if len(per) != num_ws:
        raise ValueError(f'per-layer noise needs {num_ws} values, got {len(per)}')
    return [float(global_strength) * float(p) for p in per]


def _device_of(G):
    for p in G.parameters():
        return p.device
    for b in G.buffers():
        return b.device
    return torch.device('cpu')
