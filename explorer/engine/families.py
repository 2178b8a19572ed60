"""Registry of generator families: name -> class, imported lazily."""

from __future__ import annotations

import importlib

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
