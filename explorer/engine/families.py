"""Registry of generator families (name -> class, imported lazily) and the interface they share."""

from __future__ import annotations

import importlib
from typing import Protocol, runtime_checkable

import torch

from explorer.errors import ExplorerError

_FAMILIES = {
    'stylegan2': ('explorer.engine.networks_stylegan2', 'Generator'),
    'stylegan3': ('explorer.engine.networks_stylegan3', 'Generator'),
    'stylegan1': ('explorer.engine.networks_stylegan1', 'Generator'),
}


def generator_class(family: str):
    try:
        module, name = _FAMILIES[family]
    except KeyError:
        raise ExplorerError(f'unknown generator family {family!r}') from None
    return getattr(importlib.import_module(module), name)


def build_generator(family: str, init_kwargs: dict):
    return generator_class(family)(**init_kwargs)


class GeneratorNet(Protocol):
    """What every generator family offers (StyleGAN1/2/3 ``Generator`` modules), NVIDIA's
    calling conventions plus the explorer's layer description. Code that works on "any
    generator" relies on these names only."""
    family: str                     # 'stylegan1' | 'stylegan2' | 'stylegan3'
    init_kwargs: dict               # the constructor arguments (plain JSON types)
    z_dim: int
    c_dim: int                      # 0 = unconditional
    w_dim: int
    num_ws: int
    img_resolution: int
    img_channels: int
    mapping: torch.nn.Module        # (z [N, z_dim], c [N, c_dim]) -> ws [N, num_ws, w_dim]
    synthesis: torch.nn.Module      # ws [N, num_ws, w_dim] -> img [N, C, R, R]

    def style_layers(self) -> list: ...             # one StyleLayer per ws index

    def preview_resolutions(self) -> list[int]: ... # resolutions ``synthesis(stop_at=r)`` can stop at


@runtime_checkable
class InputTransformable(Protocol):
    """A generator whose input grid can be translated and rotated (StyleGAN3)."""

    def set_input_transform(self, translate=(0.0, 0.0), rotate_deg=0.0) -> None: ...


def has_input_transform(G) -> bool:
    return isinstance(G, InputTransformable)
