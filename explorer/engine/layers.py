"""What every generator family tells the rest of the app about its style inputs.

A generator exposes ``style_layers()``: one ``StyleLayer`` per w index (``num_ws``
of them) with the resolution that input drives and a readable label such as
``"8x8 up"``. Layer groups (coarse / middle / fine, as in the StyleGAN paper's
Figure 3) are computed from those resolutions, never hard-coded per model.
"""

from __future__ import annotations

from dataclasses import dataclass

from explorer.engine.seeds import parse_int_list
from explorer.errors import UserError

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


def parse_layer_spec(text: str, groups: dict, num_ws: int, model: str = 'this model') -> tuple[int, ...]:
    """A layer SPEC (DESIGN.md): 'coarse' | 'middle' | 'fine' | 'all' (from ``groups``, the
    model's own {name: ws indices}) or ws indices like '0-3,8' -> sorted ws indices, checked
    against ``num_ws``. ``model`` names the model in errors ('this 64px model')."""
    key = str(text).strip().lower()
    if key in groups:
        if not groups[key]:
            raise UserError(f'{model} has no {key} layers')
        return tuple(groups[key])
    idx = parse_int_list(text, 'layers')
    bad = [i for i in idx if i >= num_ws]
    if bad:
        raise UserError(f'layer {bad[0]} out of range: this model has layers 0..{num_ws - 1} '
                        f'(or use {", ".join(GROUP_NAMES)})')
    return tuple(sorted(set(idx)))


def format_layer_spec(layers, groups: dict | None = None) -> str:
    """The short SPEC for ws indices: a group's name when they are exactly that group
    ('all' first), else ranges like '0-3,8'."""
    layers = tuple(sorted(set(int(i) for i in layers)))
    for name in ('all',) + GROUP_NAMES:
        if groups and layers and tuple(groups.get(name, ())) == layers:
            return name
    parts, i = [], 0
    while i < len(layers):
        j = i
        while j + 1 < len(layers) and layers[j + 1] == layers[j] + 1:
            j += 1
        parts.append(str(layers[i]) if i == j else f'{layers[i]}-{layers[j]}')
        i = j + 1
    return ','.join(parts)
