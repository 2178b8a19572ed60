"""Convert an official StyleGAN1 TensorFlow ``Gs`` (``G_style``) record to our Generator.

The record is a ``dnnlib.tflib.network.Network`` state read by the restricted
unpickler: ``static_kwargs``, ``components`` (``mapping`` = ``G_mapping``,
``synthesis`` = ``G_synthesis``) and ``variables`` (name -> numpy array). Nothing
from the pickle is executed; the embedded build source is never looked at.

Variable names (per network, relative to its scope)::

    G_style      lod [], dlatent_avg [w_dim]
    G_mapping    Dense{i}/weight [in, out], Dense{i}/bias [out], LabelConcat/weight [c_dim, z_dim]
    G_synthesis  lod [], noise{i} [1, 1, r, r],
                 4x4/Const/const [1, C, 4, 4]  (or 4x4/Dense/weight [w_dim, C*16]),
                 4x4/Conv/weight [3, 3, C, C], {r}x{r}/Conv0_up/weight, {r}x{r}/Conv1/weight,
                 <layer>/Noise/weight [C], <layer>/bias [C],
                 <layer>/StyleMod/weight [w_dim, 2C], <layer>/StyleMod/bias [2C],
                 ToRGB_lod{n}/weight [1, 1, C, img_channels], ToRGB_lod{n}/bias [img_channels]

The architecture is read from the static kwargs (with the official defaults for the
ones a pickle leaves out), sizes the kwargs do not state are taken from the variable
shapes, and then every variable must map onto exactly one tensor of the model:
a missing, unknown or mis-shaped variable is a ``CheckpointError`` naming it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from explorer.engine.net_check import build_checked
from explorer.engine.networks_stylegan1 import (
    OFFICIAL_TRUNCATION_CUTOFF,
    OFFICIAL_TRUNCATION_PSI,
    Generator,
    official_fmaps,
)
from explorer.errors import CheckpointError

FAMILY = 'stylegan1'
_BLOCK = re.compile(r'^(\d+)x\1/')
_DENSE = re.compile(r'^Dense(\d+)/weight$')


def recognise(static_kwargs, var_names) -> bool:
    """True for a StyleGAN1 (``G_style``) network: AdaIN ``StyleMod`` layers and the
    progressive-growing ``ToRGB_lod`` outputs; StyleGAN2 has ``mod_weight`` instead.
    ``var_names`` may be local or prefixed with the component's scope."""
    names = [str(n) for n in var_names]
    if any(n.endswith('mod_weight') for n in names):
        return False
    if any(n.endswith('StyleMod/weight') or re.search(r'(^|/)ToRGB_lod\d+/', n) for n in names):
        return True
    kw = static_kwargs or {}
    return any(k in kw for k in ('use_instance_norm', 'use_styles', 'const_input_layer')) \
        and 'architecture' not in kw


# ----------------------------------------------------------------------------- record access

def _get(record, attr):
    if isinstance(record, dict):
        return record.get(attr)
    return getattr(record, attr, None)


def _parts(record):
    """(static_kwargs, components, variables) of a record or of an equivalent dict."""
    kwargs = dict(_get(record, 'static_kwargs') or {})
    components = dict(_get(record, 'components') or {})
    variables = dict(_get(record, 'variables') or {})
    return kwargs, components, variables


def _component(components, key, name, path):
    comp = components.get(key)
    if comp is None:
        for c in components.values():
            if _get(c, 'name') == name:
                comp = c
    if comp is None:
        raise CheckpointError(path, f'StyleGAN1 network has no {name} component '
                                    f'(components: {sorted(components) or "none"})')
    return comp


# ----------------------------------------------------------------------------- configuration

def _infer_resolution(syn_vars):
    res = [int(m.group(1)) for n in syn_vars if (m := _BLOCK.match(n))]
    return max(res) if res else None


def _shape(variables, name):
    v = variables.get(name)
    return tuple(np.shape(v)) if v is not None else None


def _channels(kw, syn_vars, resolution_log2, path):
    """Feature maps per resolution: the official nf() when the kwargs set its constants,
    else read from the conv shapes (falling back to nf() with the official defaults)."""
    base = kw.get('fmap_base', 8192)
    decay = kw.get('fmap_decay', 1.0)
    fmax = kw.get('fmap_max', 512)
    formula = [official_fmaps(r - 1, base, decay, fmax) for r in range(2, resolution_log2 + 1)]
    if any(k in kw for k in ('fmap_base', 'fmap_decay', 'fmap_max')):
        return formula
    out = []
    for i, r in enumerate(range(2, resolution_log2 + 1)):
        name = '4x4/Conv/weight' if r == 2 else f'{2 ** r}x{2 ** r}/Conv1/weight'
        shape = _shape(syn_vars, name)
        out.append(int(shape[3]) if shape is not None and len(shape) == 4 else formula[i])
    return out


def _bool(v, name, path):
    if isinstance(v, (bool, int, np.bool_, np.integer)):
        return bool(v)
    raise CheckpointError(path, f'StyleGAN1 kwarg {name}={v!r} is not a boolean')


def generator_kwargs(top_kwargs, map_kwargs, syn_kwargs, map_vars, syn_vars, top_vars, path='<memory>') -> dict:
    """Our Generator's init kwargs from the three networks' kwargs and variable shapes."""
    mk = {**top_kwargs, **map_kwargs}
    sk = {**top_kwargs, **syn_kwargs}

    resolution = sk.get('resolution')
    if resolution is None:
        resolution = _infer_resolution(syn_vars) or 1024
    resolution = int(resolution)
    if resolution < 4 or resolution & (resolution - 1):
        raise CheckpointError(path, f'StyleGAN1 resolution {resolution} is not a power of two >= 4')
    log2 = int(np.log2(resolution))

    w_dim = sk.get('dlatent_size', mk.get('dlatent_size'))
    if w_dim is None:
        shape = _shape(top_vars, 'dlatent_avg')
        w_dim = shape[0] if shape and len(shape) == 1 else 512
    mapping_layers = mk.get('mapping_layers')
    if mapping_layers is None:
        idx = [int(m.group(1)) for n in map_vars if (m := _DENSE.match(n))]
        mapping_layers = max(idx) + 1 if idx else 8
    c_dim = mk.get('label_size')
    if c_dim is None:
        shape = _shape(map_vars, 'LabelConcat/weight')
        c_dim = shape[0] if shape and len(shape) == 2 else 0
    z_dim = mk.get('latent_size')
    if z_dim is None:
        shape = _shape(map_vars, 'Dense0/weight')
        z_dim = (shape[0] // (2 if c_dim else 1)) if shape and len(shape) == 2 else 512
    mapping_fmaps = mk.get('mapping_fmaps')
    if mapping_fmaps is None:
        shape = _shape(map_vars, 'Dense0/weight')
        mapping_fmaps = shape[1] if shape and len(shape) == 2 and mapping_layers > 1 else 512
    img_channels = sk.get('num_channels')
    if img_channels is None:
        shape = _shape(syn_vars, 'ToRGB_lod0/bias')
        img_channels = shape[0] if shape and len(shape) == 1 else 3

    if not _bool(sk.get('use_styles', True), 'use_styles', path):
        raise CheckpointError(path, 'StyleGAN1 networks without style inputs (use_styles=False) are not supported')
    use_noise = sk.get('use_noise', True)
    if not isinstance(use_noise, (bool, np.bool_)) and use_noise not in (0, 1):
        raise CheckpointError(path, f'StyleGAN1 use_noise={use_noise!r} (several noise channels) is not supported')
    for key, choices in (('nonlinearity', ('lrelu', 'relu')), ('mapping_nonlinearity', ('lrelu', 'relu'))):
        value = (sk if key == 'nonlinearity' else mk).get(key, 'lrelu')
        if value not in choices:
            raise CheckpointError(path, f'StyleGAN1 {key}={value!r} is not supported (expected one of {choices})')
    fused_scale = sk.get('fused_scale', 'auto')
    if fused_scale not in (True, False, 'auto'):
        raise CheckpointError(path, f'StyleGAN1 fused_scale={fused_scale!r} is not supported')
    blur_filter = sk.get('blur_filter', [1, 2, 1])
    blur_filter = [float(v) for v in blur_filter] if blur_filter else None
    if blur_filter is not None and all(v == int(v) for v in blur_filter):
        blur_filter = [int(v) for v in blur_filter]
    if sk.get('structure', 'auto') not in ('auto', 'linear', 'recursive', 'fixed'):
        raise CheckpointError(path, f'StyleGAN1 structure={sk.get("structure")!r} is not supported')

    psi = top_kwargs.get('truncation_psi', OFFICIAL_TRUNCATION_PSI)
    cutoff = top_kwargs.get('truncation_cutoff', OFFICIAL_TRUNCATION_CUTOFF)
    if psi is None or cutoff is None or (cutoff is not None and cutoff <= 0):
        psi, cutoff = 1.0, None  # the official G_style then skips truncation

    return dict(
        z_dim=int(z_dim), c_dim=int(c_dim), w_dim=int(w_dim), img_resolution=resolution,
        img_channels=int(img_channels), channels=_channels(sk, syn_vars, log2, path),
        mapping_layers=int(mapping_layers), mapping_fmaps=int(mapping_fmaps),
        mapping_lrmul=float(mk.get('mapping_lrmul', 0.01)),
        mapping_nonlinearity=mk.get('mapping_nonlinearity', 'lrelu'),
        normalize_latents=_bool(mk.get('normalize_latents', True), 'normalize_latents', path),
        nonlinearity=sk.get('nonlinearity', 'lrelu'),
        use_wscale=_bool(sk.get('use_wscale', True), 'use_wscale', path),
        use_noise=bool(use_noise),
        use_pixel_norm=_bool(sk.get('use_pixel_norm', False), 'use_pixel_norm', path),
        use_instance_norm=_bool(sk.get('use_instance_norm', True), 'use_instance_norm', path),
        const_input_layer=_bool(sk.get('const_input_layer', True), 'const_input_layer', path),
        fused_scale=fused_scale, blur_filter=blur_filter,
        progressive=sk.get('structure', 'auto') != 'fixed',
        truncation_psi=float(psi), truncation_cutoff=None if cutoff is None else int(cutoff))


# ----------------------------------------------------------------------------- variable map

def _conv(a):     # TF [kh, kw, in, out] -> torch [out, in, kh, kw]
    return a.transpose(3, 2, 0, 1)


def _dense(a):    # TF [in, out] -> torch [out, in]
    return a.T


def _same(a):
    return a


def variable_map(G: Generator) -> dict:
    """{('mapping'|'synthesis'|'top', tf_name): (torch_name, tf_shape, to_torch)} for ``G``."""
    out = {}

    def put(net, tf_name, torch_name, to_torch, tf_shape=None):
        own = G.state_dict()[torch_name]
        if tf_shape is None:
            tf_shape = tuple(reversed(own.shape)) if to_torch is _dense else tuple(own.shape)
        out[(net, tf_name)] = (torch_name, tuple(tf_shape), to_torch)

    m = G.mapping
    for i in range(m.num_layers):
        put('mapping', f'Dense{i}/weight', f'mapping.fc{i}.weight', _dense)
        put('mapping', f'Dense{i}/bias', f'mapping.fc{i}.bias', _same)
    if m.c_dim > 0:
        put('mapping', 'LabelConcat/weight', 'mapping.label_embed', _same)
    put('top', 'dlatent_avg', 'mapping.w_avg', _same)
    put('top', 'lod', 'synthesis.lod', _same)

    syn = G.synthesis
    L = syn.resolution_log2
    layer_idx = 0
    for res in syn.block_resolutions:
        block = getattr(syn, f'b{res}')
        scopes = (['4x4/Const' if block.layer0.kind == 'const' else '4x4/Dense', '4x4/Conv'] if res == 4
                  else [f'{res}x{res}/Conv0_up', f'{res}x{res}/Conv1'])
        for scope, lname in zip(scopes, ('layer0', 'layer1')):
            layer = getattr(block, lname)
            t = f'synthesis.b{res}.{lname}'
            C = layer.out_channels
            if layer.kind == 'const':
                put('synthesis', f'{scope}/const', f'{t}.const', lambda a: a[0], (1, C, res, res))
            elif layer.kind == 'dense':
                put('synthesis', f'{scope}/weight', f'{t}.weight', _dense)
            else:
                put('synthesis', f'{scope}/weight', f'{t}.weight', _conv, (3, 3, layer.in_channels, C))
            if layer.use_noise:
                put('synthesis', f'noise{layer_idx}', f'{t}.noise_const', lambda a: a[0, 0], (1, 1, res, res))
                put('synthesis', f'{scope}/Noise/weight', f'{t}.noise_strength', _same)
            put('synthesis', f'{scope}/bias', f'{t}.bias', _same)
            put('synthesis', f'{scope}/StyleMod/weight', f'{t}.style.weight', _dense)
            put('synthesis', f'{scope}/StyleMod/bias', f'{t}.style.bias', _same)
            layer_idx += 1
        if block.torgb is not None:
            lod = L - int(np.log2(res))
            put('synthesis', f'ToRGB_lod{lod}/weight', f'synthesis.b{res}.torgb.weight', _conv,
                (1, 1, block.out_channels, G.img_channels))
            put('synthesis', f'ToRGB_lod{lod}/bias', f'synthesis.b{res}.torgb.bias', _same)
    return out


# ----------------------------------------------------------------------------- conversion

_NET_NAMES = {'top': 'G_style', 'mapping': 'G_mapping', 'synthesis': 'G_synthesis'}


def _names(names, n=6):
    names = sorted(names)
    s = ', '.join(names[:n])
    return s + (f' and {len(names) - n} more' if len(names) > n else '')


def convert(G_record, path='<memory>', crop=None) -> Generator:
    """A ``Generator`` holding the record's variables (eval mode, CPU).

    ``crop`` ([top, bottom, left, right]) defaults to what the file name says
    (``...cars-512x384.pkl`` -> rows 64..447 of the 512x512 output)."""
    top_kwargs, components, top_vars = _parts(G_record)
    mapping = _component(components, 'mapping', 'G_mapping', path)
    synthesis = _component(components, 'synthesis', 'G_synthesis', path)
    map_kwargs, _, map_vars = _parts(mapping)
    syn_kwargs, _, syn_vars = _parts(synthesis)
    files = {'top': top_vars, 'mapping': map_vars, 'synthesis': syn_vars}

    kwargs = generator_kwargs(top_kwargs, map_kwargs, syn_kwargs, map_vars, syn_vars, top_vars, path)
    if crop is None:
        crop = crop_from_name(path, kwargs['img_resolution'])
    kwargs['crop'] = crop
    state = {}

    def verify(meta):  # on the meta device: every variable present with its shape, nothing allocated
        vmap = variable_map(meta)
        # The synthesis network's own lod is overwritten from G_style's before each run.
        expected = set(vmap) | {('synthesis', 'lod')}
        present = {(net, name) for net, vs in files.items() for name in vs}
        missing = expected - present
        unknown = present - expected
        if missing or unknown:
            parts = []
            if missing:
                parts.append('missing variables: ' + _names(f'{_NET_NAMES[n]}/{v}' for n, v in missing))
            if unknown:
                parts.append('unknown variables: ' + _names(f'{_NET_NAMES[n]}/{v}' for n, v in unknown))
            raise CheckpointError(path, 'StyleGAN1 TensorFlow network: ' + '; '.join(parts))
        for (net, tf_name), (torch_name, tf_shape, to_torch) in vmap.items():
            value = files[net][tf_name]
            label = f'{_NET_NAMES[net]}/{tf_name}'
            if not isinstance(value, (np.ndarray, np.generic)) or value.dtype.kind not in 'fiu':
                raise CheckpointError(path, f'variable {label} is not a numeric array ({type(value).__name__})')
            value = np.asarray(value, dtype=np.float32)
            if tuple(value.shape) != tf_shape:
                raise CheckpointError(path, f'variable {label} has shape {tuple(value.shape)}, expected {tf_shape} '
                                            f'for this configuration')
            state[torch_name] = torch.from_numpy(np.array(to_torch(value), dtype=np.float32, order='C'))

    G = build_checked('stylegan1', kwargs, verify=verify, path=path, context='StyleGAN1 TensorFlow network: ')
    own = G.state_dict()
    left = sorted(set(own) - set(state))
    assert not left, f'tensors without a TF variable: {left}'
    with torch.no_grad():
        for name, value in state.items():
            own[name].copy_(value)
    return G.eval()


_DIMS = re.compile(r'(\d+)x(\d+)')


def crop_from_name(path, resolution) -> list | None:
    """[top, bottom, left, right] for a non-square model named like ``...-512x384.pkl``
    (width x height) or an official cars model (``car`` in the name, 512x384)."""
    if path is None:
        return None
    name = Path(str(path)).name.lower()
    for m in _DIMS.finditer(name):
        w, h = int(m.group(1)), int(m.group(2))
        if w == resolution and 0 < h < resolution and (resolution - h) % 2 == 0:
            pad = (resolution - h) // 2
            return [pad, pad, 0, 0]
        if h == resolution and 0 < w < resolution and (resolution - w) % 2 == 0:
            pad = (resolution - w) // 2
            return [0, 0, pad, pad]
        if w == h == resolution:
            return None
    if re.search(r'(^|[^a-z])cars?([^a-z]|$)', name) and resolution == 512:
        return [64, 64, 0, 0]
    return None


# ----------------------------------------------------------------------------- tf_pickle registry

def _split_flat(variables: dict, static_kwargs: dict) -> dict:
    """tf_pickle's flat {'mapping/Dense0/weight': ..., 'synthesis/...': ..., 'dlatent_avg': ...}
    back into a G_style record (components share the top-level kwargs, as in the official code)."""
    top, comps = {}, {'mapping': {}, 'synthesis': {}}
    for name, value in variables.items():
        head, sep, rest = name.partition('/')
        if sep and head in comps:
            comps[head][rest] = value
        else:
            top[name] = value
    kw = dict(static_kwargs or {})
    return {'name': 'Gs', 'static_kwargs': kw, 'variables': top,
            'components': {k: {'name': _NET_NAMES[k], 'static_kwargs': kw, 'components': {}, 'variables': v}
                           for k, v in comps.items()}}


def detect(variables: dict, static_kwargs: dict) -> bool:
    return recognise(static_kwargs, variables)


def convert_generator(variables: dict, static_kwargs: dict) -> Generator:
    from explorer.engine.formats.tf_pickle import ConversionError
    try:
        return convert(_split_flat(variables, static_kwargs), path='<memory>')
    except CheckpointError as e:
        raise ConversionError(e.reason) from None


def finish(G: Generator, path) -> Generator:
    """Crop non-square models by their file name (e.g. ``...cars-512x384.pkl``)."""
    crop = crop_from_name(path, G.img_resolution)
    if crop is not None:
        G.set_crop(crop)
    return G


def _register():
    from explorer.engine.formats.tf_pickle import TFConverter, register
    fields = dict(family=FAMILY, detect=detect, convert_generator=convert_generator)
    names = getattr(TFConverter, '__dataclass_fields__', {})
    if 'min_version' in names:
        fields['min_version'] = 2   # StyleGAN1's dnnlib writes Network state version 3
    if 'finish' in names:
        fields['finish'] = finish
    register(TFConverter(**fields))


_register()
