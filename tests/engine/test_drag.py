"""Point dragging (explorer/engine/drag.py, main.py drag): tracking, motion, mask, cancel, files.

The figures asserted were measured on the 2-core CPU with one thread (the drag is deterministic
there): portraits64 seed 3, nose (32,36) -> (38,36): 6 px -> 1 px in 63 steps; with a mask
around it 6 -> 1 px in 104 steps, pixels inside changing 6.6x more than outside; the bench
'tiny' network seed 0, (16,16) -> (20,16): 4 px -> 1 px in 40 steps.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from explorer.engine import drag as D
from explorer.errors import UserError


@pytest.fixture
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope='module')
def G64():
    import explorer
    return explorer.load_generator(None, device='cpu')


def seed_ws(G, seed, psi=0.7):
    from explorer.engine.latents import compute_ws
    with torch.no_grad():
        return compute_ws(G, [seed], truncation_psi=psi, device='cpu')[0]


# -- the parts ---------------------------------------------------------------------------

def test_tracking_follows_a_known_shift():
    torch.manual_seed(0)
    feat0 = torch.randn(1, 16, 40, 40)
    points = torch.tensor([[10.0, 12.0], [30.0, 25.0], [1.0, 38.0]])
    ref = D.sample_features(feat0, points)
    assert torch.allclose(ref[0], feat0[0, :, 12, 10], atol=1e-5)
    shift = (3, -2)                                         # content moves 3 px right, 2 px up
    feat1 = torch.roll(feat0, shifts=(shift[1], shift[0]), dims=(2, 3))
    tracked = D.track_points(feat1, ref, points, r2=6)
    expected = points + torch.tensor([shift[0], shift[1]], dtype=torch.float32)
    expected[2] = torch.tensor([4.0, 36.0])
    assert torch.equal(tracked, expected)
    # A shift beyond the window is not found: the window bounds the search.
    feat2 = torch.roll(feat0, shifts=(0, 9), dims=(2, 3))
    far = D.track_points(feat2, ref, points[:1], r2=6)
    assert (far - points[:1]).abs().max() <= 6


def test_motion_loss_pulls_features_toward_the_target():
    """One gradient step on F alone moves the handle's feature one pixel toward the target."""
    torch.manual_seed(1)
    base = torch.randn(1, 8, 24, 24)
    feat = torch.nn.functional.avg_pool2d(base, 3, 1, 1).requires_grad_(True)   # smooth, so bilinear helps
    p, t = torch.tensor([[10.0, 10.0]]), torch.tensor([[16.0, 10.0]])
    loss = D.motion_loss(feat, p, t, r1=2.0)
    loss.backward()
    assert loss.item() > 0
    g = feat.grad[0].abs().sum(0)
    # The disk spans x = 8..12 on row 10; d = (1, 0): gradients reach F(q + d), x = 9..13 only
    # (F(q) is detached, so the leftmost source pixel gets none).
    assert g[10, 8] == 0 and (g[10, 9:14] > 0).all() and g[10, 14] == 0
    assert D.motion_loss(feat, p, t, r1=2.0, active=[False]).item() == 0


def test_config_per_family_and_resolution(G64):
    from explorer.engine.bench import build_config
    c = D.drag_config(G64)
    assert (c.feature_layer, c.num_ws, c.r1, c.r2, c.lr) == ('b32', 6, 2.0, 6, 2e-3)
    assert c.lambda_mask == pytest.approx(2.5)
    for R, layer, r1, r2, lam in [(1024, 'b128', 6.0, 24, 20.0), (512, 'b128', 3.0, 12, 20.0),
                                  (256, 'b128', 2.0, 6, 10.0)]:
        res = [2 ** i for i in range(2, R.bit_length())]
        fake = SimpleNamespace(family='stylegan2', img_resolution=R, num_ws=2 * len(res),
                               synthesis=SimpleNamespace(block_resolutions=res))
        c = D.drag_config(fake)
        assert (c.feature_layer, c.num_ws, c.r1, c.r2, c.lambda_mask) == (layer, 6, r1, r2, lam)
    assert D.drag_config(build_config('tiny')).feature_layer == 'b16'


# -- whole drags ---------------------------------------------------------------------------

def test_drag_small_network(one_thread):
    from explorer.engine.bench import build_config
    G = build_config('tiny')
    with torch.no_grad():
        ws = G.mapping(torch.from_numpy(np.random.RandomState(0).randn(1, G.z_dim)).float(), None)[0]
    res = D.drag(G, ws, [(16, 16)], [(20, 16)], steps=100)
    assert res.start_distances == [4.0]
    assert res.reached and res.distances[0] <= 1.0 and res.steps <= 60          # measured: 40 steps
    assert res.ws.shape == (G.num_ws, G.w_dim) and res.ws.dtype == np.float32
    k = D.drag_config(G).num_ws
    assert np.array_equal(res.ws[k:], ws[k:].numpy())                          # only the first k ws move
    assert not np.allclose(res.ws[:k], ws[:k].numpy())


def test_drag_default_model_and_progress(G64, one_thread):
    steps = []
    res = D.drag(G64, seed_ws(G64, 3), [(32, 36)], [(38, 36)], steps=150,
                 on_step=steps.append, image_every=20)
    assert res.start_distances == [6.0]
    assert res.distances[0] <= 1.0 and res.reached and res.steps <= 100         # measured: 63 steps
    assert res.points[0][0] > 36                                               # moved right, not elsewhere
    assert abs(res.points[0][1] - 36) <= 1
    # One report per update, then a last one (no update) saying every handle arrived.
    assert [s.step for s in steps[:-1]] == list(range(1, res.steps + 1)) and steps[-1].step == res.steps
    assert steps[-1].done and not any(s.done for s in steps[:-1])
    with_img = [s for s in steps if s.image is not None]
    assert with_img and all(s.step % 20 == 0 for s in with_img)
    assert with_img[0].image.shape == (64, 64, 3) and with_img[0].image.dtype == np.uint8
    assert all(len(s.points) == 1 and len(s.distances) == 1 for s in steps)


def test_mask_keeps_the_outside(G64, one_thread):
    h, t = (32, 36), (38, 36)
    mask = np.zeros((64, 64), bool)
    mask[26:47, 22:49] = True
    d = D.Dragger(G64, seed_ws(G64, 3), [h], [t], mask=mask)
    before = d.image().astype(np.float32)
    res = d.run(160)
    diff = np.abs(d.image().astype(np.float32) - before).mean(-1)
    inside, outside = diff[mask].mean(), diff[~mask].mean()
    assert res.distances[0] <= 2.0                                           # measured: 1 px
    assert inside > 4 * outside, (inside, outside)                           # measured: 6.6x


def test_cancel_stops_within_a_step(G64):
    d = D.Dragger(G64, seed_ws(G64, 3), [(32, 36)], [(38, 36)])
    seen = []

    def on_step(st):
        seen.append(st.step)

    flag = {'on': False}
    res = d.run(50, on_step=lambda st: (on_step(st), flag.update(on=st.step == 2)), cancel=lambda: flag['on'])
    assert res.cancelled and res.steps == 2 and seen == [1, 2]

    # Cancelled in the middle of a step (between layers): that step's update never happens.
    d = D.Dragger(G64, seed_ws(G64, 3), [(32, 36)], [(38, 36)])
    d.step()
    ws_after_one = d.result_ws()
    calls = {'n': 0}

    def cancel():
        calls['n'] += 1
        return calls['n'] > 3           # the loop's check, then the first layers of the next forward
    res = d.run(50, cancel=cancel)
    assert res.cancelled and res.steps == 1
    assert np.array_equal(res.ws, ws_after_one)


def test_stylegan3_drag_runs():
    from explorer.engine import networks_stylegan3 as sg3
    torch.manual_seed(0)
    G = sg3.Generator(z_dim=8, w_dim=8, img_resolution=16, img_channels=3, channel_base=128, channel_max=16,
                      num_layers=4, mapping_kwargs=dict(num_layers=2), c_dim=0).eval()
    cfg = D.drag_config(G)
    assert cfg.feature_layer.startswith('L') and cfg.feature_crop == G.synthesis.margin_size
    d = D.Dragger(G, G.mapping(torch.randn(1, 8), None)[0].detach(), [(8, 8)], [(11, 8)])
    feat = d._features(d.current_ws())
    assert feat.shape[-2:] == (16, 16)
    st = d.step()
    assert st.points == [(8.0, 8.0)] and st.loss > 0 and d.steps_done == 1
    assert not torch.equal(d.current_ws(), d.ws0)


def test_bad_input_is_refused(G64):
    ws = seed_ws(G64, 0)
    with pytest.raises(UserError, match='outside the 64x64'):
        D.Dragger(G64, ws, [(64, 3)], [(3, 3)])
    with pytest.raises(UserError, match='at least one'):
        D.Dragger(G64, ws, [], [])
    with pytest.raises(UserError, match='32x32'):
        D.Dragger(G64, ws, [(3, 3)], [(5, 3)], mask=np.ones((32, 32)))
    with pytest.raises(UserError, match='at least 1'):
        D.drag(G64, ws, [(3, 3)], [(5, 3)], steps=0)
    with pytest.raises(UserError, match='W\\+'):
        D.Dragger(G64, ws[:4], [(3, 3)], [(5, 3)])


# -- the CLI -------------------------------------------------------------------------------

def test_cli_written_latent_rerenders(tmp_path, capsys, one_thread):
    from PIL import Image

    from explorer.cli import main
    out = tmp_path / 'chin.npz'
    assert main(['drag', '--seed', '3', '--points', '32,36:38,36', '--steps', '4', '--out', str(out),
                 '--device', 'cpu']) == 0
    w = np.load(out)['w']
    assert w.shape == (1, 10, 128) and w.dtype == np.float32
    assert not np.allclose(w[0], seed_ws(__import__('explorer').load_generator(None, device='cpu'), 3).numpy())
    png = np.asarray(Image.open(tmp_path / 'chin.png'))
    assert main(['render', '--latent', str(out), '--outdir', str(tmp_path / 'r')]) == 0
    again = np.asarray(Image.open(tmp_path / 'r' / 'chin.png'))
    assert np.array_equal(png, again)
    # A second drag continues from the written latent.
    assert main(['drag', '--latent', str(out), '--points', '33,36:38,36', '--steps', '2',
                 '--out', str(tmp_path / 'more.npz'), '--device', 'cpu']) == 0


@pytest.mark.parametrize('argv, message', [
    (['--seed', '0', '--points', '70,5:3,3'], 'outside the 64x64'),
    (['--seed', '0'], 'at least one --points'),
    (['--seed', '0', '--points', '1,2:3'], 'x0,y0:x1,y1'),
    (['--seed', '0', '--points', '1,2:3,3', '--steps', '0'], 'expected a number > 0'),
    (['--points', '1,2:3,3'], '--seed S or --latent'),
    (['--seed', '0', '--points', '1,2:3,3', '--mask', 'MASK'], 'the mask is 8x8'),
])
def test_cli_bad_input(tmp_path, capsys, argv, message):
    from PIL import Image

    from explorer.cli import main
    Image.new('L', (8, 8), 255).save(tmp_path / 'm.png')
    argv = [a.replace('MASK', str(tmp_path / 'm.png')) for a in argv]
    with pytest.raises(SystemExit) if '--steps' in argv else _nothing():
        rc = main(['drag', *argv, '--out', str(tmp_path / 'x.npz')])
        assert rc == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / 'x.npz').exists()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
