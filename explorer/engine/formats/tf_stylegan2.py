"""StyleGAN2 / StyleGAN2-ADA TensorFlow networks -> this project's StyleGAN2 modules.

Layout facts (from NVIDIA's published converter, re-expressed here):

- Dense weights are stored [in, out]; ours are [out, in].
- Conv weights are stored [kh, kw, in, out]; ours are [out, in, kh, kw]. The TF
  up-sampling convs (``Conv0_up`` and the generator's ``Skip``) run as transposed
  convolutions, so their kernels are also flipped in both spatial axes.
- Style affine biases (``mod_bias``) are stored without the +1 our affine layers
  carry in their bias.
- The const input is stored [1, C, 4, 4]; noise inputs ``noise<i>`` [1, 1, R, R]
  with i = 0 for the 4x4 conv, then 2*log2(R)-5 (up conv) and 2*log2(R)-4 (conv).
- ``dlatent_avg`` is the tracked w average; ``fmap_base`` is half our channel_base.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from explorer.engine.formats.tf_pickle import ConversionError, TFConverter, register
from explorer.errors import CheckpointError

IGNORED_VARIABLES = {'lod'}  # progressive-growing level of detail; fixed at 0 in StyleGAN2


def detect(variables: dict, static_kwargs: dict) -> bool:
    return any(re.fullmatch(r'synthesis/\d+x\d+/(Conv|Conv1|Conv0_up)/mod_weight', n) for n in variables)


class _Kwargs:
    """Read TF static kwargs, remembering which were used; unknown ones are refused."""

    def __init__(self, tf_kwargs):
        self.tf = dict(tf_kwargs)
        self.known = set()

    def __call__(self, name, default=None, none=None):
        self.known.add(name)
        value = self.tf.get(name, default)
        return none if value is None else value

    def ignore(self, *names):
        self.known.update(names)

    def check(self):
        unknown = sorted(set(self.tf) - self.known)
        if unknown:
            raise ConversionError(f'unsupported TensorFlow network option(s): {", ".join(unknown)}')


def generator_kwargs(tf_kwargs: dict) -> dict:
    k = _Kwargs(tf_kwargs)
    w_avg_beta = k('w_avg_beta', None)
    if w_avg_beta is None:
        w_avg_beta = k('dlatent_avg_beta', 0.995)
    kwargs = dict(
        z_dim=k('latent_size', 512),
        c_dim=k('label_size', 0),
        w_dim=k('dlatent_size', 512),
        img_resolution=k('resolution', 1024),
        img_channels=k('num_channels', 3),
        mapping_kwargs=dict(
            num_layers=k('mapping_layers', 8),
            embed_features=k('label_fmaps', None),
            layer_features=k('mapping_fmaps', None),
            activation=k('mapping_nonlinearity', 'lrelu'),
            lr_multiplier=k('mapping_lrmul', 0.01),
            w_avg_beta=w_avg_beta if w_avg_beta is not None else 1,
        ),
        synthesis_kwargs=dict(
            channel_base=int(k('fmap_base', 16384)) * 2,
            channel_max=k('fmap_max', 512),
            num_fp16_res=k('num_fp16_res', 0),
            conv_clamp=k('conv_clamp', None),
            architecture=k('architecture', 'skip'),
            resample_filter=list(k('resample_kernel', [1, 3, 3, 1])),
            use_noise=k('use_noise', True),
            activation=k('nonlinearity', 'lrelu'),
        ),
    )
    # Sampling-time options that do not change the network.
    k.ignore('truncation_psi', 'truncation_cutoff', 'style_mixing_prob', 'structure')
    k.check()
    return kwargs


def discriminator_kwargs(tf_kwargs: dict) -> dict:
    k = _Kwargs(tf_kwargs)
    kwargs = dict(
        c_dim=k('label_size', 0),
        img_resolution=k('resolution', 1024),
        img_channels=k('num_channels', 3),
        architecture=k('architecture', 'resnet'),
        channel_base=int(k('fmap_base', 16384)) * 2,
        channel_max=k('fmap_max', 512),
        num_fp16_res=k('num_fp16_res', 0),
        conv_clamp=k('conv_clamp', None),
        cmap_dim=k('mapping_fmaps', None),
        block_kwargs=dict(activation=k('nonlinearity', 'lrelu'),
                          resample_filter=list(k('resample_kernel', [1, 3, 3, 1])),
                          freeze_layers=k('freeze_layers', 0)),
        mapping_kwargs=dict(num_layers=k('mapping_layers', 0), embed_features=k('mapping_fmaps', None),
                            layer_features=k('mapping_fmaps', None), activation=k('nonlinearity', 'lrelu'),
                            lr_multiplier=k('mapping_lrmul', 0.1)),
        epilogue_kwargs=dict(mbstd_group_size=k('mbstd_group_size', None),
                             mbstd_num_channels=k('mbstd_num_features', 1),
                             activation=k('nonlinearity', 'lrelu')),
    )
    k.ignore('structure')
    k.check()
    return kwargs


# ----------------------------------------------------------------------------- layout helpers

def _dense(a):   # [in, out] -> [out, in]
    return a.transpose()


def _conv(a):    # [kh, kw, in, out] -> [out, in, kh, kw]
    return a.transpose(3, 2, 0, 1)


def _conv_flipped(a):  # transposed-conv kernel: flip spatially, then as _conv
    return a[::-1, ::-1].transpose(3, 2, 0, 1)


def _noise_index(res: int, which: str) -> int:
    if res == 4:
        return 0
    log2 = int(np.log2(res))
    return 2 * log2 - 5 if which == 'conv0' else 2 * log2 - 4


def _generator_source(name: str):
    """Our tensor name -> (TF variable name, transform); None for fixed buffers."""
    if name.endswith('resample_filter'):
        return None
    if name == 'mapping.w_avg':
        return 'dlatent_avg', None
    m = re.fullmatch(r'mapping\.embed\.(weight|bias)', name)
    if m:
        return f'mapping/LabelEmbed/{m[1]}', _dense if m[1] == 'weight' else None
    m = re.fullmatch(r'mapping\.fc(\d+)\.(weight|bias)', name)
    if m:
        return f'mapping/Dense{m[1]}/{m[2]}', _dense if m[2] == 'weight' else None
    if name == 'synthesis.b4.const':
        return 'synthesis/4x4/Const/const', lambda a: a[0]
    m = re.fullmatch(r'synthesis\.b(\d+)\.(conv0|conv1|torgb|skip)\.(.+)', name)
    if not m:
        raise ConversionError(f'no TensorFlow counterpart for {name}')
    res, layer, field = int(m[1]), m[2], m[3]
    scope = {'conv0': 'Conv0_up', 'conv1': 'Conv' if res == 4 else 'Conv1', 'torgb': 'ToRGB',
             'skip': 'Skip'}[layer]
    base = f'synthesis/{res}x{res}/{scope}'
    if field == 'weight':
        return f'{base}/weight', _conv_flipped if layer in ('conv0', 'skip') else _conv
    if field == 'bias':
        return f'{base}/bias', None
    if field == 'affine.weight':
        return f'{base}/mod_weight', _dense
    if field == 'affine.bias':
        return f'{base}/mod_bias', lambda a: a + 1
    if field == 'noise_strength':
        return f'{base}/noise_strength', None
    if field == 'noise_const':
        return f'synthesis/noise{_noise_index(res, layer)}', lambda a: a[0, 0]
    raise ConversionError(f'no TensorFlow counterpart for {name}')


def _discriminator_source(name: str):
    if name.endswith('resample_filter'):
        return None
    m = re.fullmatch(r'b(\d+)\.fromrgb\.(weight|bias)', name)
    if m:
        return f'{m[1]}x{m[1]}/FromRGB/{m[2]}', _conv if m[2] == 'weight' else None
    m = re.fullmatch(r'b(\d+)\.conv([01])\.(weight|bias)', name)
    if m:
        scope = 'Conv0' if m[2] == '0' else 'Conv1_down'
        return f'{m[1]}x{m[1]}/{scope}/{m[3]}', _conv if m[3] == 'weight' else None
    m = re.fullmatch(r'b(\d+)\.skip\.weight', name)
    if m:
        return f'{m[1]}x{m[1]}/Skip/weight', _conv
    m = re.fullmatch(r'mapping\.embed\.(weight|bias)', name)
    if m:
        return f'LabelEmbed/{m[1]}', _dense if m[1] == 'weight' else None
    m = re.fullmatch(r'mapping\.fc(\d+)\.(weight|bias)', name)
    if m:
        return f'Mapping{m[1]}/{m[2]}', _dense if m[2] == 'weight' else None
    table = {'b4.conv.weight': ('4x4/Conv/weight', _conv), 'b4.conv.bias': ('4x4/Conv/bias', None),
             'b4.fc.weight': ('4x4/Dense0/weight', _dense), 'b4.fc.bias': ('4x4/Dense0/bias', None),
             'b4.out.weight': ('Output/weight', _dense), 'b4.out.bias': ('Output/bias', None)}
    if name in table:
        return table[name]
    raise ConversionError(f'no TensorFlow counterpart for {name}')


def fill_module(module: torch.nn.Module, variables: dict, source_of, what: str) -> None:
    """Set every parameter/buffer of ``module`` from ``variables``; all variables must be used."""
    values = module_values(module, variables, source_of, what)
    own = _own_tensors(module)
    with torch.no_grad():
        for name, value in values.items():
            own[name].copy_(value)


def _own_tensors(module) -> dict:
    own = dict(module.named_parameters())
    own.update(dict(module.named_buffers()))
    return own


def module_values(module: torch.nn.Module, variables: dict, source_of, what: str) -> dict:
    """{our tensor name: tensor} from ``variables``, every shape checked against ``module`` (which
    may live on the meta device) and every variable used; ConversionError otherwise."""
    own = _own_tensors(module)
    used = set()
    values = {}
    for name, tensor in own.items():
        src = source_of(name)
        if src is None:
            continue
        var, fn = src
        if var not in variables:
            raise ConversionError(f'{what}: TensorFlow variable {var!r} (for {name}) is missing')
        a = np.asarray(variables[var], dtype=np.float32)
        if fn is not None:
            a = fn(a)
        if tuple(a.shape) != tuple(tensor.shape):
            raise ConversionError(f'{what}: shape mismatch for {var} -> {name}: file {tuple(a.shape)}, '
                                  f'model {tuple(tensor.shape)}')
        values[name] = torch.from_numpy(np.array(a, dtype=np.float32, order="C"))  # keeps 0-d shapes
        used.add(var)
    leftover = sorted(v for v in set(variables) - used if v.rsplit('/', 1)[-1] not in IGNORED_VARIABLES)
    if leftover:
        raise ConversionError(f'{what}: TensorFlow variables with no place in the model: '
                              f'{", ".join(leftover[:5])}' + (' ...' if len(leftover) > 5 else ''))
    return values


def convert_generator(variables: dict, static_kwargs: dict):
    if any(n.startswith('mapping/LabelConcat') for n in variables):
        raise ConversionError('conditional TensorFlow StyleGAN2 with LabelConcat is not supported')
    kwargs = generator_kwargs(static_kwargs)
    G = _build_filled('stylegan2', kwargs, variables, _generator_source, 'generator')
    return G.eval()


def _build_filled(kind, kwargs, variables, source_of, what):
    """The network built from TensorFlow options once the options passed ``net_check`` and every
    variable fits the meta-device build; ConversionError otherwise."""
    from explorer.engine.net_check import build_checked
    values = {}
    try:
        net = build_checked(kind, kwargs, context=f'TensorFlow {what}: ',
                            verify=lambda meta: values.update(module_values(meta, variables, source_of, what)))
    except CheckpointError as e:
        raise ConversionError(e.reason) from None
    own = _own_tensors(net)
    with torch.no_grad():
        for name, value in values.items():
            own[name].copy_(value)
    return net


def convert_discriminator(variables: dict, static_kwargs: dict):
    kwargs = discriminator_kwargs(static_kwargs)
    return _build_filled('discriminator', kwargs, variables, _discriminator_source, 'discriminator').eval()


register(TFConverter(family='stylegan2', detect=detect, convert_generator=convert_generator,
                     convert_discriminator=convert_discriminator))
