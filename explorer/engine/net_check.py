"""Building a network from an untrusted checkpoint's config: checked before anything is allocated.

Every checkpoint reader builds its modules with ``build_checked(kind, kwargs, verify, path)``:

1. ``check_nesting``: the init kwargs are plain containers at most ``MAX_DEPTH`` deep with at
   most ``MAX_ITEMS`` entries in all (a pickle can nest a list 200,000 deep, or in itself);
2. ``check_config``: every size field of the family is a whole number within its bound
   (resolution a power of two 4..4096, z/w dims 1..4096, 1..32 mapping layers, channel
   counts ...), refused with the field's name;
3. the network is built on the meta device (shapes only, no memory), its parameter and buffer
   count is bounded (``MAX_ELEMENTS``) and ``verify(meta_module)`` compares every name and
   shape with the tensors the file holds;
4. only then is it built for real on the CPU.

Any error of the constructors (a ZeroDivisionError from a zero channel count, a TypeError
from an unknown kwarg, an allocator RuntimeError) becomes one ``CheckpointError`` naming the
file. The module's own filters (StyleGAN2 FIR kernels, StyleGAN3 windowed sincs) are small and
designed on the CPU even on meta, within the bounds of step 2.
"""

from __future__ import annotations

import inspect
import math

import torch

from explorer.engine.nesting import NestingError
from explorer.engine.nesting import check_nesting as _check_nesting
from explorer.errors import CheckpointError

MAX_DEPTH = 32                  # containers inside init kwargs (official: 3)
MAX_ITEMS = 100_000             # entries in all containers of one config
MAX_LIST = 64                   # entries of one list in network init kwargs (filters, channel tables)
MAX_RESOLUTION = 4096
MAX_DIM = 4096                  # z_dim, w_dim, mapping features, cmap_dim
MAX_C_DIM = 100_000             # conditioning labels
MAX_IMG_CHANNELS = 16
MAX_CHANNELS = 8192             # channel_max, any one layer's channels (official: 512, 1024 for SG3-R)
MAX_CHANNEL_BASE = 1 << 26      # official: 16384..65536
MAX_MAPPING_LAYERS = 32         # official: 8 (StyleGAN1/2), 2 (StyleGAN3)
MAX_SG3_LAYERS = 64             # official: 14
MAX_ELEMENTS = 2_000_000_000    # parameters + buffers of one network (official 1024x1024: ~30 M)

KINDS = ('stylegan1', 'stylegan2', 'stylegan3', 'discriminator')


class ConfigError(ValueError):
    """A network config that is refused before building; the message names the field."""


def check_nesting(obj, what='config', max_depth=MAX_DEPTH, max_items=MAX_ITEMS) -> None:
    """``nesting.check_nesting`` with the bounds for configs; ConfigError."""
    try:
        _check_nesting(obj, what, max_depth, max_items)
    except NestingError as e:
        raise ConfigError(str(e)) from None


# ----------------------------------------------------------------------------- field bounds

_MISSING = object()


class _Fields:
    """Reads fields of one kwargs dict; every check names ``prefix + name``."""

    def __init__(self, kwargs, prefix=''):
        if kwargs is None:
            kwargs = {}
        if not isinstance(kwargs, dict):
            raise ConfigError(f'{prefix.rstrip(".") or "init kwargs"} must be a dict, got {type(kwargs).__name__}')
        self.kw = kwargs
        self.prefix = prefix

    def sub(self, name) -> _Fields:
        return _Fields(self.kw.get(name), f'{self.prefix}{name}.')

    def int(self, name, lo, hi, default=_MISSING, none_ok=False):
        v = self.kw.get(name, default)
        if v is _MISSING:
            raise ConfigError(f'{self.prefix}{name} is missing')
        if v is None and none_ok:
            return None
        if not isinstance(v, int) or isinstance(v, bool):
            raise ConfigError(f'{self.prefix}{name} must be a whole number, got {_short(v)}')
        if not lo <= v <= hi:
            raise ConfigError(f'{self.prefix}{name}={v} is outside {lo}..{hi}')
        return v

    def number(self, name, lo, hi, default=_MISSING, none_ok=False):
        v = self.kw.get(name, default)
        if v is None and none_ok:
            return None
        if v is _MISSING or not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            raise ConfigError(f'{self.prefix}{name} must be a finite number, got {_short(v)}')
        if not lo <= v <= hi:
            raise ConfigError(f'{self.prefix}{name}={v:g} is outside {lo:g}..{hi:g}')
        return v

    def resolution(self, name='img_resolution', power_of_two=True):
        r = self.int(name, 4, MAX_RESOLUTION)
        if power_of_two and r & (r - 1):
            raise ConfigError(f'{self.prefix}{name}={r} is not a power of two (4..{MAX_RESOLUTION})')
        return r


def _short(v, limit=60):
    s = repr(v) if isinstance(v, (int, float, str, bool, type(None))) else type(v).__name__
    return s if len(s) <= limit else s[:limit] + '...'


def _check_lists(obj, where='') -> None:
    """No list in network kwargs longer than MAX_LIST (filters are outer-producted on the CPU)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            _check_lists(v, f'{where}{k}.')
    elif isinstance(obj, (list, tuple)):
        if len(obj) > MAX_LIST:
            raise ConfigError(f'{where.rstrip(".")} has {len(obj)} entries (at most {MAX_LIST})')
        for v in obj:
            _check_lists(v, where)


def _channels_at(base, cmax, res, prefix):
    if min(base // res, cmax) < 1:
        raise ConfigError(f'{prefix}channel_base={base} gives no channels at {res}x{res}')


def _generator_top(f: _Fields, power_of_two=True):
    f.int('z_dim', 1, MAX_DIM)
    f.int('c_dim', 0, MAX_C_DIM, default=0)
    f.int('w_dim', 1, MAX_DIM)
    f.int('img_channels', 1, MAX_IMG_CHANNELS, default=3)
    return f.resolution(power_of_two=power_of_two)


def _merged_synthesis(kwargs) -> _Fields:
    """StyleGAN2/3 take synthesis arguments in ``synthesis_kwargs`` and/or inline."""
    syn = _Fields(kwargs.get('synthesis_kwargs'), 'synthesis_kwargs.')
    inline = {k: v for k, v in kwargs.items() if k not in ('z_dim', 'c_dim', 'w_dim', 'img_resolution',
                                                            'img_channels', 'mapping_kwargs', 'synthesis_kwargs')}
    return _Fields(dict(syn.kw, **inline), '' if inline else syn.prefix)


def _check_stylegan2(kwargs):
    f = _Fields(kwargs)
    res = _generator_top(f)
    m = f.sub('mapping_kwargs')
    m.int('num_layers', 1, MAX_MAPPING_LAYERS, default=8)
    m.int('embed_features', 1, MAX_DIM, default=None, none_ok=True)
    m.int('layer_features', 1, MAX_DIM, default=None, none_ok=True)
    s = _merged_synthesis(kwargs)
    base = s.int('channel_base', 1, MAX_CHANNEL_BASE, default=32768)
    cmax = s.int('channel_max', 1, MAX_CHANNELS, default=512)
    s.int('num_fp16_res', 0, 32, default=0)
    _channels_at(base, cmax, res, s.prefix)


def _check_stylegan3(kwargs):
    f = _Fields(kwargs)
    res = _generator_top(f, power_of_two=False)
    m = f.sub('mapping_kwargs')
    m.int('num_layers', 1, MAX_MAPPING_LAYERS, default=2)
    s = _merged_synthesis(kwargs)
    s.int('channel_base', 1, MAX_CHANNEL_BASE, default=32768)
    s.int('channel_max', 1, MAX_CHANNELS, default=512)
    n = s.int('num_layers', 1, MAX_SG3_LAYERS, default=14)
    s.int('num_critical', 0, n - 1, default=2)
    s.int('margin_size', 0, 256, default=10)
    s.int('num_fp16_res', 0, 32, default=4)
    s.int('filter_size', 1, 16, default=6)
    s.int('lrelu_upsampling', 1, 4, default=2)
    s.int('conv_kernel', 1, 9, default=3)
    s.number('first_cutoff', 1e-3, res, default=2)
    s.number('first_stopband', 1e-3, 2 * res, default=2 ** 2.1)
    s.number('last_stopband_rel', 1e-3, 16, default=2 ** 0.3)


def _check_stylegan1(kwargs):
    f = _Fields(kwargs)
    res = _generator_top(f)
    channels = f.kw.get('channels')
    if channels is not None:
        n = int(math.log2(res)) - 1
        if not isinstance(channels, (list, tuple)) or len(channels) != n:
            raise ConfigError(f'channels must list {n} channel counts (4..{res})')
        for i, c in enumerate(channels):
            if not isinstance(c, int) or isinstance(c, bool) or not 1 <= c <= MAX_CHANNELS:
                raise ConfigError(f'channels[{i}]={_short(c)} is outside 1..{MAX_CHANNELS}')
    f.int('fmap_base', 1, MAX_CHANNEL_BASE, default=8192)
    f.number('fmap_decay', 0, 4, default=1.0)
    f.int('fmap_max', 1, MAX_CHANNELS, default=512)
    f.int('mapping_layers', 1, MAX_MAPPING_LAYERS, default=8)
    f.int('mapping_fmaps', 1, MAX_DIM, default=512)


def _check_discriminator(kwargs):
    f = _Fields(kwargs)
    f.int('c_dim', 0, MAX_C_DIM)
    res = f.resolution()
    f.int('img_channels', 1, MAX_IMG_CHANNELS)
    base = f.int('channel_base', 1, MAX_CHANNEL_BASE, default=32768)
    cmax = f.int('channel_max', 1, MAX_CHANNELS, default=512)
    _channels_at(base, cmax, res, '')
    f.int('num_fp16_res', 0, 32, default=0)
    f.int('cmap_dim', 1, MAX_DIM, default=None, none_ok=True)
    m = f.sub('mapping_kwargs')
    m.int('num_layers', 0, MAX_MAPPING_LAYERS, default=8)     # TF label mappings have none
    m.int('embed_features', 1, MAX_DIM, default=None, none_ok=True)
    m.int('layer_features', 1, MAX_DIM, default=None, none_ok=True)
    f.sub('block_kwargs').int('freeze_layers', 0, 1000, default=0)
    e = f.sub('epilogue_kwargs')
    e.int('mbstd_group_size', 1, 1 << 16, default=4, none_ok=True)
    e.int('mbstd_num_channels', 0, 64, default=1)


_CHECKS = {
    'stylegan1': _check_stylegan1,
    'stylegan2': _check_stylegan2,
    'stylegan3': _check_stylegan3,
    'discriminator': _check_discriminator,
}


def check_config(kind: str, kwargs: dict) -> None:
    """ConfigError naming the first field of ``kwargs`` outside the bounds for ``kind``."""
    if not isinstance(kwargs, dict):
        raise ConfigError(f'init kwargs must be a dict, got {type(kwargs).__name__}')
    check_nesting(kwargs, 'init kwargs')
    bad = [k for k in kwargs if not isinstance(k, str)]
    if bad:
        raise ConfigError(f'init kwargs have a non-text key {_short(bad[0])}')
    _check_lists(kwargs)
    _CHECKS[kind](kwargs)


# ----------------------------------------------------------------------------- building

def network_class(kind: str):
    if kind == 'discriminator':
        from explorer.engine.discriminator import Discriminator
        return Discriminator
    from explorer.engine.families import generator_class
    return generator_class(kind)


def _as_kwargs(cls, args, kwargs) -> dict:
    """Positional init args (rare in official pickles) as the keyword arguments they stand for."""
    kwargs = dict(kwargs)
    if not args:
        return kwargs
    params = [p for p in inspect.signature(cls).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(args) > len(params):
        raise ConfigError(f'{len(args)} positional init args, at most {len(params)} accepted')
    for p, a in zip(params, args):
        if p.name in kwargs:
            raise ConfigError(f'init argument {p.name} given twice')
        kwargs[p.name] = a
    return kwargs


def count_elements(module: torch.nn.Module) -> int:
    return sum(t.numel() for t in module.parameters()) + sum(t.numel() for t in module.buffers())


# What a constructor can raise on a config that passed the field checks but is still wrong
# (unknown kwargs, an architecture name, zero channels, sizes the filters cannot reach ...).
BUILD_ERRORS = (TypeError, ValueError, AssertionError, KeyError, IndexError, ZeroDivisionError, OverflowError,
                RuntimeError, MemoryError, RecursionError)


def build_checked(kind: str, kwargs: dict, verify=None, path='<memory>', context='', args=()):
    """The ``kind`` network built from untrusted ``kwargs`` (see the module docstring).

    ``verify(meta_module)``: raises (CheckpointError) unless the stored tensors fit the module's
    names and shapes exactly; called before any real allocation. ``context``: put before every
    message (e.g. ``'G_ema: '``). Errors: CheckpointError(path, ...)."""
    what = 'discriminator' if kind == 'discriminator' else f'{kind} generator'
    try:
        cls = network_class(kind)
        kwargs = _as_kwargs(cls, args, kwargs)
        check_config(kind, kwargs)
    except ConfigError as e:
        raise CheckpointError(path, f'{context}refused {what} config: {e}') from None
    except CheckpointError:
        raise
    except Exception as e:  # e.g. an unknown family
        raise CheckpointError(path, f'{context}{_message(e)}') from None
    try:
        with torch.device('meta'):
            probe = cls(**kwargs)
    except BUILD_ERRORS as e:
        raise CheckpointError(path, f'{context}cannot build a {what} from its config: {_message(e)}') from None
    n = count_elements(probe)
    if n > MAX_ELEMENTS:
        raise CheckpointError(path, f'{context}refused {what} config: it describes {n:,} parameters '
                                    f'(at most {MAX_ELEMENTS:,})')
    if verify is not None:
        verify(probe)
    del probe
    try:
        return cls(**kwargs)
    except BUILD_ERRORS as e:
        raise CheckpointError(path, f'{context}cannot build a {what} from its config: {_message(e)}') from None


def _message(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else ''
    if len(text) > 300:
        text = text[:300] + '...'
    return f'{type(e).__name__}: {text}' if text else type(e).__name__
