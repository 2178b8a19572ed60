"""NVIDIA pickles: the PyTorch repositories' persistent networks, and TensorFlow pickles.

``read(path)`` unpickles with the allowlist of ``restricted_pickle`` (nothing runs),
then looks at what came out:

- a dict with ``G_ema`` persistent records (stylegan2-ada-pytorch, stylegan3): each
  network is rebuilt as this project's module from its class name and init kwargs,
  and every parameter and buffer is copied by name with its shape checked;
- a tuple of TensorFlow network records (StyleGAN1/2 TF): converted by variable
  name in ``tf_pickle``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from explorer.engine.formats.restricted_pickle import PersistentRecord, TFNetworkRecord, restricted_load, to_plain
from explorer.engine.net_check import build_checked
from explorer.engine.state import check_state, load_state_strict
from explorer.errors import CheckpointError

FORMAT_PYTORCH = 'nvidia-pytorch-pickle'

# Where each top-level official class lands in this project.
GENERATOR_CLASSES = ('Generator',)
DISCRIMINATOR_CLASSES = ('Discriminator',)


def read(path) -> dict:
    path = Path(path)
    data = restricted_load(path)
    if isinstance(data, dict) and any(isinstance(v, PersistentRecord) for v in data.values()):
        return read_pytorch(data, path)
    if isinstance(data, (tuple, list)) and data and all(isinstance(v, TFNetworkRecord) for v in data):
        from explorer.engine.formats import tf_pickle
        return tf_pickle.convert(tuple(data), path)
    if isinstance(data, TFNetworkRecord):
        from explorer.engine.formats import tf_pickle
        return tf_pickle.convert((data,), path)
    raise CheckpointError(path, f'pickle holds no StyleGAN networks (found {_describe(data)})')


def _describe(obj) -> str:
    if isinstance(obj, dict):
        return 'a dict with keys ' + ', '.join(map(repr, list(obj)[:8]))
    return type(obj).__name__


# ----------------------------------------------------------------------------- PyTorch pickles

def read_pytorch(data: dict, path) -> dict:
    if not isinstance(data.get('G_ema'), PersistentRecord):
        raise CheckpointError(path, 'pickle has no G_ema network')
    G_ema = build_generator_from_record(data['G_ema'], path, 'G_ema')
    G = build_generator_from_record(data['G'], path, 'G') if isinstance(data.get('G'), PersistentRecord) else None
    D = build_discriminator_from_record(data['D'], path) if isinstance(data.get('D'), PersistentRecord) else None
    out = {'format': FORMAT_PYTORCH, 'path': path, 'G_ema': G_ema, 'G': G, 'D': D, 'family': G_ema.family}
    aug = data.get('augment_pipe')
    if isinstance(aug, PersistentRecord):
        out['augment_pipe'] = augment_record(aug)
    if isinstance(data.get('training_set_kwargs'), dict):
        out['training_set_kwargs'] = to_plain(data['training_set_kwargs'])
    return out


def generator_family(record: PersistentRecord) -> str:
    """'stylegan2' or 'stylegan3' from the structure (never from the embedded source)."""
    synthesis = record.children.get('synthesis')
    if not isinstance(synthesis, PersistentRecord):
        raise ValueError('generator has no synthesis network')
    kids = synthesis.children
    if isinstance(kids.get('input'), PersistentRecord) and kids['input'].class_name == 'SynthesisInput':
        return 'stylegan3'
    if isinstance(kids.get('b4'), PersistentRecord) and kids['b4'].class_name == 'SynthesisBlock':
        return 'stylegan2'
    raise ValueError(f'unrecognised synthesis network (children {sorted(kids)[:6]})')


def build_generator_from_record(record: PersistentRecord, path, key='G_ema'):
    if record.class_name not in GENERATOR_CLASSES:
        raise CheckpointError(path, f'{key}: unknown network class {_short(record.class_name)}')
    try:
        family = generator_family(record)
    except ValueError as e:
        raise CheckpointError(path, f'{key}: {e}') from None
    args, kwargs = _init_arguments(record, path, key)
    G = build_checked(family, kwargs, args=args, path=path, context=f'{key}: ',
                      verify=lambda meta: check_record_tensors(meta, record, path, key))
    copy_record_tensors(G, record, path, key)
    return G


def build_discriminator_from_record(record: PersistentRecord, path):
    if record.class_name not in DISCRIMINATOR_CLASSES:
        raise CheckpointError(path, f'D: unknown network class {_short(record.class_name)}')
    try:
        import explorer.engine.discriminator  # noqa: F401
    except ImportError as e:
        raise CheckpointError(path, f'D: discriminator support unavailable ({e})') from None
    args, kwargs = _init_arguments(record, path, 'D')
    D = build_checked('discriminator', kwargs, args=args, path=path, context='D: ',
                      verify=lambda meta: check_record_tensors(meta, record, path, 'D'))
    copy_record_tensors(D, record, path, 'D')
    return D


def _init_arguments(record: PersistentRecord, path, key) -> tuple[tuple, dict]:
    """The record's init args and kwargs as plain data (bounded: see ``net_check.check_nesting``)."""
    try:
        return record.init_args, record.init_kwargs
    except ValueError as e:
        raise CheckpointError(path, f'{key}: refused init kwargs: {e}') from None


def augment_record(record: PersistentRecord) -> dict:
    """The augmentation pipeline as data: its settings and probability ``p`` (never run)."""
    out = {'class_name': record.class_name, 'init_kwargs': record.init_kwargs, 'p': None}
    p = (record.state.get('_buffers') or {}).get('p')
    if isinstance(p, torch.Tensor) and p.numel() == 1:
        out['p'] = float(p.reshape([]))
    return out


def _short(v, limit=80) -> str:
    s = repr(v) if isinstance(v, (str, int, float, type(None))) else type(v).__name__
    return s if len(s) <= limit else s[:limit] + '...'


# ----------------------------------------------------------------------------- tensors

def record_tensors(record: PersistentRecord, prefix='', classes=None) -> dict:
    """{'mapping.fc0.weight': tensor, ...}: every parameter and buffer of the record tree.
    ``classes`` (if given) collects {module path: official class name}."""
    out = {}
    if classes is not None:
        classes[prefix.rstrip('.')] = record.class_name
    for table in ('_parameters', '_buffers'):
        entries = record.state.get(table) or {}
        if not isinstance(entries, dict):
            raise ValueError(f'{prefix or "<root>"}: {table} is not a dict')
        for name, value in entries.items():
            if value is None:
                continue
            if not isinstance(value, torch.Tensor):
                raise ValueError(f'{prefix}{name} is not a tensor')
            out[prefix + name] = value
    for name, child in record.children.items():
        if child is None:
            continue
        if not isinstance(child, PersistentRecord):
            raise ValueError(f'{prefix}{name}: sub-module of unsupported type {type(child).__name__}')
        out.update(record_tensors(child, prefix + name + '.', classes))
    return out


def check_record_tensors(module: torch.nn.Module, record: PersistentRecord, path, key) -> dict:
    """The record's tensors by name, after checking that every official sub-module has its
    counterpart of the same class in ``module`` and every tensor its place with an equal shape
    (``module`` may live on the meta device: nothing is allocated)."""
    classes = {}
    try:
        tensors = record_tensors(record, classes=classes)
    except ValueError as e:
        raise CheckpointError(path, f'{key}: {e}') from None
    own_modules = dict(module.named_modules())
    for mod_path, class_name in classes.items():
        ours = own_modules.get(mod_path)
        if ours is None:
            raise CheckpointError(path, f'{key}: official sub-module {mod_path!r} ({_short(class_name)}) '
                                        f'has no counterpart')
        if type(ours).__name__ != class_name:
            raise CheckpointError(path, f'{key}: {mod_path or "<root>"} is {_short(class_name)} in the file but '
                                        f'{type(ours).__name__} here')
    check_state(_own_tensors(module), tensors, path, context=f'{key}: ')
    return tensors


def _own_tensors(module) -> dict:
    """Parameters and every buffer (the file also holds buffers that our state_dict leaves out)."""
    own = dict(module.named_parameters())
    own.update(dict(module.named_buffers()))
    return own


def copy_record_tensors(module: torch.nn.Module, record: PersistentRecord, path, key) -> None:
    """Copy every tensor of ``record`` into ``module``; all must land, with equal shapes."""
    tensors = check_record_tensors(module, record, path, key)
    load_state_strict(module, tensors, path, context=f'{key}: ', own=_own_tensors(module))
