"""Procedural portraits: determinism, factor locality, detail seeds, dataset shapes."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from explorer.training.synthetic import (
    HAIR_STYLES,
    PortraitFactors,
    SyntheticPortraits,
    face_layout,
    render_portrait,
    sample_factors,
)

RES = 128


def _changed(a, b):
    """Bool [H, W]: pixels where any channel differs."""
    return np.any(a != b, axis=-1)


def _factors(seed, **changes):
    return dataclasses.replace(sample_factors(seed), **changes)


def _dilate(mask, r=1):
    out = mask.copy()
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out |= np.roll(np.roll(mask, dy, axis=0), dx, axis=1)
    return out


def test_deterministic_per_seed():
    f1, f2 = sample_factors(7), sample_factors(7)
    assert f1 == f2
    assert sample_factors(8) != f1
    a = render_portrait(f1, RES, detail_seed=3)
    b = render_portrait(f2, RES, detail_seed=3)
    assert a.dtype == np.uint8 and a.shape == (RES, RES, 3)
    np.testing.assert_array_equal(a, b)
    ds1, ds2 = SyntheticPortraits(64, seed=5), SyntheticPortraits(64, seed=5)
    np.testing.assert_array_equal(ds1[3][0], ds2[3][0])
    assert ds1.factors(3) == ds2.factors(3)
    assert not np.array_equal(ds1[3][0], ds1[4][0])
    assert not np.array_equal(ds1[3][0], SyntheticPortraits(64, seed=6)[3][0])


def test_factors_are_json_and_varied():
    fs = [sample_factors(s) for s in range(200)]
    json.loads(json.dumps(dataclasses.asdict(fs[0])))      # JSON-able
    assert isinstance(fs[0], PortraitFactors)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fs[0].yaw = 0.0
    assert {f.hair_style for f in fs} == set(HAIR_STYLES)
    assert {f.glasses for f in fs} == {True, False}
    for name in ('yaw', 'pitch', 'roll', 'face_width', 'jaw', 'light_azimuth', 'smile', 'eye_size'):
        values = np.array([getattr(f, name) for f in fs])
        assert values.std() > 0.05, name
    skins = np.array([f.skin_color for f in fs])
    assert skins.mean(axis=1).max() - skins.mean(axis=1).min() > 0.4    # light to dark skin tones


@pytest.mark.parametrize('seed', [0, 3, 11])
def test_glasses_change_only_a_band_around_the_eyes(seed):
    f = _factors(seed, roll=0.15 * (seed % 3 - 1), glasses_shape='round' if seed % 2 else 'square')
    on = render_portrait(dataclasses.replace(f, glasses=True), RES)
    off = render_portrait(dataclasses.replace(f, glasses=False), RES)
    diff = _changed(on, off)
    lay = face_layout(f, RES)
    (x0, y0), (x1, y1) = lay['eyes']
    assert math.isclose(math.atan2(y1 - y0, x1 - x0), f.roll, abs_tol=1e-6)
    # Distance of each pixel centre from the line through both eye centres.
    yy, xx = np.mgrid[0:RES, 0:RES].astype(np.float64)
    nx, ny = -math.sin(f.roll), math.cos(f.roll)
    dist = np.abs((xx - x0) * nx + (yy - y0) * ny)
    band = dist <= lay['glasses_extent'] + 1.5
    assert diff.sum() > 100                                  # glasses are clearly visible...
    assert not np.any(diff & ~band)                          # ...and only near the eyes
    for (ex, ey) in lay['eyes']:                             # frames around both eyes
        near = (xx - ex) ** 2 + (yy - ey) ** 2 <= (1.2 * lay['glasses_extent']) ** 2
        assert (diff & near).sum() > 20


@pytest.mark.parametrize('style', ['short', 'long', 'bob', 'curly', 'ponytail', 'bun'])
def test_hair_colour_changes_only_the_hair(style):
    f = _factors(21, hair_style=style, glasses=False, hair_color=(0.2, 0.12, 0.06))
    base = render_portrait(f, RES)
    recoloured = render_portrait(dataclasses.replace(f, hair_color=(0.9, 0.3, 0.1)), RES)
    bald = render_portrait(dataclasses.replace(f, hair_style='bald'), RES)
    hair_region = _dilate(_changed(base, bald))              # wherever having hair shows at all
    diff = _changed(base, recoloured)
    assert diff.sum() > 0.05 * RES * RES
    assert not np.any(diff & ~hair_region)
    # The face interior between the eyes and the mouth is untouched.
    lay = face_layout(f, RES)
    (x0, y0), (x1, y1) = lay['eyes']
    cy = int(round((y0 + y1) / 2 + 0.6 * lay['head_axes'][1]))
    cx = int(round((x0 + x1) / 2))
    assert not diff[cy - 4:cy + 4, cx - 4:cx + 4].any()


def test_hair_colour_does_nothing_when_bald():
    f = _factors(4, hair_style='bald')
    a = render_portrait(f, RES)
    b = render_portrait(dataclasses.replace(f, hair_color=(0.9, 0.1, 0.9)), RES)
    np.testing.assert_array_equal(a, b)


def test_eye_colour_changes_only_the_eyes():
    f = _factors(2, glasses=False, eye_color=(0.3, 0.17, 0.08), gaze_x=0.0)
    a = render_portrait(f, RES)
    b = render_portrait(dataclasses.replace(f, eye_color=(0.2, 0.5, 0.9)), RES)
    diff = _changed(a, b)
    lay = face_layout(f, RES)
    yy, xx = np.mgrid[0:RES, 0:RES]
    near = np.zeros_like(diff)
    for (ex, ey) in lay['eyes']:
        near |= (xx - ex) ** 2 + (yy - ey) ** 2 <= (lay['glasses_extent'] + 1.5) ** 2
        assert (diff & ((xx - ex) ** 2 + (yy - ey) ** 2 <= lay['glasses_extent'] ** 2)).sum() >= 3
    assert not np.any(diff & ~near)


def test_detail_seed_changes_only_fine_texture():
    f = _factors(9, freckles=0.8, skin_texture=1.0, hair_style='long', hair_texture=1.0,
                 hair_color=(0.95, 0.85, 0.6))
    a = render_portrait(f, RES, detail_seed=1).astype(np.float64)
    b = render_portrait(f, RES, detail_seed=2).astype(np.float64)
    d = a - b
    assert np.abs(d).mean() > 0.3                            # texture really differs...
    assert np.abs(d).mean() < 6.0                            # ...with a small amplitude
    blocks = lambda x: x.reshape(RES // 8, 8, RES // 8, 8, 3).mean(axis=(1, 3))  # noqa: E731
    rms = lambda x: np.sqrt(np.mean(x ** 2))                 # noqa: E731
    # Coarse structure is the same: 8x8 block means barely move, the difference is high-frequency.
    assert np.abs(blocks(d)).max() < 20.0
    assert rms(blocks(d)) < 0.35 * rms(d)
    # A factor change is much larger than a texture change.
    c = render_portrait(dataclasses.replace(f, yaw=f.yaw + 0.4), RES, detail_seed=1).astype(np.float64)
    assert np.abs(blocks(a) - blocks(c)).max() > 40.0
    # Freckle positions come from the detail seed; without freckles and texture nothing changes.
    plain = dataclasses.replace(f, freckles=0.0, skin_texture=0.0, hair_style='bald')
    e = render_portrait(plain, RES, detail_seed=1).astype(np.float64)
    g = render_portrait(plain, RES, detail_seed=2).astype(np.float64)
    assert np.abs(e - g).max() <= 1.0


def test_light_direction_shades_the_face():
    f = _factors(1, yaw=0.0, roll=0.0, light_elevation=0.2, light_intensity=0.8, ambient=0.3, glasses=False)
    lay = face_layout(f, RES)
    cx, cy = (int(round(v)) for v in lay['head_center'])
    w = int(0.55 * lay['head_axes'][0])

    def halves(az):
        img = render_portrait(dataclasses.replace(f, light_azimuth=az), RES).astype(np.float64).mean(-1)
        return img[cy:cy + 10, cx - w:cx - w + 8].mean(), img[cy:cy + 10, cx + w - 8:cx + w].mean()

    left, right = halves(-1.0)
    assert left > right + 15                                  # lit from the left
    left, right = halves(1.0)
    assert right > left + 15                                  # lit from the right


def test_pose_moves_features_coherently():
    f = _factors(5, yaw=0.0, pitch=0.0, roll=0.0)
    e0 = face_layout(f, RES)['eyes']
    e_yaw = face_layout(dataclasses.replace(f, yaw=0.4), RES)['eyes']
    e_pitch = face_layout(dataclasses.replace(f, pitch=0.2), RES)['eyes']
    assert all(b[0] > a[0] + 2 for a, b in zip(e0, e_yaw))    # turning shifts both eyes sideways
    assert (e_yaw[1][0] - e_yaw[0][0]) < (e0[1][0] - e0[0][0])  # and foreshortens their spacing
    assert all(b[1] > a[1] + 2 for a, b in zip(e0, e_pitch))  # looking down moves them down
    a = render_portrait(f, RES)
    b = render_portrait(dataclasses.replace(f, yaw=0.4), RES)
    assert _changed(a, b).mean() > 0.05


def test_dataset_shapes_dtypes_and_ranges():
    ds = SyntheticPortraits(resolution=64, seed=0, length=10)
    assert len(ds) == 10 and ds.image_shape == [3, 64, 64]
    img, label = ds[0]
    assert img.shape == (3, 64, 64) and img.dtype == np.uint8 and img.flags['C_CONTIGUOUS']
    assert label.shape == (0,) and label.dtype == np.float32
    with pytest.raises(IndexError):
        ds[10]
    np.testing.assert_array_equal(ds[-1][0], ds[9][0])
    batch = ds.batch(2, 4)
    assert batch.dtype == torch.uint8 and tuple(batch.shape) == (4, 3, 64, 64)
    np.testing.assert_array_equal(batch[1].numpy(), ds[3][0])
    assert int(batch.min()) < 60 and int(batch.max()) > 180    # uses the range
    assert len(SyntheticPortraits()) == SyntheticPortraits.default_length


@pytest.mark.parametrize('res', [32, 256])
def test_other_resolutions(res):
    f = sample_factors(3)
    img = render_portrait(f, res)
    assert img.shape == (res, res, 3)
    ref = render_portrait(f, 128).astype(np.float64)
    # Same picture at another scale: compare at 32x32 by area averaging.
    small = lambda x, k: x.reshape(32, k, 32, k, 3).mean(axis=(1, 3))  # noqa: E731
    assert np.abs(small(img.astype(np.float64), res // 32) - small(ref, 4)).mean() < 4.0


def test_tiny_resolution_for_quick_training_tests():
    img = render_portrait(sample_factors(0), 16)
    assert img.shape == (16, 16, 3) and img.std() > 10


@pytest.mark.parametrize('res', [0, 2, 48, 100])
def test_bad_resolution(res):
    with pytest.raises(ValueError):
        render_portrait(sample_factors(0), res)
    with pytest.raises(ValueError):
        SyntheticPortraits(resolution=res)
