"""TensorFlow pickles (``dnnlib.tflib.network.Network``), converted without TensorFlow.

The restricted unpickler turns each network into a ``TFNetworkRecord`` (state only:
``version``, ``name``, ``static_kwargs``, ``components``, ``variables``). Official
files hold the tuple ``(G, D, Gs)``. Here:

1. ``collect_variables`` flattens a network into {'mapping/Dense0/weight': ndarray,
   'synthesis/4x4/Const/const': ..., 'dlatent_avg': ...} (component name as prefix);
2. ``recognise`` asks each registered converter whether the variable names and
   static kwargs are its family's;
3. that converter builds this project's modules.

A family plugs in with ``register(TFConverter(...))``; StyleGAN2 lives in
``tf_stylegan2``. Converters are listed in ``_BUILTIN`` and imported lazily.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from explorer.engine.formats.restricted_pickle import TFNetworkRecord
from explorer.errors import CheckpointError

FORMAT_TF = 'nvidia-tf-pickle'


class ConversionError(ValueError):
    """Raised by converters; turned into a CheckpointError naming the file."""


@dataclass(frozen=True)
class TFConverter:
    family: str                                        # e.g. 'stylegan2' (a key of families.py)
    detect: Callable[[dict, dict], bool]               # (variables, static_kwargs) -> is this family?
    convert_generator: Callable[[dict, dict], object]  # (variables, static_kwargs) -> nn.Module
    convert_discriminator: Callable[[dict, dict], object] | None = None
    min_version: int = 4                               # oldest Network state version accepted
    finish: Callable[[object, Path], object] | None = None  # (module, file path) -> module, e.g. crop by name


_REGISTRY: list[TFConverter] = []
# Modules that call register() when imported; a new family adds its module here.
_BUILTIN = ['explorer.engine.formats.tf_stylegan2', 'explorer.engine.formats.tf_stylegan1']
_loaded = False


def register(converter: TFConverter) -> None:
    if all(c.family != converter.family for c in _REGISTRY):
        _REGISTRY.append(converter)


def converters() -> list[TFConverter]:
    global _loaded
    if not _loaded:
        for name in _BUILTIN:
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as e:
                if e.name != name:
                    raise
        _loaded = True
    return list(_REGISTRY)


def collect_variables(net: TFNetworkRecord, prefix='') -> dict:
    """{'<component>/<scope>/<var>': ndarray} over the network and its components."""
    out = {}
    for name, value in net.variables.items():
        if not isinstance(value, np.ndarray):
            value = np.asarray(value)
        if value.dtype == object:
            raise ConversionError(f'variable {prefix + name} is not numeric')
        out[prefix + name] = value
    for name, comp in net.components.items():
        if not isinstance(comp, TFNetworkRecord):
            raise ConversionError(f'component {prefix + name} is not a network')
        out.update(collect_variables(comp, prefix + str(name) + '/'))
    return out


def recognise(variables: dict, static_kwargs: dict) -> TFConverter:
    for conv in converters():
        if conv.detect(variables, static_kwargs):
            return conv
    sample = ', '.join(sorted(variables)[:4])
    raise ConversionError(f'unrecognised TensorFlow network (variables {sample}...)')


def _version(net) -> int:
    v = net.state.get('version', 0)
    return int(v) if isinstance(v, (int, np.integer)) else 0


def convert(nets: tuple, path) -> dict:
    """(G, D, Gs) or (Gs,) TensorFlow records -> {'format', 'path', 'G_ema', 'G', 'D', 'family'}."""
    path = Path(path)
    if len(nets) == 3:
        tf_G, tf_D, tf_Gs = nets
    elif len(nets) == 1:
        tf_G, tf_D, tf_Gs = None, None, nets[0]
    else:
        raise CheckpointError(path, f'TensorFlow pickle with {len(nets)} networks (expected G, D, Gs)')
    try:
        variables, kwargs = collect_variables(tf_Gs), tf_Gs.static_kwargs
        conv = recognise(variables, kwargs)
        if _version(tf_Gs) < conv.min_version:
            raise ConversionError(f'TensorFlow network format version {_version(tf_Gs)} is too old '
                                  f'(need >= {conv.min_version})')
        G_ema = conv.convert_generator(variables, kwargs)
        G = conv.convert_generator(collect_variables(tf_G), tf_G.static_kwargs) if tf_G is not None else None
        if conv.finish is not None:
            G_ema = conv.finish(G_ema, path)
            G = conv.finish(G, path) if G is not None else None
        D = None
        if tf_D is not None and conv.convert_discriminator is not None:
            D = conv.convert_discriminator(collect_variables(tf_D), tf_D.static_kwargs)
    except ConversionError as e:
        raise CheckpointError(path, str(e)) from None
    except (KeyError, TypeError, ValueError, AssertionError) as e:
        raise CheckpointError(path, f'cannot convert TensorFlow network: {type(e).__name__}: {e}') from None
    return {'format': FORMAT_TF, 'path': path, 'G_ema': G_ema, 'G': G, 'D': D, 'family': conv.family}
