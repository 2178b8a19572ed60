"""Hostile checkpoint configs: refused before anything is allocated, one line naming file and field.

Every file that would have allocated hundreds of GB, spun for minutes or overflowed the stack
before the config checks is opened in a child process with a 3 GiB address-space cap and a
timeout (``hostile_helpers``), so a regression fails the test instead of the machine.
"""

import json
import time

import pytest
import torch
from hostile_helpers import last_json_line, one_line_error, run_capped, run_cli
from nvidia_layout import write_official

from explorer.engine import net_check
from explorer.engine.checkpoint import FORMAT_NAME, FORMAT_VERSION, atomic_torch_save, network_record, read_checkpoint
from explorer.errors import CheckpointError

CAP = 3 << 30
SG2 = dict(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=2),
           synthesis_kwargs=dict(channel_base=128, channel_max=16))
DEEP_PLACEHOLDER = 'DEEP_LIST_GOES_HERE'


def _sg2(**kw):
    from explorer.engine.networks_stylegan2 import Generator
    torch.manual_seed(0)
    return Generator(**dict(SG2, **kw))


def _hostile(base: dict, **changes) -> dict:
    out = json.loads(json.dumps(base))
    for key, value in changes.items():
        where = out
        *parents, last = key.split('.')
        for p in parents:
            where = where[p]
        where[last] = value
    return out


def _deep_list_pickle(depth: int) -> bytes:
    """Pickle opcodes for a list nested ``depth`` deep ([[[...]]]): ``]`` x n then ``a`` x (n-1).
    Built by hand because no pickler can write it (it recurses)."""
    return b']' * depth + b'a' * (depth - 1)


def write_nvidia(path, G_kwargs, deep=0, **extra):
    """An official-layout pickle of a tiny StyleGAN2 whose G_ema claims ``G_ema kwargs``; with
    ``deep``, the string DEEP_PLACEHOLDER inside them becomes a list nested that deep."""
    G = _sg2()
    write_official(path, dict({'G_ema': G}, **extra), init_kwargs={id(G): G_kwargs})
    if deep:
        data = path.read_bytes()
        text = DEEP_PLACEHOLDER.encode()
        marker = b'\x8c' + bytes([len(text)]) + text        # SHORT_BINUNICODE
        assert data.count(marker) == 1
        path.write_bytes(data.replace(marker, _deep_list_pickle(deep)))
    return path


def write_own(path, G_kwargs, key='G_ema'):
    """The project's own format holding a tiny StyleGAN2's tensors under a config of our choosing."""
    record = network_record(_sg2())
    record['init_kwargs'] = G_kwargs
    atomic_torch_save({'format': FORMAT_NAME, 'version': FORMAT_VERSION, 'G_ema': record}, path)
    return path


# Each of these allocated hundreds of GB, divided by zero, spun for a minute or overflowed the stack
# before the checks; now: exit 2 and one line naming the file and the field, within seconds.
CASES = {
    'nv-channels': (lambda p: write_nvidia(p, _hostile(SG2, **{'synthesis_kwargs.channel_base': 2 ** 31,
                                                                'synthesis_kwargs.channel_max': 131072})),
                    'channel_base'),
    'nv-resolution': (lambda p: write_nvidia(p, _hostile(SG2, img_resolution=2 ** 20)), 'img_resolution'),
    'nv-mapping': (lambda p: write_nvidia(p, _hostile(SG2, **{'mapping_kwargs.num_layers': 10 ** 7})),
                   'mapping_kwargs.num_layers'),
    'nv-deep': (lambda p: write_nvidia(p, _hostile(SG2, **{'synthesis_kwargs.resample_filter': DEEP_PLACEHOLDER}),
                                       deep=200_000), 'nested more than'),
    'own-channels': (lambda p: write_own(p, _hostile(SG2, **{'synthesis_kwargs.channel_base': 2 ** 31,
                                                              'synthesis_kwargs.channel_max': 131072})),
                     'channel_base'),
    'own-resolution': (lambda p: write_own(p, _hostile(SG2, img_resolution=2 ** 20)), 'img_resolution'),
    'own-mapping': (lambda p: write_own(p, _hostile(SG2, **{'mapping_kwargs.num_layers': 10 ** 7})),
                    'mapping_kwargs.num_layers'),
    # Within every bound, but 1.4e9 parameters (5 GB): only the meta-device build may see it.
    'own-fits-bounds-not-file': (lambda p: write_own(p, _hostile(SG2, img_resolution=64, **{
        'synthesis_kwargs.channel_base': 1 << 22, 'synthesis_kwargs.channel_max': 4096})), 'missing tensors'),
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_cli_refuses_a_hostile_config_in_one_line(tmp_path, case):
    make, field = CASES[case]
    path = make(tmp_path / f'{case}.pkl')
    start = time.monotonic()
    proc = run_cli(['info', str(path)], timeout=90, mem_bytes=CAP)
    elapsed = time.monotonic() - start
    assert proc.returncode == 2, proc.stderr[-2000:]
    line = one_line_error(proc)
    assert line.startswith('error: ') and str(path) in line and field in line, line
    assert 'alloc' not in line     # refused by the checks, not by the allocator
    assert elapsed < 60


def test_more_families_refused_before_allocating(tmp_path):
    """Discriminator, StyleGAN3, positional init args, rosinality and JSON-text configs, in one
    capped child: each is one CheckpointError naming the file and the reason."""
    from explorer.engine.discriminator import Discriminator
    from explorer.engine.networks_stylegan3 import Generator as SG3
    torch.manual_seed(0)
    G = _sg2()
    d_kw = dict(c_dim=0, img_resolution=16, img_channels=3, channel_base=128, channel_max=16)
    D = Discriminator(**d_kw)
    sg3_kw = dict(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, channel_base=256, channel_max=16,
                  mapping_kwargs=dict(num_layers=2))
    G3 = SG3(**sg3_kw)
    files = {}
    files['d-channels'] = write_official(tmp_path / 'd.pkl', {'G_ema': G, 'D': D}, init_kwargs={
        id(G): SG2, id(D): dict(d_kw, channel_max=1 << 20)}), 'D: ', 'channel_max'
    files['sg3-layers'] = write_official(tmp_path / 'sg3.pkl', {'G_ema': G3}, init_kwargs={
        id(G3): dict(sg3_kw, num_layers=10 ** 6)}), 'G_ema', 'num_layers'
    files['sg3-filter'] = write_official(tmp_path / 'sg3f.pkl', {'G_ema': G3}, init_kwargs={
        id(G3): dict(sg3_kw, filter_size=10 ** 5)}), 'G_ema', 'filter_size'
    files['positional'] = write_official(tmp_path / 'args.pkl', {'G_ema': G}, init_kwargs={id(G): {}},
                                         state_edit=lambda m, st: st.update(_init_args=(8, 0, 8, 2 ** 30, 3))
                                         if m is G else None), 'G_ema', 'img_resolution'
    files['own-json-deep'] = write_own(tmp_path / 'deepjson.pt', '[' * 300_000 + ']' * 300_000), 'config', 'JSON'
    files['own-json-huge'] = write_own(tmp_path / 'hugejson.pt', ' ' * (2 << 20) + '{}'), 'config', 'longer than'
    files['own-type'] = write_own(tmp_path / 'type.pt', _hostile(SG2, w_dim='512')), 'w_dim', 'whole number'
    files['own-zero-channels'] = write_own(tmp_path / 'zero.pt', _hostile(SG2, **{
        'synthesis_kwargs.channel_base': 8})), 'channel_base', 'no channels'
    rosinality = {f'style.{i}.weight': torch.zeros(8, 8) for i in range(1, 3)}
    rosinality.update({'style.1.bias': torch.zeros(8), 'conv1.conv.weight': torch.zeros(1, 4, 4, 3, 3),
                       'to_rgb1.conv.weight': torch.zeros(1, 3, 4, 1, 1)})
    for i in range(14):         # 2 ** (14 + 2) = 65536 pixels a side, from tensors of a few bytes
        rosinality[f'to_rgbs.{i}.conv.weight'] = torch.zeros(1, 3, 4, 1, 1)
        rosinality[f'convs.{2 * i}.conv.weight'] = torch.zeros(1, 4, 4, 3, 3)
    torch.save({'g_ema': rosinality}, tmp_path / 'ros.pt')
    files['rosinality-size'] = tmp_path / 'ros.pt', 'rosinality', 'img_resolution'
    code = f'''
    import json, time
    from explorer.engine.checkpoint import read_checkpoint
    from explorer.errors import CheckpointError
    for name, path in {[(k, str(v[0])) for k, v in files.items()]!r}:
        t = time.monotonic()
        try:
            read_checkpoint(path)
            out = dict(name=name, error=None)
        except CheckpointError as e:
            out = dict(name=name, error=str(e))
        out.update(seconds=time.monotonic() - t, peak_mb=peak_rss_mb())
        print(json.dumps(out), flush=True)
    '''
    proc = run_capped(code, timeout=120, mem_bytes=CAP)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = {r['name']: r for r in map(json.loads, [ln for ln in proc.stdout.splitlines() if ln.startswith('{')])}
    assert sorted(results) == sorted(files)
    for name, (path, *words) in files.items():
        err = results[name]['error']
        assert err is not None and err.startswith(str(path)), (name, err)
        assert all(w in err for w in words), (name, err)
        assert results[name]['seconds'] < 20, results[name]
    assert last_json_line(proc.stdout)['peak_mb'] < 2048


def test_tf_pickle_with_hostile_options_is_refused(tmp_path):
    from nvidia_layout import write_tf
    from test_formats_tf import _sg2 as tf_sg2
    from test_formats_tf import generator_to_tf
    st = generator_to_tf(tf_sg2(), 64)
    st['static_kwargs'].update(resolution=2 ** 20)      # shared by the components' kwargs
    with pytest.raises(CheckpointError, match=r'tf\.pkl: .*img_resolution=1048576'):
        read_checkpoint(write_tf(tmp_path / 'tf.pkl', (st,)))


# ----------------------------------------------------------------------------- the checks themselves

@pytest.mark.parametrize('kind, kwargs, field', [
    ('stylegan2', _hostile(SG2, z_dim=0), 'z_dim'),
    ('stylegan2', _hostile(SG2, img_resolution=48), 'power of two'),
    ('stylegan2', _hostile(SG2, img_resolution=True), 'img_resolution'),
    ('stylegan2', _hostile(SG2, c_dim=10 ** 6), 'c_dim'),
    ('stylegan2', _hostile(SG2, mapping_kwargs=[1]), 'mapping_kwargs must be a dict'),
    ('stylegan2', dict(SG2, synthesis_kwargs=None, channel_max=10 ** 6), 'channel_max'),
    ('stylegan2', _hostile(SG2, **{'synthesis_kwargs.resample_filter': [1] * 1000}), 'resample_filter'),
    ('stylegan3', dict(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, first_cutoff=float('nan')),
     'first_cutoff'),
    ('stylegan1', dict(z_dim=8, w_dim=8, img_resolution=16, channels=[4, 4, 10 ** 6]), 'channels[2]'),
    ('stylegan1', dict(z_dim=8, w_dim=8, img_resolution=16, mapping_layers=-1), 'mapping_layers'),
    ('discriminator', dict(c_dim=0, img_resolution=16, img_channels=3,
                           epilogue_kwargs=dict(mbstd_num_channels=10 ** 9)), 'epilogue_kwargs.mbstd_num_channels'),
])
def test_config_bounds_name_the_field(kind, kwargs, field):
    with pytest.raises(net_check.ConfigError, match=field.replace('[', r'\[').replace(']', r'\]')):
        net_check.check_config(kind, kwargs)


def test_nesting_is_bounded_without_recursion():
    deep = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(net_check.ConfigError, match='nested more than'):
        net_check.check_nesting(deep)
    loop = []
    loop.append(loop)           # a pickle can build a list that holds itself
    with pytest.raises(net_check.ConfigError, match='more than'):
        net_check.check_nesting(loop)
    net_check.check_nesting(SG2)


@pytest.mark.parametrize('kind, kwargs', [
    ('stylegan2', dict(SG2, synthesis_kwargs=dict(channel_base=128, channel_max=16, architecture='resnet'))),
    ('stylegan3', dict(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, channel_base=256,
                       channel_max=16, conv_kernel=1, use_radial_filters=True)),
    ('stylegan1', dict(z_dim=8, w_dim=8, img_resolution=16, fmap_base=64, fmap_max=16)),
    ('discriminator', dict(c_dim=4, img_resolution=16, img_channels=3, channel_base=128, channel_max=16)),
])
def test_meta_build_has_the_real_names_and_shapes(kind, kwargs):
    """What ``verify`` sees on the meta device is exactly what the real build holds (filters too)."""
    seen = {}

    def verify(meta):
        assert all(t.device.type in ('meta', 'cpu') for t in meta.parameters())
        assert any(t.device.type == 'meta' for t in meta.parameters())
        seen.update({k: tuple(v.shape) for k, v in meta.state_dict().items()})

    real = net_check.build_checked(kind, kwargs, verify=verify)
    assert seen == {k: tuple(v.shape) for k, v in real.state_dict().items()}
    assert all(t.device.type == 'cpu' for t in real.state_dict().values())


def test_verify_refusal_means_no_real_build(monkeypatch):
    """A file whose tensors do not fit its config is refused before the real constructor runs."""
    from explorer.engine import networks_stylegan2
    real_init = networks_stylegan2.Generator.__init__
    calls = []

    def counting_init(self, *a, **kw):
        calls.append(torch.get_default_device().type)
        real_init(self, *a, **kw)

    monkeypatch.setattr(networks_stylegan2.Generator, '__init__', counting_init)
    state = {k: v for k, v in _sg2().state_dict().items()}
    calls.clear()
    from explorer.engine.state import check_state
    with pytest.raises(CheckpointError, match='shape mismatch'):
        net_check.build_checked('stylegan2', _hostile(SG2, w_dim=16), path='x.pt',
                                verify=lambda meta: check_state(meta.state_dict(), state, 'x.pt'))
    assert calls == ['meta']


def test_unknown_kwarg_and_family_are_one_error(tmp_path):
    with pytest.raises(CheckpointError, match=r'own\.pt: .*unexpected keyword argument'):
        read_checkpoint(write_own(tmp_path / 'own.pt', dict(SG2, fancy=1)))
    record = network_record(_sg2())
    record['class'] = 'stylegan9'
    atomic_torch_save({'format': FORMAT_NAME, 'version': FORMAT_VERSION, 'G_ema': record}, tmp_path / 'fam.pt')
    with pytest.raises(CheckpointError, match=r'fam\.pt: .*stylegan9'):
        read_checkpoint(tmp_path / 'fam.pt')
