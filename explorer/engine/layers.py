"""What every generator family tells the rest of the app about its style inputs.

A generator exposes ``style_layers()``: one ``StyleLayer`` per w index (``num_ws``
of them) with the resolution that input drives and a readable label such as
``"8x8 up"``. Layer groups (coarse / middle / fine, as in the StyleGAN paper's
Figure 3) are computed from those resolutions, never hard-coded per model.
"""

from __future__ import annotations

from dataclasses import dataclass

# Paper grouping: coarse 4^2-8^2, middle 16^2-32^2, fine 64^2 and up.
GROUP_NAMES = ('coarse', 'middle', 'fine')


@dataclass(frozen=True)
class StyleLayer:
    index: int          # position in ws [N, num_ws, w_dim]
    resolution: int     # spatial size (the larger side) of the features this style modulates
    kind: str           # 'const', 'conv', 'up', 'torgb', 'input', 'layer', 'adain' ...
    has_noise: bool     # does this style input's layer take a noise input?

    @property
    def label(self) -> str:
        return f'{self.resolution}x{self.resolution} {self.kind}'


def group_of_resolution(resolution: int) -> str:
    if resolution <= 8:
        return 'coarse'
    if resolution <= 32:
        return 'middle'
    return 'fine'


def layer_groups(layers) -> dict[str, tuple[int, ...]]:
    """{'coarse': (0, 1, 2, 3), 'middle': (...), 'fine': (...)} from the actual resolutions."""
    groups = {name: [] for name in GROUP_NAMES}
    for layer in layers:
        groups[group_of_resolution(layer.resolution)].append(layer.index)
    return {k: tuple(v) for k, v in groups.items()}


def per_layer_values(value, n) -> list[float]:
    """None -> n ones; a number -> n copies; a sequence/tensor of n numbers -> floats."""
    if value is None:
        return [1.0] * n
    if isinstance(value, (int, float)):
        return [float(value)] * n
    if hasattr(value, 'tolist'):
        value = value.tolist()
    value = list(value)
    if len(value) != n:
        raise ValueError(f'expected {n} per-layer values, got {len(value)}')
    return [float(v) for v in value]
