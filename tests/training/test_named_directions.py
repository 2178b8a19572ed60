"""Named directions shipped with the default model, and the attribute regressor behind them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import explorer
from explorer.engine import directions as D
from explorer.engine.checkpoint import default_checkpoint_path, sha256_file
from explorer.engine.latents import compute_ws
from explorer.errors import UserError
from explorer.training import attributes as A

CKPT = default_checkpoint_path()
SEEDS = list(range(8))

# Per shipped direction, measured by docs/make_named_directions.py on seeds 0-7 at psi 1,
# amounts -3..+3 std (see checkpoints/README.md, "Named directions"): the ratio of the mean
# |change| of the direction's own factor to the mean |change| of the other nine factors the
# regressor reads, the share of the 8 images whose prediction never drops by more than 0.05
# between neighbouring amounts, and the largest drop of the mean prediction (0 = monotone).
# The thresholds below sit under (or, for the drop, over) the measured values with a margin.
# name: (measured ratio, asserted ratio, measured monotone share, asserted share, measured drop, allowed drop)
EXPECTED = {
    'yaw': (4.53, 3.5, 0.75, 0.5, 0.0, 0.02),
    'pitch': (4.15, 3.0, 0.75, 0.5, 0.0, 0.02),
    'glasses': (2.18, 1.7, 1.0, 0.75, 0.0, 0.02),
    'skin tone': (4.97, 4.0, 1.0, 0.75, 0.0, 0.02),
    'hair colour': (2.22, 1.8, 0.75, 0.5, 0.0, 0.02),
    'light': (5.23, 4.0, 1.0, 0.75, 0.0, 0.02),
}


@pytest.fixture(scope='module')
def G():
    return explorer.load_generator(None)


@pytest.fixture(scope='module')
def regressor():
    return A.AttributeModel.load(A.default_attributes_path(CKPT))


@pytest.fixture(scope='module')
def shipped():
    path = D.default_directions_path(CKPT)
    assert path is not None, 'no named directions beside the default model'
    return D.DirectionSet.load(path)


def test_default_directions_path(tmp_path):
    ckpt = tmp_path / 'model.pt'
    ckpt.write_bytes(b'')
    assert D.default_directions_path(ckpt) is None
    assert D.default_directions_path(None) is None
    side = tmp_path / 'model_directions.npz'
    side.write_bytes(b'')
    assert D.default_directions_path(ckpt) == side
    assert D.default_directions_path(CKPT) == CKPT.with_name('portraits64_directions.npz')


def test_shipped_set_matches_default_model(G, shipped):
    assert shipped.method == 'named'
    assert shipped.w_dim == G.w_dim and shipped.num_ws == G.num_ws
    assert shipped.checkpoint_sha256 == sha256_file(CKPT)
    assert shipped.check_compatible(G, sha256_file(CKPT)) == ''
    assert set(shipped.names) == set(EXPECTED)
    assert shipped.std is not None and np.isfinite(shipped.std).all() and (shipped.std > 0).all()
    assert len(shipped.layer_ranges) == len(shipped)
    for k in range(len(shipped)):
        rows = shipped.layers_of(k)
        assert rows and all(0 <= i < G.num_ws for i in rows)
        assert abs(np.linalg.norm(shipped.vector(k)) - 1) < 1e-5


def test_shipped_files_are_small():
    for path in (CKPT.with_name('portraits64_directions.npz'), A.default_attributes_path(CKPT)):
        assert path.stat().st_size < 2 << 20


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_named_direction_moves_its_factor(G, regressor, shipped, name):
    k = shipped.names.index(name)
    ws = compute_ws(G, SEEDS, 1.0)
    pred = A.sweep_predictions(G, regressor, ws, shipped.vector(k), float(shipped.std[k]), shipped.layers_of(k))
    e = A.edit_effect(pred, regressor.names, name)
    _, min_ratio, _, min_monotone, _, max_drop = EXPECTED[name]
    assert e.mean_violation <= max_drop, f'{name}: mean prediction not monotone over -3..+3: {e.mean_curve}'
    assert e.mean_curve[-1] - e.mean_curve[0] > 0.8, f'{name}: -3 -> +3 moves its factor little: {e.mean_curve}'
    assert e.monotone_fraction >= min_monotone, f'{name}: {e.monotone_fraction:.2f} of images monotone'
    assert e.ratio >= min_ratio, f'{name}: ratio {e.ratio:.2f} (others {dict(zip(e.names, e.change.round(3)))})'
    assert e.target_change > 0.15, f'{name}: the edit barely moves its factor ({e.target_change:.3f})'


def test_shipped_regressor_reads_held_out_portraits(regressor):
    """The shipped regressor on 96 portraits of a seed it never saw (dataset seed 7)."""
    images, labels = A.portrait_set(96, seed=7)
    quality = A.evaluate(regressor, images, labels)
    assert quality['yaw']['value'] > 0.8
    assert quality['skin tone']['value'] > 0.8
    assert quality['glasses']['value'] > 0.85
    assert quality['hair length']['value'] > 0.7
    assert quality['light']['value'] > 0.8


def test_portrait_set_and_labels():
    images, labels = A.portrait_set(3, seed=5)
    assert images.shape == (3, 3, 64, 64) and images.dtype == torch.uint8
    assert labels.shape == (3, len(A.FACTOR_NAMES))
    from explorer.training.synthetic import SyntheticPortraits
    ds = SyntheticPortraits(64, seed=5)
    f = ds.factors(2)
    assert labels[2, A.FACTOR_NAMES.index('yaw')] == f.yaw
    assert labels[2, A.FACTOR_NAMES.index('glasses')] == float(f.glasses)
    assert np.array_equal(images[1].numpy(), ds.image(1).transpose(2, 0, 1))
    assert A.visible_hair_length(f) == labels[2, A.FACTOR_NAMES.index('hair length')]


def test_regressor_training_is_deterministic_and_round_trips(tmp_path):
    images, labels = A.portrait_set(12, seed=3)
    names = ('yaw', 'glasses', 'skin tone')
    cols = [A.FACTOR_NAMES.index(n) for n in names]
    kw = {'names': names, 'epochs': 1, 'batch': 6, 'channels': (4, 4, 4, 4), 'hidden': 8}
    m1 = A.train_regressor(images, labels[:, cols], seed=1, **kw)
    m2 = A.train_regressor(images, labels[:, cols], seed=1, **kw)
    m3 = A.train_regressor(images, labels[:, cols], seed=2, **kw)
    p1, p2, p3 = (m.predict(images) for m in (m1, m2, m3))
    assert p1.shape == (12, 3)
    assert np.array_equal(p1, p2)
    assert not np.allclose(p1, p3)
    assert m1.kinds == ('score', 'binary', 'score')
    # binary outputs are probabilities in normalised units
    prob = m1.to_units(p1)[:, 1]
    assert ((prob >= 0) & (prob <= 1)).all()
    # generator-style float input and uint8 input agree
    floats = images.float() * (2 / 255) - 1
    assert np.allclose(m1.predict(floats), p1, atol=1e-5)
    path = m1.save(tmp_path / 'attr.pt')
    rec = torch.load(path, weights_only=True)
    assert rec['format'] == A.FORMAT_NAME
    back = A.AttributeModel.load(path)
    assert back.names == names and np.array_equal(back.predict(images), p1)


def test_regressor_file_refused_when_wrong(tmp_path):
    bad = tmp_path / 'bad.pt'
    bad.write_bytes(b'not a torch file')
    with pytest.raises(UserError):
        A.AttributeModel.load(bad)
    torch.save({'format': 'something else'}, tmp_path / 'other.pt')
    with pytest.raises(UserError):
        A.AttributeModel.load(tmp_path / 'other.pt')
    m = A.train_regressor(*A.portrait_set(4, seed=0), epochs=1, batch=4, channels=(4, 4, 4, 4), hidden=8)
    path = m.save(tmp_path / 'ok.pt')
    rec = torch.load(path, weights_only=True)
    rec['config']['hidden'] = 9                     # weights no longer match the config
    torch.save(rec, tmp_path / 'mismatch.pt')
    with pytest.raises(UserError, match='do not match'):
        A.AttributeModel.load(tmp_path / 'mismatch.pt')


def test_edit_effect_summary():
    # 3 amounts x 2 images x 2 factors: factor 0 rises, factor 1 barely moves
    pred = np.array([[[-1.0, 0.0], [-2.0, 0.1]],
                     [[0.0, 0.0], [0.0, 0.0]],
                     [[1.0, 0.1], [2.0, 0.0]]])
    e = A.edit_effect(pred, ('a', 'b'), 'a', sigmas=(-1, 0, 1))
    assert np.allclose(e.change, [(1 + 2 + 0 + 0 + 1 + 2) / 6, (0 + 0.1 + 0 + 0 + 0.1 + 0) / 6])
    assert e.monotone_fraction == 1.0 and e.mean_violation == 0.0
    assert e.ratio == pytest.approx(1.0 / (0.2 / 6))
    e2 = A.edit_effect(pred[::-1], ('a', 'b'), 'a', sigmas=(-1, 0, 1))
    assert e2.monotone_fraction == 0.0 and e2.mean_violation == pytest.approx(1.5)
