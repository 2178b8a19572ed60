"""Test helper: write pickles in the layout of NVIDIA's repositories, without their code.

An official pickle stores each network as a call to
``torch_utils.persistence._reconstruct_persistent_obj(meta)`` with
``meta = dict(type='class', version=6, module_src=<source text>, class_name=<name>,
state=<the module's __dict__>)``; init arguments sit in the state as ``_init_args``
and ``_init_kwargs`` (``dnnlib.util.EasyDict``). TensorFlow pickles store
``dnnlib.tflib.network.Network`` objects whose state is set by ``__setstate__``.

Here stand-in modules named ``torch_utils.persistence``, ``dnnlib.util`` and
``dnnlib.tflib.network`` exist in ``sys.modules`` only while a pickle is written,
so ``pickle`` records those global names; tensors pickle the way torch pickles them
with plain ``pickle`` (``_rebuild_tensor_v2`` + ``torch.storage._load_from_bytes``).
"""

from __future__ import annotations

import contextlib
import io
import pickle
import sys
import types

import torch

PERSISTENCE_VERSION = 6
DEFAULT_SRC = '# stand-in module source (never executed by the reader)\n'


def _reconstruct_persistent_obj(meta):  # never called: the reader maps this name to its own builder
    raise AssertionError('the test writer function must never run')


_reconstruct_persistent_obj.__module__ = 'torch_utils.persistence'
_reconstruct_persistent_obj.__qualname__ = '_reconstruct_persistent_obj'


class EasyDict(dict):
    pass


EasyDict.__module__ = 'dnnlib.util'
EasyDict.__qualname__ = 'EasyDict'


class Network:
    """Stand-in for dnnlib.tflib.network.Network: pickles its state dict."""

    def __init__(self, state):
        self._state = state

    def __getstate__(self):
        return self._state


Network.__module__ = 'dnnlib.tflib.network'
Network.__qualname__ = 'Network'


@contextlib.contextmanager
def _fake_modules():
    names = {
        'torch_utils': types.ModuleType('torch_utils'),
        'torch_utils.persistence': types.ModuleType('torch_utils.persistence'),
        'dnnlib': types.ModuleType('dnnlib'),
        'dnnlib.util': types.ModuleType('dnnlib.util'),
        'dnnlib.tflib': types.ModuleType('dnnlib.tflib'),
        'dnnlib.tflib.network': types.ModuleType('dnnlib.tflib.network'),
    }
    names['torch_utils.persistence']._reconstruct_persistent_obj = _reconstruct_persistent_obj
    names['dnnlib.util'].EasyDict = EasyDict
    names['dnnlib.tflib.network'].Network = Network
    saved = {k: sys.modules.get(k) for k in names}
    if any(v is not None for v in saved.values()):
        raise RuntimeError('real torch_utils/dnnlib modules are imported; refusing to shadow them')
    sys.modules.update(names)
    try:
        yield
    finally:
        for k in names:
            sys.modules.pop(k, None)


def to_easydict(obj):
    if isinstance(obj, dict):
        return EasyDict({k: to_easydict(v) for k, v in obj.items()})
    return obj


class PersistentPickler(pickle.Pickler):
    """Pickles every torch.nn.Module as an official persistent object.

    ``init_kwargs``: {id(module): kwargs} for modules whose constructor kwargs are known
    (the top-level networks); ``overrides``: {id(module): {meta key: value}} to forge
    hostile or broken metadata (class names, module source)."""

    def __init__(self, file, init_kwargs=None, overrides=None, state_edit=None, protocol=4):
        super().__init__(file, protocol=protocol)
        self.init_kwargs = init_kwargs or {}
        self.overrides = overrides or {}
        self.state_edit = state_edit

    def reducer_override(self, obj):
        if not isinstance(obj, torch.nn.Module):
            return NotImplemented
        state = dict(obj.__dict__)
        state.pop('init_kwargs', None)  # our own attribute; official modules keep _init_kwargs
        state['_parameters'] = type(state['_parameters'])(
            (k, torch.nn.Parameter(v.detach().clone()) if v is not None else None)
            for k, v in state['_parameters'].items())
        state['_init_args'] = ()
        state['_init_kwargs'] = to_easydict(self.init_kwargs.get(id(obj), {}))
        if self.state_edit is not None:
            self.state_edit(obj, state)
        meta = dict(type='class', version=PERSISTENCE_VERSION, module_src=DEFAULT_SRC,
                    class_name=type(obj).__name__, state=state)
        meta.update(self.overrides.get(id(obj), {}))
        return _reconstruct_persistent_obj, (meta,)


def dumps_official(data: dict, init_kwargs=None, overrides=None, state_edit=None) -> bytes:
    buf = io.BytesIO()
    with _fake_modules():
        PersistentPickler(buf, init_kwargs=init_kwargs, overrides=overrides, state_edit=state_edit).dump(data)
    return buf.getvalue()


def write_official(path, data: dict, **kwargs):
    """``data``: {'G': module, 'D': module, 'G_ema': module, 'augment_pipe': module, ...}.
    Top-level modules' init kwargs come from their ``init_kwargs`` attribute if present."""
    init = dict(kwargs.pop('init_kwargs', None) or {})
    for v in data.values():
        if isinstance(v, torch.nn.Module) and hasattr(v, 'init_kwargs') and id(v) not in init:
            init[id(v)] = v.init_kwargs
    if 'training_set_kwargs' in data:
        data = dict(data, training_set_kwargs=to_easydict(data['training_set_kwargs']))
    with open(path, 'wb') as f:
        f.write(dumps_official(data, init_kwargs=init, **kwargs))
    return path


def write_tf(path, networks: tuple, protocol=3):
    """``networks``: tuple of state dicts (name, static_kwargs, components, variables...)."""
    def wrap(state):
        state = dict(state)
        state['static_kwargs'] = to_easydict(state.get('static_kwargs', {}))
        state['components'] = to_easydict({k: wrap(v) for k, v in state.get('components', {}).items()})
        return Network(state)
    buf = io.BytesIO()
    with _fake_modules():
        pickle.Pickler(buf, protocol=protocol).dump(tuple(wrap(s) for s in networks))
    with open(path, 'wb') as f:
        f.write(buf.getvalue())
    return path
