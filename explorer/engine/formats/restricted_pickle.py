"""A pickle reader for untrusted checkpoints: an allowlist of globals, nothing executed.

NVIDIA's pickles name a handful of globals (tensor rebuilders, ``OrderedDict``,
``EasyDict``, numpy array/scalar constructors) plus two "object" globals:

- ``torch_utils.persistence._reconstruct_persistent_obj(meta)`` for every network
  of the PyTorch repositories; ``meta`` carries ``class_name``, the network's
  ``state`` (its ``__dict__``) and ``module_src``, the Python source the original
  code would ``exec``. Here it becomes a ``PersistentRecord`` and the source is
  dropped unread.
- ``dnnlib.tflib.network.Network`` for the TensorFlow pickles, restored through
  ``__setstate__``; here it becomes a ``TFNetworkRecord`` holding the state.

Every other global is refused inside ``find_class``, i.e. before the pickle can call
it, with a ``CheckpointError`` naming the file and the global. Tensor bytes are
read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import collections
import io
import pickle
from pathlib import Path

import numpy as np
import torch

from explorer.engine.net_check import check_nesting
from explorer.errors import CheckpointError


class PersistentRecord:
    """A network from a ``torch_utils.persistence`` pickle: its class name and state, no code."""

    def __init__(self, meta):
        if not isinstance(meta, dict):
            raise pickle.UnpicklingError('persistent object without a meta dict')
        self.type = meta.get('type')
        self.version = meta.get('version')
        self.class_name = meta.get('class_name')
        state = meta.get('state')
        self.state = dict(state) if isinstance(state, dict) else {}
        # meta['module_src'] is deliberately not kept: it is code, and code is never run.
        if self.type != 'class' or not isinstance(self.class_name, str):
            raise pickle.UnpicklingError(f'unsupported persistent object (type {self.type!r})')

    @property
    def init_args(self) -> tuple:
        args = self.state.get('_init_args', ())
        return tuple(args) if isinstance(args, (tuple, list)) else ()

    @property
    def init_kwargs(self) -> dict:
        return to_plain(self.state.get('_init_kwargs', {}) or {})

    @property
    def children(self) -> dict:
        mods = self.state.get('_modules') or {}
        return dict(mods) if isinstance(mods, dict) else {}

    def __repr__(self):
        return f'PersistentRecord({self.class_name})'


class TFNetworkRecord:
    """A ``dnnlib.tflib.network.Network`` from a TensorFlow pickle: its state only."""

    def __init__(self, *args, **kwargs):
        self.state = {}

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise pickle.UnpicklingError('TensorFlow network state is not a dict')
        self.state = dict(state)

    @property
    def name(self):
        return self.state.get('name')

    @property
    def static_kwargs(self) -> dict:
        return to_plain(self.state.get('static_kwargs') or {})

    @property
    def components(self) -> dict:
        return dict(self.state.get('components') or {})

    @property
    def variables(self) -> dict:
        """{name: ndarray}; the pickled state stores a list of (name, value) pairs."""
        out = {}
        for item in self.state.get('variables') or []:
            name, value = item
            out[str(name)] = value
        return out

    def __repr__(self):
        return f'TFNetworkRecord({self.name})'


class EasyDict(dict):
    """Stands in for ``dnnlib.util.EasyDict``: a plain dict (attribute state, if any, merged in)."""

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.update(state)


def to_plain(obj):
    """EasyDicts -> dicts, numpy scalars -> Python numbers, recursively (for init kwargs).
    A ValueError (``net_check.ConfigError``) for containers nested too deeply or too large."""
    check_nesting(obj)
    return _plain(obj)


def _plain(obj):
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_plain(v) for v in obj)
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


# --------------------------------------------------------------------------- tensor rebuilders

def _load_storage_bytes(data):
    """Storage bytes (a legacy ``torch.save`` of one storage), loaded without code."""
    if not isinstance(data, (bytes, bytearray)):
        raise pickle.UnpicklingError('tensor storage is not bytes')
    storage = torch.load(io.BytesIO(bytes(data)), map_location='cpu', weights_only=True)
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise pickle.UnpicklingError(f'tensor storage decoded to {type(storage).__name__}')
    return storage


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise pickle.UnpicklingError('tensor without a storage')
    # Hooks and Python-side metadata are dropped: a tensor here is data only.
    return torch._utils._rebuild_tensor_v2(storage, int(storage_offset), tuple(size), tuple(stride),
                                           False, collections.OrderedDict())


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _rebuild_tensor_v2(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *_state):
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError('parameter without tensor data')
    return data  # parameters are copied by value into our own modules


def _reconstruct_persistent_obj(meta):
    return PersistentRecord(meta)


def _numpy_attr(*names):
    """First of ``numpy._core.multiarray.X`` / ``numpy.core.multiarray.X`` that exists."""
    import importlib
    for name in names:
        module, _, attr = name.rpartition('.')
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f'numpy lacks {names[0]}')


def _np_reconstruct(*args):
    return _numpy_attr('numpy._core.multiarray._reconstruct', 'numpy.core.multiarray._reconstruct')(*args)


def _np_scalar(*args):
    return _numpy_attr('numpy._core.multiarray.scalar', 'numpy.core.multiarray.scalar')(*args)


# --------------------------------------------------------------------------- the allowlist
# Each entry: the global a pickle may name -> what it gets instead. Nothing else resolves.

ALLOWED_GLOBALS = {
    # Every network object of the PyTorch repositories; rebuilt as data, module_src unread.
    ('torch_utils.persistence', '_reconstruct_persistent_obj'): _reconstruct_persistent_obj,
    # Networks of the TensorFlow pickles (state set through __setstate__).
    ('dnnlib.tflib.network', 'Network'): TFNetworkRecord,
    # Attribute dicts for init kwargs / training options.
    ('dnnlib.util', 'EasyDict'): EasyDict,
    ('dnnlib', 'EasyDict'): EasyDict,
    # Module __dict__s hold OrderedDicts (_parameters, _buffers, _modules, hook tables).
    ('collections', 'OrderedDict'): collections.OrderedDict,
    # How torch pickles tensors and parameters with plain pickle; wrapped to keep data only.
    ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor_v2,
    ('torch._utils', '_rebuild_tensor'): _rebuild_tensor,
    ('torch._utils', '_rebuild_parameter'): _rebuild_parameter,
    ('torch._utils', '_rebuild_parameter_with_state'): _rebuild_parameter,
    # Storage bytes; decoded with torch.load(weights_only=True), never the original function.
    ('torch.storage', '_load_from_bytes'): _load_storage_bytes,
    # numpy arrays and scalars in module state (e.g. sizes, sampling rates) and TF variables;
    # numpy 1 and numpy 2 spell the module differently.
    ('numpy.core.multiarray', '_reconstruct'): _np_reconstruct,
    ('numpy._core.multiarray', '_reconstruct'): _np_reconstruct,
    ('numpy.core.multiarray', 'scalar'): _np_scalar,
    ('numpy._core.multiarray', 'scalar'): _np_scalar,
    ('numpy', 'ndarray'): np.ndarray,
    ('numpy', 'dtype'): np.dtype,
    # Protocol 2/3 pickles spell sets as a call to the builtin (module hook sets).
    ('builtins', 'set'): set,
    ('__builtin__', 'set'): set,
    ('builtins', 'frozenset'): frozenset,
    ('__builtin__', 'frozenset'): frozenset,
}


class RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, path):
        super().__init__(file)
        self.path = Path(path)

    def find_class(self, module, name):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise ForbiddenGlobal(f'{module}.{name}') from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError('persistent ids are not supported')


class ForbiddenGlobal(pickle.UnpicklingError):
    def __init__(self, qualname):
        self.qualname = qualname
        super().__init__(qualname)


def restricted_load(path):
    """Unpickle ``path`` with the allowlist; every failure becomes one CheckpointError."""
    path = Path(path)
    try:
        with open(path, 'rb') as f:
            return RestrictedUnpickler(f, path).load()
    except ForbiddenGlobal as e:
        raise CheckpointError(path, f'refused: the pickle asks for the forbidden global {e.qualname!r} '
                                    f'(only known tensor/network types are allowed)') from None
    except EOFError:
        raise CheckpointError(path, 'truncated file (pickle data ended early)') from None
    except FileNotFoundError:
        raise CheckpointError(path, 'no such file') from None
    except MemoryError:
        raise CheckpointError(path, 'corrupt pickle (implausible sizes)') from None
    except Exception as e:  # UnpicklingError, ValueError, TypeError... from malformed data
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(path, f'corrupt or unsupported pickle ({type(e).__name__}: {msg})') from None
