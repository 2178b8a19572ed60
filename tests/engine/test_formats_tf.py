"""TensorFlow StyleGAN2 pickles: converted by variable name, no TensorFlow needed.

The test writes (G, D, Gs) ``dnnlib.tflib.network.Network`` pickles itself from a
reference network, storing each tensor in TF's layout: dense [in, out], conv
[kh, kw, in, out], up-convs as flipped transposed-conv kernels, affine biases
without their +1, const [1, C, 4, 4], noise [1, 1, R, R] named noise<i>.
"""


import numpy as np
import pytest
import torch
from nvidia_layout import write_tf

from explorer.engine.checkpoint import load_generator, read_checkpoint
from explorer.engine.formats import tf_pickle
from explorer.errors import CheckpointError


def _tf_conv(w, flip=False):
    a = w.detach().numpy().transpose(2, 3, 1, 0)  # [out, in, kh, kw] -> [kh, kw, in, out]
    return np.array(a[::-1, ::-1] if flip else a, order='C')


def _tf_dense(w):
    return np.array(w.detach().numpy().T, order='C')


def _np(t):
    return t.detach().numpy().copy()


def generator_to_tf(G, fmap_base, extra_kwargs=None):
    mapping, synthesis = [], []
    for i in range(G.mapping.num_layers):
        fc = getattr(G.mapping, f'fc{i}')
        mapping += [(f'Dense{i}/weight', _tf_dense(fc.weight)), (f'Dense{i}/bias', _np(fc.bias))]
    if G.c_dim:
        mapping += [('LabelEmbed/weight', _tf_dense(G.mapping.embed.weight)),
                    ('LabelEmbed/bias', _np(G.mapping.embed.bias))]
    noise_idx = 0
    for res in G.synthesis.block_resolutions:
        b = getattr(G.synthesis, f'b{res}')
        layers = []
        if res == 4:
            synthesis.append(('4x4/Const/const', _np(b.const)[None]))
            layers.append(('Conv', b.conv1))
        else:
            layers += [('Conv0_up', b.conv0), ('Conv1', b.conv1)]
        for scope, layer in layers:
            p = f'{res}x{res}/{scope}'
            synthesis += [(f'{p}/weight', _tf_conv(layer.weight, flip=(scope == 'Conv0_up'))),
                          (f'{p}/bias', _np(layer.bias)),
                          (f'{p}/mod_weight', _tf_dense(layer.affine.weight)),
                          (f'{p}/mod_bias', _np(layer.affine.bias) - 1),
                          (f'{p}/noise_strength', _np(layer.noise_strength)),
                          (f'noise{noise_idx}', _np(layer.noise_const)[None, None])]
            noise_idx += 1
        if hasattr(b, 'torgb'):
            p = f'{res}x{res}/ToRGB'
            synthesis += [(f'{p}/weight', _tf_conv(b.torgb.weight)), (f'{p}/bias', _np(b.torgb.bias)),
                          (f'{p}/mod_weight', _tf_dense(b.torgb.affine.weight)),
                          (f'{p}/mod_bias', _np(b.torgb.affine.bias) - 1)]
        if hasattr(b, 'skip'):
            synthesis.append((f'{res}x{res}/Skip/weight', _tf_conv(b.skip.weight, flip=True)))
    kwargs = dict(latent_size=G.z_dim, label_size=G.c_dim, dlatent_size=G.w_dim, resolution=G.img_resolution,
                  num_channels=G.img_channels, mapping_layers=G.mapping.num_layers, fmap_base=fmap_base,
                  fmap_max=16, architecture=G.architecture, **(extra_kwargs or {}))
    rng = np.random.RandomState(0)
    synthesis.sort(key=lambda _: rng.rand())  # order must not matter
    return dict(version=4, name='G', static_kwargs=kwargs, build_module_src='raise SystemExit  # never run',
                build_func_name='G_main',
                variables=[('dlatent_avg', _np(G.mapping.w_avg)), ('lod', np.float32(0))],
                components={'mapping': dict(version=4, name='G_mapping', static_kwargs=kwargs, components={},
                                            variables=mapping),
                            'synthesis': dict(version=4, name='G_synthesis', static_kwargs=kwargs,
                                              components={}, variables=synthesis)})


def discriminator_to_tf(D, fmap_base, mbstd_group_size):
    variables = []
    for name, t in D.named_parameters():
        parts = name.split('.')
        if parts[0].startswith('b') and parts[0] != 'b4' or name.startswith('b4.fromrgb'):
            r = int(parts[0][1:])
            scope = {'fromrgb': 'FromRGB', 'conv0': 'Conv0', 'conv1': 'Conv1_down', 'skip': 'Skip'}[parts[1]]
            variables.append((f'{r}x{r}/{scope}/{parts[2]}', _tf_conv(t) if parts[2] == 'weight' else _np(t)))
        else:
            scope = {'b4.conv': '4x4/Conv', 'b4.fc': '4x4/Dense0', 'b4.out': 'Output'}[f'{parts[0]}.{parts[1]}']
            conv = parts[1] == 'conv'
            variables.append((f'{scope}/{parts[2]}',
                              (_tf_conv(t) if conv else _tf_dense(t)) if parts[2] == 'weight' else _np(t)))
    kwargs = dict(label_size=0, resolution=D.img_resolution, num_channels=3, fmap_base=fmap_base, fmap_max=16,
                  architecture='resnet', mbstd_group_size=mbstd_group_size)
    return dict(version=4, name='D', static_kwargs=kwargs, components={}, variables=variables)


def _sg2(architecture='skip', c_dim=0, seed=0):
    from explorer.engine.networks_stylegan2 import Generator
    torch.manual_seed(seed)
    G = Generator(z_dim=8, c_dim=c_dim, w_dim=8, img_resolution=16, img_channels=3,
                  mapping_kwargs=dict(num_layers=2),
                  synthesis_kwargs=dict(channel_base=128, channel_max=16, architecture=architecture))
    with torch.no_grad():
        for p in G.parameters():
            p.add_(torch.randn_like(p) * 0.2)
        G.mapping.w_avg.normal_()
    return G.eval()


def _render(G, c=None):
    z = torch.from_numpy(np.random.RandomState(3).randn(2, G.z_dim)).float()
    with torch.no_grad():
        return G(z, c, truncation_psi=0.7, noise_mode='const')


def _same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sorted(sa) == sorted(sb)
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


@pytest.mark.parametrize('architecture,c_dim', [('skip', 0), ('resnet', 0), ('orig', 3)])
def test_tf_stylegan2_every_tensor_lands(tmp_path, architecture, c_dim):
    G = _sg2(architecture, c_dim)
    Gs = _sg2(architecture, c_dim, seed=1)
    from explorer.engine.discriminator import Discriminator
    torch.manual_seed(4)
    D = Discriminator(c_dim=0, img_resolution=16, img_channels=3, channel_base=128, channel_max=16,
                      epilogue_kwargs=dict(mbstd_group_size=2))
    path = write_tf(tmp_path / 'tf.pkl', (generator_to_tf(G, 64), discriminator_to_tf(D, 64, 2),
                                          generator_to_tf(Gs, 64)))
    data = read_checkpoint(path)
    assert data['format'] == 'nvidia-tf-pickle' and data['family'] == 'stylegan2'
    _same(data['G_ema'], Gs)
    _same(data['G'], G)
    _same(data['D'], D)
    c = torch.eye(c_dim)[[0, 1]] if c_dim else None
    assert torch.equal(_render(load_generator(path), c), _render(Gs, c))
    img = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(data['D'].eval()(img, None), D.eval()(img, None))


def test_tf_gs_only_and_build_src_not_run(tmp_path):
    marker = tmp_path / 'ran'
    Gs = _sg2()
    state = generator_to_tf(Gs, 64)
    state['build_module_src'] = f'open({str(marker)!r}, "w")'
    path = write_tf(tmp_path / 'gs.pkl', (state,))
    data = read_checkpoint(path)
    assert data['D'] is None and not marker.exists()
    assert torch.equal(_render(data['G_ema']), _render(Gs))


def test_tf_errors(tmp_path):
    Gs = _sg2()
    # Missing variable.
    st = generator_to_tf(Gs, 64)
    st['components']['synthesis']['variables'] = [v for v in st['components']['synthesis']['variables']
                                                  if v[0] != '8x8/Conv1/mod_weight']
    with pytest.raises(CheckpointError, match=r'missing\.pkl.*8x8/Conv1/mod_weight'):
        read_checkpoint(write_tf(tmp_path / 'missing.pkl', (st,)))
    # Wrong shape (fmap_base that disagrees with the stored weights).
    st = generator_to_tf(Gs, 32)
    with pytest.raises(CheckpointError, match='shape mismatch'):
        read_checkpoint(write_tf(tmp_path / 'shape.pkl', (st,)))
    # Unknown option.
    st = generator_to_tf(Gs, 64, extra_kwargs={'fancy_option': 3})
    with pytest.raises(CheckpointError, match='fancy_option'):
        read_checkpoint(write_tf(tmp_path / 'opt.pkl', (st,)))
    # Extra variable with no place.
    st = generator_to_tf(Gs, 64)
    st['components']['synthesis']['variables'].append(('16x16/Extra/weight', np.zeros(3, np.float32)))
    with pytest.raises(CheckpointError, match='16x16/Extra/weight'):
        read_checkpoint(write_tf(tmp_path / 'extra.pkl', (st,)))
    # Unrecognised family.
    st = dict(version=4, name='G', static_kwargs={}, components={}, variables=[('Foo/weight', np.zeros(2))])
    with pytest.raises(CheckpointError, match='unrecognised TensorFlow network'):
        read_checkpoint(write_tf(tmp_path / 'unk.pkl', (st,)))
    # Too old.
    st = generator_to_tf(Gs, 64)
    st['version'] = 2
    with pytest.raises(CheckpointError, match='too old'):
        read_checkpoint(write_tf(tmp_path / 'old.pkl', (st,)))


def test_registry_plugs_in_a_family(tmp_path):
    """A new TF family registers a detector + converter; recognition goes through it."""
    calls = []

    def detect(variables, kwargs):
        return 'synthesis/TestFamily/marker' in variables

    def convert(variables, kwargs):
        calls.append(sorted(variables))
        return _sg2()

    conv = tf_pickle.TFConverter(family='test-family', detect=detect, convert_generator=convert)
    tf_pickle.register(conv)
    try:
        st = dict(version=4, name='G', static_kwargs={}, components={
            'synthesis': dict(version=4, name='G_synthesis', static_kwargs={}, components={},
                              variables=[('TestFamily/marker', np.zeros((2, 2), np.float32))])},
                  variables=[])
        data = read_checkpoint(write_tf(tmp_path / 'fam.pkl', (st,)))
        assert data['family'] == 'test-family'
        assert calls == [['synthesis/TestFamily/marker']]
    finally:
        tf_pickle._REGISTRY.remove(conv)


def test_info_on_tf_pickle(tmp_path, capsys):
    from explorer.cli import main
    path = write_tf(tmp_path / 'gs.pkl', (generator_to_tf(_sg2(), 64),))
    assert main(['info', str(path)]) == 0
    out = capsys.readouterr().out
    assert 'nvidia-tf-pickle' in out and 'stylegan2' in out
