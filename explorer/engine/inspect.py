"""Look inside a synthesis network: its layers, and one layer's output for a recipe (no Qt).

``synthesis_layers(G)`` lists every layer whose output is a feature map, in the order the
network runs them, for each family:

- StyleGAN1: ``b{res}.layer0`` (const / dense / up), ``b{res}.layer1`` (conv), the last ``torgb``;
- StyleGAN2: ``b{res}.conv0`` (up), ``b{res}.conv1``, ``b{res}.torgb`` (skip: every block);
- StyleGAN3: ``input`` (Fourier features), ``L{i}_{size}_{channels}``, the last being ToRGB.

``capture(G, ws, name)`` runs the synthesis network with a forward hook on that one module,
keeps its output for sample 0 and stops the forward right there (the rest of the network is
not computed); the hook is removed in every case, so a network is never left slower or
changed by inspection.
"""

from __future__ import annotations

import numpy as np
import torch

from explorer.engine.activation_view import LayerInfo


class _Captured(Exception):
    """Raised from the hook to stop the forward pass once the layer's output is in hand."""


def _clamp(m):
    c = getattr(m, 'conv_clamp', None)
    return float(c) if c is not None else None


def synthesis_layers(G) -> list[LayerInfo]:
    """Every inspectable layer of ``G.synthesis`` in forward order (see the module docstring)."""
    S = G.synthesis
    family = getattr(G, 'family', '')
    out = []
    if family == 'stylegan3':
        inp = S.input
        w, h = (int(v) for v in inp.size)
        out.append(LayerInfo('input', 'input', h, w, int(inp.channels)))
        for name in S.layer_names:
            m = getattr(S, name)
            w, h = (int(v) for v in m.out_size)
            out.append(LayerInfo(name, 'torgb' if m.is_torgb else 'layer', h, w, int(m.out_channels), _clamp(m)))
        return out
    for res in S.block_resolutions:
        block = getattr(S, f'b{res}')
        if family == 'stylegan1':
            for key in ('layer0', 'layer1'):
                m = getattr(block, key)
                out.append(LayerInfo(f'b{res}.{key}', m.kind, res, res, int(m.out_channels)))
            if res == S.img_resolution and block.torgb is not None:
                out.append(LayerInfo(f'b{res}.torgb', 'torgb', res, res, int(S.img_channels)))
        elif family == 'stylegan2':
            if hasattr(block, 'conv0'):
                out.append(LayerInfo(f'b{res}.conv0', 'up', res, res, int(block.out_channels), _clamp(block.conv0)))
            out.append(LayerInfo(f'b{res}.conv1', 'conv', res, res, int(block.out_channels), _clamp(block.conv1)))
            if hasattr(block, 'torgb'):
                out.append(LayerInfo(f'b{res}.torgb', 'torgb', res, res, int(block.img_channels),
                                     _clamp(block.torgb)))
        else:
            raise ValueError(f'cannot list the layers of a {family or type(G).__name__!r} network')
    return out


def find_layer(G, name: str) -> LayerInfo:
    for layer in synthesis_layers(G):
        if layer.name == name:
            return layer
    raise KeyError(f'no layer {name!r} in this network')


@torch.no_grad()
def capture(G, ws: torch.Tensor, name: str, **synthesis_kwargs) -> np.ndarray:
    """The output of synthesis layer ``name`` for ``ws`` [N, num_ws, w_dim], sample 0, as
    float32 [C, H, W]. Runs ``G.synthesis(ws, **synthesis_kwargs)`` with a forward hook on the
    layer that records its output and stops the pass; the hook is removed before returning."""
    find_layer(G, name)     # KeyError for a name this network does not list
    module = G.synthesis.get_submodule(name)
    box = []

    def hook(_module, _inputs, output):
        y = output[0] if isinstance(output, (tuple, list)) else output
        box.append(y[0].detach().to(torch.float32).cpu().numpy())
        raise _Captured()
    handle = module.register_forward_hook(hook)
    try:
        G.synthesis(ws, **synthesis_kwargs)
    except _Captured:
        pass
    finally:
        handle.remove()
    if not box:
        raise RuntimeError(f'layer {name!r} did not run for this request')
    return box[0]


def hook_count(module: torch.nn.Module) -> int:
    """Forward (pre-)hooks registered on ``module`` and everything below it (tests: 0 after inspecting)."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())
