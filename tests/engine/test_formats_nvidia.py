"""NVIDIA PyTorch pickles: every tensor lands, outputs deterministic, hostile files refused."""

import os
import pickle
import subprocess

import numpy as np
import pytest
import torch
from nvidia_layout import dumps_official, write_official

from explorer.engine.checkpoint import load_generator, read_checkpoint
from explorer.errors import CheckpointError


def _randomise(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in list(module.parameters()) + [b for n, b in module.named_buffers() if 'filter' not in n]:
            t.copy_(torch.randn(t.shape, generator=g) * 0.3 + (1 if t.ndim == 0 else 0) * 0.1)
    return module


def _sg2(layout='ada', c_dim=0, architecture='skip'):
    from explorer.engine.networks_stylegan2 import Generator
    torch.manual_seed(1)
    synth = dict(channel_base=128, channel_max=16, architecture=architecture, conv_clamp=256, num_fp16_res=0)
    if layout == 'ada':
        G = Generator(z_dim=8, c_dim=c_dim, w_dim=8, img_resolution=16, img_channels=3,
                      mapping_kwargs=dict(num_layers=2), synthesis_kwargs=synth)
        kwargs = dict(z_dim=8, c_dim=c_dim, w_dim=8, img_resolution=16, img_channels=3,
                      mapping_kwargs=dict(num_layers=2), synthesis_kwargs=synth)
    else:  # stylegan3 repository: synthesis arguments inline
        synth['fused_modconv_default'] = 'inference_only'
        G = Generator(z_dim=8, c_dim=c_dim, w_dim=8, img_resolution=16, img_channels=3,
                      mapping_kwargs=dict(num_layers=2), **synth)
        kwargs = dict(z_dim=8, c_dim=c_dim, w_dim=8, img_resolution=16, img_channels=3,
                      mapping_kwargs=dict(num_layers=2), **synth)
    return _randomise(G, 3), kwargs


def _sg3(radial=False):
    from explorer.engine.networks_stylegan3 import Generator
    torch.manual_seed(2)
    kw = dict(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=2),
              channel_base=256, channel_max=16, magnitude_ema_beta=0.999, conv_clamp=256, num_fp16_res=0)
    if radial:
        kw.update(conv_kernel=1, use_radial_filters=True)
    G = Generator(**kw)
    with torch.no_grad():
        for n, p in G.named_parameters():
            p.add_(torch.randn_like(p) * 0.05)
        G.mapping.w_avg.normal_()
    return G, kw


def _discriminator(c_dim=0):
    from explorer.engine.discriminator import Discriminator
    kw = dict(c_dim=c_dim, img_resolution=16, img_channels=3, architecture='resnet', channel_base=128,
              channel_max=16, num_fp16_res=0, conv_clamp=256, block_kwargs=dict(freeze_layers=0),
              mapping_kwargs={}, epilogue_kwargs=dict(mbstd_group_size=2))
    torch.manual_seed(5)
    return _randomise(Discriminator(**kw), 7), kw


class AugmentPipe(torch.nn.Module):  # class name as in the official repositories
    def __init__(self):
        super().__init__()
        self.register_buffer('p', torch.tensor(0.375))


def _same_tensors(a, b):
    sa = {**dict(a.named_parameters()), **dict(a.named_buffers())}
    sb = {**dict(b.named_parameters()), **dict(b.named_buffers())}
    assert sorted(sa) == sorted(sb)
    for k in sa:
        assert torch.equal(sa[k].float(), sb[k].float()), k


def _render(G, seed=0, c=None):
    z = torch.from_numpy(np.random.RandomState(seed).randn(2, G.z_dim)).float()
    with torch.no_grad():
        return G(z, c, truncation_psi=0.7, noise_mode='const')


@pytest.mark.parametrize('layout', ['ada', 'sg3repo'])
def test_stylegan2_pickle_every_tensor_lands(tmp_path, layout):
    G, kw = _sg2(layout, c_dim=2)
    G_train = _randomise(_sg2(layout, c_dim=2)[0], 11)
    D, dkw = _discriminator(c_dim=2)
    path = write_official(tmp_path / 'net.pkl', {
        'G': G_train, 'D': D, 'G_ema': G, 'augment_pipe': AugmentPipe(),
        'training_set_kwargs': dict(resolution=16, xflip=False)},
        init_kwargs={id(G): kw, id(G_train): kw, id(D): dkw})
    data = read_checkpoint(path)
    assert data['format'] == 'nvidia-pytorch-pickle' and data['family'] == 'stylegan2'
    _same_tensors(data['G_ema'], G)
    _same_tensors(data['G'], G_train)
    _same_tensors(data['D'], D)
    assert data['augment_pipe']['p'] == pytest.approx(0.375)
    assert data['training_set_kwargs'] == {'resolution': 16, 'xflip': False}
    c = torch.eye(2)[[0, 1]]
    G.eval()
    G2 = load_generator(path)
    a, b = _render(G, c=c), _render(G2, c=c)
    assert torch.equal(a, b)
    assert torch.equal(b, _render(G2, c=c))  # deterministic
    img = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(D.eval()(img, c), data['D'].eval()(img, c))


@pytest.mark.parametrize('radial', [False, True])
def test_stylegan3_pickle_every_tensor_lands(tmp_path, radial):
    G, kw = _sg3(radial)
    path = write_official(tmp_path / 'sg3.pkl', {'G_ema': G, 'G': None, 'D': None}, init_kwargs={id(G): kw})
    data = read_checkpoint(path)
    assert data['family'] == 'stylegan3' and data['G'] is None and data['D'] is None
    _same_tensors(data['G_ema'], G)
    assert torch.equal(_render(G.eval()), _render(load_generator(path)))


def test_module_src_is_never_executed(tmp_path):
    marker = tmp_path / 'ran.txt'
    G, kw = _sg2()
    src = f'open({str(marker)!r}, "w").write("executed")\nimport os\nos.system("touch {marker}")\n'
    overrides = {id(m): {'module_src': src} for m in G.modules()}
    path = write_official(tmp_path / 'src.pkl', {'G_ema': G}, init_kwargs={id(G): kw}, overrides=overrides)
    assert src.encode() in path.read_bytes()
    G2 = load_generator(path)
    assert not marker.exists()
    assert torch.equal(_render(G.eval()), _render(G2))


class _Hostile:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


@pytest.mark.parametrize('func_name', ['os.system', 'builtins.eval', 'builtins.exec', 'subprocess.call'])
def test_hostile_global_refused_without_side_effects(tmp_path, func_name):
    marker = tmp_path / 'pwned'
    funcs = {'os.system': (os.system, f'touch {marker}'),
             'builtins.eval': (eval, f'open({str(marker)!r}, "w")'),
             'builtins.exec': (exec, f'open({str(marker)!r}, "w")'),
             'subprocess.call': (subprocess.call, ['touch', str(marker)])}
    func, arg = funcs[func_name]
    G, kw = _sg2()
    # The hostile call sits after real network data, inside the dict.
    path = write_official(tmp_path / 'evil.pkl', {'G_ema': G, 'extra': _Hostile(func, arg)},
                          init_kwargs={id(G): kw})
    with pytest.raises(CheckpointError) as e:
        read_checkpoint(path)
    msg = str(e.value)
    assert str(path) in msg and 'forbidden global' in msg
    assert func.__name__ in msg  # e.g. 'posix.system', 'builtins.eval'
    assert not marker.exists()


def test_forbidden_global_inside_network_state(tmp_path):
    marker = tmp_path / 'pwned'
    G, kw = _sg2()

    def edit(module, state):
        if module is G.mapping:
            state['sneaky'] = _Hostile(os.system, f'touch {marker}')

    path = write_official(tmp_path / 'evil2.pkl', {'G_ema': G}, init_kwargs={id(G): kw}, state_edit=edit)
    with pytest.raises(CheckpointError, match='forbidden global'):
        read_checkpoint(path)
    assert not marker.exists()


def test_truncated_and_junk_files_refused(tmp_path):
    G, kw = _sg2()
    blob = dumps_official({'G_ema': G}, init_kwargs={id(G): kw})
    for cut in (len(blob) // 2, len(blob) - 3, 40):
        p = tmp_path / f'cut{cut}.pkl'
        p.write_bytes(blob[:cut])
        with pytest.raises(CheckpointError) as e:
            read_checkpoint(p)
        assert str(p) in str(e.value)
        assert 'truncated' in str(e.value) or 'corrupt' in str(e.value)
    rng = np.random.RandomState(0)
    junk = tmp_path / 'junk.pkl'
    junk.write_bytes(b'\x80\x04' + rng.bytes(5000))
    with pytest.raises(CheckpointError, match='junk.pkl'):
        read_checkpoint(junk)
    junk2 = tmp_path / 'junk2.pkl'
    junk2.write_bytes(rng.bytes(5000).replace(b'PK', b'pk').lstrip(b'\x80'))
    with pytest.raises(CheckpointError, match='junk2.pkl'):
        read_checkpoint(junk2)
    plain = tmp_path / 'plain.pkl'
    plain.write_bytes(pickle.dumps({'a': 1}))
    with pytest.raises(CheckpointError, match='no StyleGAN networks'):
        read_checkpoint(plain)


def test_unknown_class_and_structure_refused(tmp_path):
    G, kw = _sg2()
    path = write_official(tmp_path / 'unk.pkl', {'G_ema': G}, init_kwargs={id(G): kw},
                          overrides={id(G): {'class_name': 'FancyGenerator'}})
    with pytest.raises(CheckpointError, match="unknown network class 'FancyGenerator'"):
        read_checkpoint(path)
    path = write_official(tmp_path / 'unk2.pkl', {'G_ema': G}, init_kwargs={id(G): kw},
                          overrides={id(G.synthesis.b8): {'class_name': 'WeirdBlock'}})
    with pytest.raises(CheckpointError, match='WeirdBlock'):
        read_checkpoint(path)
    path = write_official(tmp_path / 'unk3.pkl', {'G_ema': G}, init_kwargs={id(G): kw},
                          overrides={id(G): {'version': 6, 'type': 'function'}})
    with pytest.raises(CheckpointError, match='unk3.pkl'):
        read_checkpoint(path)


def test_shape_mismatch_missing_and_extra_tensors(tmp_path):
    G, kw = _sg2()

    def widen(module, state):
        if module is G.mapping.fc0:
            state['_parameters']['weight'] = torch.nn.Parameter(torch.zeros(8, 9))

    path = write_official(tmp_path / 'shape.pkl', {'G_ema': G}, init_kwargs={id(G): kw}, state_edit=widen)
    with pytest.raises(CheckpointError, match=r'shape mismatch for mapping\.fc0\.weight'):
        read_checkpoint(path)

    def drop(module, state):
        if module is G.synthesis.b8.conv0:
            del state['_buffers']['noise_const']

    path = write_official(tmp_path / 'drop.pkl', {'G_ema': G}, init_kwargs={id(G): kw}, state_edit=drop)
    with pytest.raises(CheckpointError, match=r'missing.*synthesis\.b8\.conv0\.noise_const'):
        read_checkpoint(path)

    def extra(module, state):
        if module is G.synthesis.b4:
            state['_buffers']['surprise'] = torch.zeros(3)

    path = write_official(tmp_path / 'extra.pkl', {'G_ema': G}, init_kwargs={id(G): kw}, state_edit=extra)
    with pytest.raises(CheckpointError, match=r'synthesis\.b4\.surprise'):
        read_checkpoint(path)


def test_bad_init_kwargs_give_clear_error(tmp_path):
    G, kw = _sg2()
    bad = dict(kw, synthesis_kwargs=dict(kw['synthesis_kwargs'], architecture='hexagonal'))
    path = write_official(tmp_path / 'kw.pkl', {'G_ema': G}, init_kwargs={id(G): bad})
    with pytest.raises(CheckpointError, match='kw.pkl.*hexagonal'):
        read_checkpoint(path)


def test_info_command_on_official_pickle(tmp_path, capsys):
    from explorer.cli import main
    G, kw = _sg2()
    D, dkw = _discriminator()
    path = write_official(tmp_path / 'info.pkl', {'G_ema': G, 'D': D}, init_kwargs={id(G): kw, id(D): dkw})
    rc = main(['info', str(path), '--json'])
    assert rc == 0
    import json
    d = json.loads(capsys.readouterr().out)
    assert d['format'] == 'nvidia-pytorch-pickle' and d['family'] == 'stylegan2'
    assert d['resolution'] == 16 and d['num_ws'] == G.num_ws and d['has_discriminator'] is True
    assert d['parameters'] == sum(p.numel() for p in G.parameters())
