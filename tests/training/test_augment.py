"""ADA augmentation pipe: exactness of the blit ops, resampling geometry, colour statistics,
gradients, and the ADA controller raising p when D overfits a tiny dataset."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from explorer.training.augment import PRESETS, AugmentPipe, _eye, _rotate2d, _translate2d

ALL_OPS = ('xflip', 'rotate90', 'xint', 'scale', 'rotate', 'aniso', 'xfrac',
           'brightness', 'contrast', 'lumaflip', 'hue', 'saturation')


def only(name, p=1.0, **kw):
    pipe = AugmentPipe(preset=None, **{name: 1}, **kw)
    pipe.p.fill_(p)
    return pipe


def smooth_images(n=2, c=3, h=32, w=32):
    yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing='ij')
    chans = [torch.sin(xx / 5) + torch.cos(yy / 7), torch.sin((xx + yy) / 6), torch.cos(xx / 4) * 0.5]
    img = torch.stack(chans[:c])[None]
    return img.repeat(n, 1, 1, 1) * torch.linspace(0.5, 1, n)[:, None, None, None]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_p_zero_is_identity_bit_exact():
    x = torch.randn(6, 3, 16, 16)
    pipe = AugmentPipe('bgc')
    assert float(pipe.p) == 0
    y = pipe(x)
    assert torch.equal(y, x)
    pipe.p.fill_(1)
    assert not torch.equal(pipe(x), x)


def test_no_multipliers_is_identity_at_p_one():
    x = torch.randn(4, 3, 8, 8)
    pipe = AugmentPipe(preset=None, p=1.0)
    assert torch.equal(pipe(x), x)


def test_presets_and_overrides():
    assert set(PRESETS['bgc']) == set(ALL_OPS)
    pipe = AugmentPipe('bgc', hue=0, xint_max=0.25)
    assert pipe.hue == 0 and pipe.xflip == 1 and pipe.xint_max == 0.25
    assert AugmentPipe('blit').brightness == 0
    with pytest.raises(ValueError):
        AugmentPipe('nope')
    # The registered buffer travels with the state dict (snapshots store p).
    assert 'p' in AugmentPipe().state_dict()


@pytest.mark.parametrize('name', ALL_OPS)
def test_each_op_changes_images_at_p_one(name):
    x = torch.randn(16, 3, 16, 16)
    y = only(name)(x)
    assert y.shape == x.shape
    changed = (y - x).flatten(1).abs().amax(dim=1) > 1e-4
    assert changed.sum() >= 4, f'{name} changed only {int(changed.sum())} of 16 samples'


def test_unchosen_samples_are_untouched():
    x = torch.randn(64, 3, 8, 8)
    y = AugmentPipe('bgc', p=0.1)(x)
    same = (y == x).flatten(1).all(dim=1)
    # Probability that a sample draws none of the 12 ops is (1 - 0.1) ** 12 ~ 0.28 (less for the
    # 50%-no-op draws), so some must be bit-identical and most must be changed.
    assert 4 <= int(same.sum()) < 64


def test_xflip_is_exact():
    x = torch.randn(32, 3, 8, 8)
    y = only('xflip')(x)
    flipped = [torch.equal(y[i], x[i].flip(2)) for i in range(32)]
    kept = [torch.equal(y[i], x[i]) for i in range(32)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert any(flipped) and any(kept)


def test_rotate90_is_exact():
    x = torch.randn(32, 3, 8, 8)
    y = only('rotate90')(x)
    seen = set()
    for i in range(32):
        match = [k for k in range(4) if torch.equal(y[i], torch.rot90(x[i], k, dims=(1, 2)))]
        assert match, f'sample {i} is not a 90-degree rotation'
        seen.add(match[0])
    assert seen == {0, 1, 2, 3}


def test_integer_translation_is_exact_shift():
    x = torch.randn(16, 3, 16, 16)
    y = only('xint', xint_max=0.25)(x)
    shifted = 0
    for i in range(16):
        found = False
        for ty in range(-4, 5):
            for tx in range(-4, 5):
                ref = torch.roll(x[i], (ty, tx), dims=(1, 2))
                if torch.equal(y[i, :, 4:-4, 4:-4], ref[:, 4:-4, 4:-4]):
                    found = True
                    shifted += (tx, ty) != (0, 0)
                    break
            if found:
                break
        assert found, f'sample {i} is not an integer translation'
    assert shifted >= 8


def test_resample_geometry_matches_exact_ops():
    """The band-limited general path agrees with exact ops on smooth images."""
    pipe = AugmentPipe()
    img = smooth_images()
    ident = pipe.resample(img, _eye(2, 3, torch.zeros(2)))
    assert (ident - img)[..., 4:-4, 4:-4].abs().max() < 5e-3
    assert (ident - img).abs().max() < 0.1
    rot = pipe.resample(img, _rotate2d(torch.full([2], math.pi / 2)))
    assert (rot - torch.rot90(img, 1, dims=(2, 3))).abs().max() < 0.1
    # out(X) = in(G_inv X): G_inv = translate(-1, 0) moves the content one pixel right.
    moved = pipe.resample(img, _translate2d(torch.full([2], -1.0), torch.zeros(2)))
    assert (moved - torch.roll(img, 1, dims=3))[..., 4:-4, 4:-4].abs().max() < 5e-3
    # Constants stay constant under any transform (reflect padding, unit-DC filters).
    const = torch.full([1, 3, 8, 8], 0.7)
    out = pipe.resample(const, _rotate2d(torch.tensor([0.3])) @ _translate2d(torch.tensor([0.4]), torch.tensor([2.0])))
    assert (out - 0.7).abs().max() < 1e-5


def test_shapes_channels_and_batches():
    for shape in [(1, 3, 8, 8), (5, 3, 16, 16), (3, 1, 16, 16), (2, 3, 8, 16)]:
        x = torch.randn(shape)
        y = AugmentPipe('bgc', p=0.8)(x)
        assert y.shape == x.shape and torch.isfinite(y).all()
    with pytest.raises(ValueError):
        AugmentPipe('color', p=1.0)(torch.randn(2, 2, 8, 8))


def test_gradients_flow_including_double_backward():
    pipe = AugmentPipe('bgc', p=1.0)
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    w = torch.randn(3, 16, 16)
    y = pipe(x)
    (g,) = torch.autograd.grad((y * w).sum(), x, create_graph=True)
    assert torch.isfinite(g).all() and g.abs().sum() > 0
    # R1 differentiates the input gradient again: make sure that path exists.
    scale = torch.ones([], requires_grad=True)
    (g2,) = torch.autograd.grad(((g * scale) ** 2).sum(), scale)
    assert torch.isfinite(g2) and g2 > 0


def test_brightness_and_contrast_statistics():
    x = torch.rand(512, 3, 4, 4) * 0.2 - 0.1
    pipe = only('brightness')
    shift = (pipe(x) - x).mean(dim=(1, 2, 3))
    assert abs(float(shift.std()) - pipe.brightness_std) < 0.03
    assert abs(float(shift.mean())) < 0.03
    pipe = only('contrast')
    ratio = torch.log2(pipe(x).std(dim=(1, 2, 3)) / x.std(dim=(1, 2, 3)))
    assert abs(float(ratio.std()) - pipe.contrast_std) < 0.07


def test_color_ops_preserve_what_they_should():
    x = torch.rand(64, 3, 4, 4)
    luma = lambda t: t.mean(dim=1)  # noqa: E731 -- projection on the (1,1,1) axis
    # Hue rotation about the luma axis keeps luma and the distance from the grey axis.
    y = only('hue')(x)
    assert torch.allclose(luma(y), luma(x), atol=1e-5)
    chroma = lambda t: (t - luma(t)[:, None]).norm(dim=1)  # noqa: E731
    assert torch.allclose(chroma(y), chroma(x), atol=1e-5)
    assert not torch.allclose(y, x, atol=1e-3)
    # Saturation scales chroma only; luma flip negates luma only.
    y = only('saturation')(x)
    assert torch.allclose(luma(y), luma(x), atol=1e-5)
    y = only('lumaflip')(x)
    flipped = ~torch.isclose(luma(y), luma(x), atol=1e-5).flatten(1).all(dim=1)
    assert torch.allclose(luma(y)[flipped], -luma(x)[flipped], atol=1e-5)
    assert torch.allclose(chroma(y), chroma(x), atol=1e-5)


def test_probability_scales_with_p_and_identity_stays_the_mode():
    """Non-leaking: at p < 1 the un-augmented image stays the most likely outcome."""
    x = torch.randn(2000, 1, 2, 2)
    pipe = only('rotate90', p=0.5)
    y = pipe(x)
    counts = [0] * 4
    for k in range(4):
        counts[k] = int((y == torch.rot90(x, k, dims=(2, 3))).flatten(1).all(dim=1).sum())
    # P(k = 0) = 1 - 0.5 * 3/4 = 0.625; each other rotation 0.125.
    assert abs(counts[0] / 2000 - 0.625) < 0.05
    assert counts[0] > 3 * max(counts[1:])
    pipe = only('brightness', p=0.3)
    changed = ((pipe(x) - x).flatten(1).abs().amax(dim=1) > 0).float().mean()
    assert abs(float(changed) - 0.3) < 0.05


@pytest.fixture
def one_thread():
    """Tiny networks run fastest single-threaded (and the CI box has two shared cores)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _tiny_folder(path, n=8, res=16):
    from PIL import Image
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(0)
    for i in range(n):
        a = (rng.rand(4, 4, 3) * 255).astype(np.uint8)
        Image.fromarray(a).resize((res, res), Image.BILINEAR).save(path / f'{i}.png')
    return path


def test_ada_p_rises_when_d_overfits_tiny_dataset(tmp_path, one_thread):
    """8 images, a fast D and a nearly frozen G: D memorises the reals, E[sign(D(real))]
    exceeds the 0.6 target and the loop must raise the augmentation probability."""
    from explorer.training.dataset import open_dataset
    from explorer.training.loop import Trainer, TrainingConfig

    data = _tiny_folder(tmp_path / 'data')
    cfg = TrainingConfig(
        data=str(data), resolution=16, batch=8, kimg=0.384, z_dim=16, w_dim=16, mapping_layers=1,
        channel_base=128, channel_max=16, num_fp16_res=0, pl_weight=0, style_mixing_prob=0,
        d_lr=0.01, g_lr=0.0001, augment=True, augment_p=0.0, ada_target=0.6, ada_interval=4, ada_kimg=0.5,
        tick_kimg=0.064, tick_seconds=1e9, snapshot_kimg=1e9, snapshot_minutes=None)
    trainer = Trainer(cfg, open_dataset(str(data), resolution=16), tmp_path / 'run', device='cpu')
    assert isinstance(trainer.augment_pipe, AugmentPipe)
    ps = [info['augment_p'] for info in trainer.run()]
    step = cfg.batch * cfg.ada_interval / (cfg.ada_kimg * 1000)
    assert ps[-1] > 0
    assert ps[-1] > ps[0]
    assert max(ps) >= 3 * step - 1e-6
    assert ps[-1] == pytest.approx(float(trainer.augment_pipe.p))
