"""Sliced Wasserstein distance on Laplacian-pyramid patches, and `main.py metrics`."""

import json
import math

import pytest
import torch

from explorer.training.metrics import collapse_laplacian_pyramid, laplacian_pyramid, sliced_wasserstein, swd
from explorer.training.synthetic import SyntheticPortraits

FAST = dict(patches_per_image=32, repeats=2, dirs_per_repeat=64)   # small but stable settings for tests


@pytest.fixture(scope='module', autouse=True)
def _one_torch_thread():
    """Small tensor ops run much faster on one thread on a busy 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope='module')
def real_sets():
    """Two disjoint sets of 48 synthetic portraits at 64x64 (uint8 [N, 3, 64, 64])."""
    return SyntheticPortraits(64, seed=0).batch(0, 48), SyntheticPortraits(64, seed=1).batch(0, 48)


def _box_blur(x, times):
    x = x.float()
    k = torch.ones(3, 1, 3, 3) / 9.0
    for _ in range(times):
        x = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (1, 1, 1, 1), mode='replicate'), k, groups=3)
    return x


def test_pyramid_shapes_and_exact_reconstruction():
    x = torch.rand(2, 3, 64, 64) * 255
    levels = laplacian_pyramid(x)
    assert [tuple(lv.shape) for lv in levels] == [(2, 3, 64, 64), (2, 3, 32, 32), (2, 3, 16, 16)]
    torch.testing.assert_close(collapse_laplacian_pyramid(levels), x, atol=1e-3, rtol=0)
    # Band-pass levels of a constant image are zero; the low-pass level keeps the constant.
    flat = laplacian_pyramid(torch.full((1, 3, 32, 32), 100, dtype=torch.uint8))
    assert flat[0].abs().max() < 1e-4
    torch.testing.assert_close(flat[-1], torch.full((1, 3, 16, 16), 100.0))
    with pytest.raises(ValueError):
        laplacian_pyramid(torch.zeros(1, 3, 48, 48))


def test_sliced_wasserstein_matches_closed_form():
    g = torch.Generator().manual_seed(0)
    d, mu = 16, 2.0
    a = torch.randn(4000, d, generator=g)
    b = torch.randn(3000, d, generator=g)                   # different sizes are fine
    b[:, 0] += mu
    # W1 between N(0, 1) and N(mu * t, 1) along direction t is |mu * t|;
    # averaged over random unit directions in d dims: mu * E|t_1| ~ mu * sqrt(2 / (pi * d)).
    expected = mu * math.gamma(d / 2) / (math.sqrt(math.pi) * math.gamma((d + 1) / 2))
    got = sliced_wasserstein(a, b, repeats=4, dirs_per_repeat=256)
    assert abs(got - expected) < 0.12 * expected
    assert sliced_wasserstein(a, a) == 0.0
    assert sliced_wasserstein(a, b) == sliced_wasserstein(a, b)   # seeded projections


def test_swd_is_zero_for_identical_sets(real_sets):
    real, _ = real_sets
    out = swd(real, real.clone(), **FAST)
    assert set(out) == {64, 32, 16, 'avg'}
    assert all(v == 0.0 for v in out.values())
    # uint8 and float inputs of the same values agree; so does a rescaled copy (descriptors are normalised).
    a = swd(real, real_sets[1], **FAST)
    b = swd(real.float(), real_sets[1].float(), **FAST)
    c = swd(real.float() / 127.5 - 1, real_sets[1].float() / 127.5 - 1, **FAST)
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-4)
        assert a[k] == pytest.approx(c[k], rel=1e-3)


def test_swd_grows_with_blur_and_noise(real_sets):
    real, other = real_sets
    floor = swd(real, other, **FAST)
    blurred = [swd(real, _box_blur(other, k), **FAST) for k in (1, 2, 4)]
    assert floor['avg'] < blurred[0]['avg'] < blurred[1]['avg'] < blurred[2]['avg']
    # Blur removes fine detail: the finest level sees it most.
    assert blurred[0][64] > 1.3 * floor[64] and blurred[2][64] > 2 * floor[64]
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(other.shape, generator=g)
    noisy = [swd(real, (other.float() + s * noise).clamp(0, 255), **FAST) for s in (4, 16, 48)]
    assert floor['avg'] < noisy[0]['avg'] < noisy[1]['avg'] < noisy[2]['avg']
    assert noisy[2][64] > 2 * floor[64]


def test_joint_normalisation_sees_brightness_shifts(real_sets):
    real, other = real_sets
    vals = [swd(real, (other.float() + s).clamp(0, 255), joint=True, **FAST)['avg'] for s in (0, 20, 60)]
    assert vals[0] < vals[1] < vals[2]
    assert vals[2] > 4 * vals[0]


def test_swd_rejects_mismatched_inputs():
    with pytest.raises(ValueError):
        swd(torch.zeros(2, 3, 32, 32), torch.zeros(2, 3, 64, 64))
    with pytest.raises(ValueError):
        swd(torch.zeros(2, 32, 32), torch.zeros(2, 32, 32))


# ---------------------------------------------------------------------------- CLI

def _run(argv, capsys):
    from explorer.cli import main
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture
def tiny_checkpoint(tiny_G, tmp_path):
    from explorer.engine.checkpoint import save_generator
    return str(save_generator(tiny_G, tmp_path / 'tiny.pt'))


def test_cli_metrics_synthetic(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / 'swd.json'
    rc, stdout, err = _run(['metrics', '--checkpoint', tiny_checkpoint, '--num', '16', '--resolution', '32',
                            '--json', str(out)], capsys)
    assert rc == 0, err
    assert 'swd_32x32' in stdout and 'swd_16x16' in stdout and 'swd_avg' in stdout
    rec = json.loads(out.read_text())
    assert rec['resolution'] == 32 and rec['num'] == 16 and set(rec['swd']) == {'32', '16', 'avg'}
    assert rec['swd']['avg'] > 0


def test_cli_metrics_real_vs_real_and_folder(tmp_path, capsys):
    from PIL import Image
    folder = tmp_path / 'imgs'
    (folder / 'sub').mkdir(parents=True)
    ds = SyntheticPortraits(32, seed=3)
    for i in range(12):
        Image.fromarray(ds.image(i)).save(folder / ('sub' if i % 2 else '') / f'{i}.png')
    rc, stdout, err = _run(['metrics', '--real-vs-real', '--data', str(folder), '--num', '6',
                            '--resolution', '32'], capsys)
    assert rc == 0, err
    values = dict(line.split('\t') for line in stdout.strip().splitlines())
    assert float(values['swd_avg']) > 0
    rc, _, err = _run(['metrics', '--real-vs-real', '--data', str(folder), '--num', '7', '--resolution', '32'],
                      capsys)
    assert rc == 2 and 'need 14' in err


@pytest.mark.parametrize('argv, message', [
    (['--data', '/no/such/folder'], 'no such'),
    (['--resolution', '48'], 'power of two'),
])
def test_cli_metrics_bad_input(argv, message, capsys):
    rc, _, err = _run(['metrics', '--real-vs-real', '--num', '4'] + argv, capsys)
    assert rc == 2
    assert message in err and len(err.strip().splitlines()) == 1
