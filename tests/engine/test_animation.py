"""Animation engine, video writers and ``main.py video`` (CPU, tiny generator, tiny videos)."""

from __future__ import annotations

import copy
import itertools
import json
import math

import numpy as np
import pytest
import torch

from explorer.engine import animation as A
from explorer.engine import video_writers as vw
from explorer.engine.export import to_uint8
from explorer.engine.progress import Cancelled
from explorer.engine.recipe import Recipe
from explorer.engine.rendering import recipe_ws, render
from explorer.engine.stored_latents import Edit, StoredLatent
from explorer.errors import UserError


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one CPU thread is faster (and far faster on a shared machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def single(G, recipe: Recipe) -> np.ndarray:
    """A single render of a recipe after a JSON round trip (what a PNG or a sidecar carries)."""
    return to_uint8(render(G, Recipe.from_dict(json.loads(recipe.to_json()))))


# ---------------------------------------------------------------------------- easing

@pytest.mark.parametrize('name', sorted(A.EASINGS))
def test_easing_starts_at_0_ends_at_1_and_is_monotone(name):
    ts = np.linspace(0, 1, 1001)
    ys = [A.ease(name, t) for t in ts]
    assert ys[0] == 0.0 and ys[-1] == 1.0
    assert all(0.0 <= y <= 1.0 for y in ys)
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(ys)), name
    if name != 'linear':
        assert max(abs(y - t) for y, t in zip(ys, ts)) > 0.01   # really eases


def test_easing_aliases_and_unknown_names():
    assert A.easing_name('sine') == 'ease-in-out-sine' and A.easing_name('Ease_In_Out_Cubic') == 'ease-in-out-cubic'
    assert A.ease('ease-in-out-sine', 0.5) == pytest.approx(0.5)
    assert A.ease('ease-in-cubic', 0.5) == pytest.approx(0.125)
    with pytest.raises(UserError, match='unknown easing'):
        A.easing_name('bouncy')


# ---------------------------------------------------------------------------- timing

@pytest.mark.parametrize('seconds,fps,n', [(1, 7, 7), (0.5, 10, 5), (2.04, 10, 20), (1 / 3, 30, 10)])
def test_frame_count_is_round_seconds_times_fps(tiny_G, seconds, fps, n):
    for loop in (False, True):
        anim = A.seed_walk([1, 2, 3], seconds, fps, loop=loop)
        assert anim.num_frames == n == A.AnimationPlan(tiny_G, anim).num_frames


def test_open_path_first_frame_is_first_keyframe_last_is_last(tiny_G):
    anim = A.seed_walk([1, 2, 3], seconds=1, fps=9, easing='sine', base=Recipe(psi=0.7))
    plan = A.AnimationPlan(tiny_G, anim)
    key = [recipe_ws(tiny_G, kf.recipe) for kf in anim.keyframes]
    assert torch.equal(plan.state(0).ws, key[0])
    assert torch.equal(plan.state(8).ws, key[2])
    assert torch.equal(plan.state(4).ws, key[1])            # u = 1/2: exactly on the middle keyframe
    assert np.array_equal(plan.render(0), single(tiny_G, anim.keyframes[0].recipe))
    assert np.array_equal(plan.render(8), single(tiny_G, anim.keyframes[2].recipe))
    # in between: the eased lerp of the two keyframes' final ws
    u = plan.time_of(2)
    assert u == pytest.approx(2 / 8)
    t = A.ease('sine', 2 / 4)
    assert torch.allclose(plan.state(2).ws, key[0] + (key[1] - key[0]) * t, atol=1e-6)
    assert not torch.equal(plan.state(2).ws, key[0])


def test_loop_is_closed_and_does_not_repeat_the_first_keyframe(tiny_G):
    anim = A.seed_walk([1, 2, 3], seconds=1, fps=9, loop=True)
    plan = A.AnimationPlan(tiny_G, anim)
    key = [recipe_ws(tiny_G, kf.recipe) for kf in anim.keyframes]
    assert plan.num_frames == 9 and plan.time_of(8) == pytest.approx(8 / 9)
    assert torch.equal(plan.state(0).ws, key[0])
    assert torch.equal(plan.state(3).ws, key[1]) and torch.equal(plan.state(6).ws, key[2])
    # frame N (one past the end) would be frame 0: the last move ends on keyframe 0
    a, b, t = plan.position(1.0)
    assert (a, b, t) == (2, 0, 1.0) and torch.equal(plan._ws(a, b, t), key[0])
    # the last frame is on the way back from keyframe 2 to keyframe 0
    assert torch.allclose(plan.state(8).ws, key[2] + (key[0] - key[2]) * (2 / 3), atol=1e-6)


def test_holds_and_durations_share_the_timeline(tiny_G):
    r = [Recipe(seeds=(s,)) for s in (1, 2)]
    anim = A.Animation(keyframes=(A.Keyframe(r[0], hold=1, duration=2), A.Keyframe(r[1], hold=1)),
                       seconds=2, fps=10)                   # hold 0.5 s, move 1 s, hold 0.5 s (scaled)
    plan = A.AnimationPlan(tiny_G, anim)
    key = [recipe_ws(tiny_G, x) for x in r]
    n = plan.num_frames
    held0 = [i for i in range(n) if torch.equal(plan.state(i).ws, key[0])]
    held1 = [i for i in range(n) if torch.equal(plan.state(i).ws, key[1])]
    assert held0 == list(range(5)) and held1 == list(range(15, 20))
    assert plan.position(plan.time_of(10)) == (0, 1, pytest.approx(10 / 19 * 4 / 2 - 0.5))


def test_bad_animations_are_refused(tiny_G):
    r = Recipe(seeds=(1,))
    with pytest.raises(UserError, match='two keyframes'):
        A.walk([r], seconds=1)
    with pytest.raises(UserError, match='fps'):
        A.walk([r, r], seconds=1, fps=0)
    with pytest.raises(UserError, match='at least 2'):
        A.walk([r, r], seconds=0.01, fps=10)
    with pytest.raises(UserError, match='noise_mode'):
        A.walk([r, r.replace(noise_mode='none')], seconds=1)
    with pytest.raises(UserError, match='plain seed'):
        A.walk([r, r.replace(mix_seeds=(3,), layer_source=(0,) * tiny_G.num_ws)], seconds=1, interpolation='z')


# ---------------------------------------------------------------------------- exactness

def _rich_keyframes(G):
    """Keyframes with a stored latent, mixing, an edit, different noise strengths."""
    rng = np.random.default_rng(0)
    lat = StoredLatent.from_array(rng.standard_normal([G.num_ws, G.w_dim]).astype(np.float32), name='kept')
    edit = Edit.make('d', rng.standard_normal(G.w_dim), 1.5, (0, 1, 2))
    L = G.num_ws
    return [
        Recipe(seeds=(1,), psi=0.7, noise_strength=0.5),
        Recipe(seeds=(lat.ref,), latents=(lat,), edits=(edit,), noise_strength=1.0),
        Recipe(seeds=(2, 3), seed_weights=(0.5, 0.5), mix_seeds=(4,),
               layer_source=(-1,) * (L // 2) + (0,) * (L - L // 2),
               layer_noise=(0.0,) * L),
    ]


@pytest.mark.parametrize('noise_mode', ['const', 'random'])
def test_every_frame_equals_a_single_render_of_its_interpolated_recipe(tiny_G, noise_mode):
    recipes = [r.replace(noise_mode=noise_mode, noise_seed=5) for r in _rich_keyframes(tiny_G)]
    anim = A.walk(recipes, seconds=1, fps=11, loop=True, easing='cubic')
    plan = A.AnimationPlan(tiny_G, anim)
    frames = list(plan.frames())
    assert len(frames) == 11
    for i in range(11):
        rec = plan.frame_recipe(i)
        assert rec.seeds == (rec.latents[0].ref,) and rec.latents[0].shape == (tiny_G.num_ws, tiny_G.w_dim)
        assert np.array_equal(frames[i], single(tiny_G, rec)), i
    # the frame recipes carry the interpolated noise strength
    assert plan.frame_recipe(0).noise_strength == 0.5
    assert 0.5 < plan.frame_recipe(1).noise_strength < 1.0
    assert plan.frame_recipe(8).layer_noise is not None


def test_fast_path_frames_equal_single_fast_renders_and_match_exact(tiny_G):
    from explorer.engine.fast_render import FastRenderer
    anim = A.seed_walk([1, 2], seconds=1, fps=6)
    exact = list(A.AnimationPlan(tiny_G, anim).frames())
    plan = A.AnimationPlan(tiny_G, anim, path='fast', batch=4)
    fast = list(plan.frames())
    fr = FastRenderer(tiny_G, 'cpu')
    for i, frame in enumerate(fast):
        one = to_uint8(fr.render(plan.state(i).ws, noise_mode='const', noise_scale=[1.0] * tiny_G.num_ws))
        assert np.array_equal(frame, one)                     # batch-independent
        assert np.abs(frame.astype(int) - exact[i].astype(int)).max() <= 1   # float rounding only


def test_z_slerp_maps_the_slerped_z(tiny_G):
    anim = A.seed_walk([1, 2], seconds=1, fps=5, interpolation='z', base=Recipe(psi=0.8))
    plan = A.AnimationPlan(tiny_G, anim)
    key = [recipe_ws(tiny_G, kf.recipe) for kf in anim.keyframes]
    assert torch.equal(plan.state(0).ws, key[0]) and torch.equal(plan.state(4).ws, key[1])
    from explorer.engine.latents import seed_to_z
    za, zb = seed_to_z(1, tiny_G.z_dim)[0], seed_to_z(2, tiny_G.z_dim)[0]
    om = math.acos(np.dot(za, zb) / np.linalg.norm(za) / np.linalg.norm(zb))
    z = (math.sin(0.5 * om) * za + math.sin(0.5 * om) * zb) / math.sin(om)
    want = tiny_G.mapping(torch.from_numpy(z[None]).float(), None, truncation_psi=0.8)
    assert torch.allclose(plan.state(2).ws, want, atol=1e-5)
    assert not torch.allclose(plan.state(2).ws, (key[0] + key[1]) / 2, atol=1e-3)   # not a W lerp
    assert np.array_equal(plan.render(2), single(tiny_G, plan.frame_recipe(2)))


# ---------------------------------------------------------------------------- generated animations

def test_truncation_sweep_frames_are_the_intermediate_psi(tiny_G):
    anim = A.truncation_sweep(Recipe(seeds=(3,)), seconds=1, fps=5, psi_from=1.0, psi_to=-1.0)
    plan = A.AnimationPlan(tiny_G, anim)
    for i, psi in enumerate([1.0, 0.5, 0.0, -0.5, -1.0]):
        assert torch.allclose(plan.state(i).ws, recipe_ws(tiny_G, Recipe(seeds=(3,), psi=psi)), atol=1e-5)


def test_direction_sweep_goes_from_minus_to_plus_amount(tiny_G):
    vec = np.eye(tiny_G.w_dim, dtype=np.float32)[0]
    base = Recipe(seeds=(3,))
    anim = A.direction_sweep(base, vec, 2.0, (0, 1), seconds=1, fps=5, loop=True)
    plan = A.AnimationPlan(tiny_G, anim)
    w0 = recipe_ws(tiny_G, base)
    assert plan.num_frames == 5
    plan = A.AnimationPlan(tiny_G, anim.replace(seconds=2))     # loop of 10 frames: there (0..5) and back
    for i in range(6):
        a = -2.0 + 4.0 * i / 5
        ws = plan.state(i).ws
        assert torch.allclose(ws[0, :2, 0] - w0[0, :2, 0], torch.full([2], a), atol=1e-5)
        assert torch.equal(ws[0, 2:], w0[0, 2:]) and torch.equal(ws[0, :, 1:], w0[0, :, 1:])
    assert torch.allclose(plan.state(7).ws, plan.state(3).ws, atol=1e-6)    # on the way back


def test_style_walk_moves_only_the_chosen_layers(tiny_G):
    fine = (tiny_G.num_ws - 2, tiny_G.num_ws - 1)
    anim = A.style_walk(Recipe(seeds=(1,), psi=0.7), [1, 5, 9], fine, tiny_G.num_ws, seconds=1, fps=12, loop=True)
    plan = A.AnimationPlan(tiny_G, anim)
    base = recipe_ws(tiny_G, Recipe(seeds=(1,), psi=0.7))
    still = [i for i in range(tiny_G.num_ws) if i not in fine]
    moved = False
    for i in range(12):
        ws = plan.state(i).ws
        assert torch.equal(ws[:, still], base[:, still])
        moved |= not torch.equal(ws[:, list(fine)], base[:, list(fine)])
    assert moved and torch.equal(plan.state(0).ws, base)


def test_noise_loop_turns_the_noise_and_leaves_G_alone(tiny_G):
    before = {n: b.clone() for n, b in tiny_G.named_buffers()}
    base = Recipe(seeds=(2,))
    anim = A.noise_loop(base, seconds=1, fps=8, seed=7)
    plan = A.AnimationPlan(tiny_G, anim)
    frames = list(plan.frames())
    assert len(frames) == 8
    assert np.array_equal(frames[0], single(tiny_G, base))        # theta = 0: the model's own const noise
    assert not np.array_equal(frames[2], frames[0])
    # independent construction: a copy of G whose noise_const is cos * const + sin * B
    g = torch.Generator().manual_seed(7)
    own = A.noise_buffers(tiny_G.synthesis)
    bs = [torch.randn(b.shape, generator=g) for _, b in own]
    G2 = copy.deepcopy(tiny_G)
    theta = 2 * math.pi * 3 / 8
    with torch.no_grad():
        for (_, b), (_, b2), nb in zip(own, A.noise_buffers(G2.synthesis), bs):
            b2.copy_(b * math.cos(theta) + nb * math.sin(theta))
    assert np.array_equal(frames[3], single(G2, base))
    for n, b in tiny_G.named_buffers():
        assert torch.equal(b, before[n]), n
    assert np.array_equal(to_uint8(render(tiny_G, base)), frames[0])


# ---------------------------------------------------------------------------- writers

@pytest.mark.parametrize('ext', ['mp4', 'gif', 'webp'])
def test_videos_decode_to_the_right_size_and_frame_count(tiny_G, tmp_path, ext):
    anim = A.seed_walk([1, 2, 3], seconds=1, fps=10, loop=True)
    out = A.export_animation(tiny_G, anim, tmp_path / f'walk.{ext}', scale=2, quality=90)
    frames = vw.decode_frames(out)
    assert len(frames) == 10 and all(f.shape == (32, 32, 3) for f in frames)
    plan = A.AnimationPlan(tiny_G, anim)
    for i in (0, 4, 9):
        want = vw.upscale(plan.render(i), 2).astype(float)
        assert np.abs(frames[i].astype(float) - want).mean() < 12, i      # lossy, but this frame
    # the animation JSON beside it and inside it re-reads to the same animation
    side = json.loads((tmp_path / f'walk.{ext}.json').read_text())
    assert vw.read_embedded(out) == side
    again = A.Animation.from_dict(side)
    assert again.keyframes == anim.keyframes and again.num_frames == 10 and again.loop
    assert side['output']['width'] == 32 and side['output']['format'] == ext
    assert sorted(p.name for p in tmp_path.iterdir()) == [f'walk.{ext}', f'walk.{ext}.json']


def test_gif_delays_keep_the_frame_rate():
    assert vw.frame_delays(3, 30, 10) == [30, 40, 30]
    assert sum(vw.frame_delays(30, 30, 10)) == 1000 and sum(vw.frame_delays(24, 24, 1)) == 1000


def test_png_folder_frames_are_exact_and_carry_their_recipes(tiny_G, tmp_path):
    from explorer.engine.png import load_png, read_recipe
    anim = A.walk(_rich_keyframes(tiny_G), seconds=1, fps=5)
    out = A.export_animation(tiny_G, anim, tmp_path / 'frames')
    files = sorted(out.glob('frame*.png'))
    assert len(files) == 5 and (out / 'animation.json').is_file()
    for i, f in enumerate(files):
        rec = Recipe.from_dict(read_recipe(f))
        assert np.array_equal(load_png(f), to_uint8(render(tiny_G, rec))), i
    assert np.array_equal(load_png(files[0]), single(tiny_G, anim.keyframes[0].recipe))
    assert np.array_equal(load_png(files[-1]), single(tiny_G, anim.keyframes[-1].recipe))


def test_upscale_and_size_parsing():
    f = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    assert vw.upscale(f, 3, 'nearest').shape == (6, 6, 3) and vw.upscale(f, 3, 'nearest')[2, 2, 0] == f[0, 0, 0]
    assert vw.upscale(f, 2, 'lanczos').shape == (4, 4, 3)
    assert vw.parse_size('2x', 64) == 2 and vw.parse_size('256', 64) == 4 and vw.parse_size('native', 64) == 1
    for bad in ('100', '0x', 'big', '99x'):
        with pytest.raises(UserError):
            vw.parse_size(bad, 64)
    with pytest.raises(UserError, match='unknown video format'):
        vw.format_of('x.avi')


@pytest.mark.parametrize('ext', ['mp4', 'gif', ''])
@pytest.mark.parametrize('how', ['progress', 'interrupt'])
def test_cancel_leaves_no_output_file(tiny_G, tmp_path, ext, how):
    anim = A.seed_walk([1, 2, 3], seconds=1, fps=10)
    out = tmp_path / (f'walk.{ext}' if ext else 'frames')
    exc = Cancelled if how == 'progress' else KeyboardInterrupt

    def progress(done, total, text=''):
        if done == 4:
            raise exc()
    with pytest.raises(exc):
        A.export_animation(tiny_G, anim, out, progress=progress)
    assert list(tmp_path.iterdir()) == []


def test_cancel_callback_stops_between_frames(tiny_G, tmp_path):
    anim = A.seed_walk([1, 2], seconds=1, fps=10)
    calls = []
    with pytest.raises(Cancelled):
        A.export_animation(tiny_G, anim, tmp_path / 'a.webp', cancel=lambda: calls.append(1) or len(calls) > 3)
    assert len(calls) == 4 and list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- CLI

@pytest.fixture
def ckpt(tiny_G, tmp_path):
    from explorer.engine.checkpoint import save_generator
    return save_generator(tiny_G, tmp_path / 'tiny.pt')


def cli(capsys, *args):
    from explorer.cli import main
    try:
        rc = main(['video', *map(str, args)])
    except SystemExit as e:           # argparse errors
        rc = e.code
    return rc, capsys.readouterr().err


def test_cli_writes_a_video_and_its_json_rerenders_it(ckpt, tmp_path, capsys, tiny_G):
    out = tmp_path / 'walk.mp4'
    rc, err = cli(capsys, '--checkpoint', ckpt, '--seeds', '3,7,11', '--seconds', '1', '--fps', '8', '--loop',
                  '--easing', 'sine', '--psi', '0.7', '--out', out)
    assert rc == 0, err
    assert 'video:' in err and '8.00/8.00' in err                # the progress bar on stderr
    assert len(vw.decode_frames(out)) == 8
    side = json.loads((tmp_path / 'walk.mp4.json').read_text())
    assert side['keyframes'][0]['recipe']['checkpoint'] == 'tiny.pt' and side['loop'] and side['fps'] == 8
    # the sidecar is a --keyframes file: re-render it as PNG frames, frame 0 is seed 3 at psi 0.7
    rc, err = cli(capsys, '--checkpoint', ckpt, '--keyframes', tmp_path / 'walk.mp4.json', '--out', tmp_path / 'png')
    assert rc == 0, err
    from explorer.engine.checkpoint import load_generator
    from explorer.engine.png import load_png
    files = sorted((tmp_path / 'png').glob('*.png'))
    G = load_generator(ckpt)
    assert len(files) == 8 and np.array_equal(load_png(files[0]), single(G, Recipe(seeds=(3,), psi=0.7)))


def test_cli_sweeps(ckpt, tmp_path, capsys, tiny_G):
    from explorer.engine.directions import DirectionSet
    dset = DirectionSet(directions=np.eye(tiny_G.w_dim, dtype=np.float32)[:2], layers=(0, 1), method='named',
                        names=('a', 'b'), num_ws=tiny_G.num_ws)
    dset.save(tmp_path / 'd.npz')
    for sweep, extra in [('psi', ()), ('direction:1', ('--directions', tmp_path / 'd.npz', '--amount', '2')),
                         ('noise', ()), ('styles:middle', ())]:
        out = tmp_path / f'{sweep.split(":")[0]}.gif'
        rc, err = cli(capsys, '--checkpoint', ckpt, '--seeds', '5,6,7', '--sweep', sweep, '--seconds', '0.5',
                      '--fps', '8', '--out', out, *extra)
        assert rc == 0, (sweep, err)
        assert len(vw.decode_frames(out)) == 4
        assert json.loads(out.with_name(out.name + '.json').read_text())['frames'] == 4


@pytest.mark.parametrize('args,msg', [
    (('--seeds', '3', '--seconds', '1'), 'at least two keyframes'),
    (('--seeds', '3,4', '--seconds', '1', '--fps', '0'), '--fps'),
    (('--seeds', '3,4', '--seconds', '1', '--easing', 'wobble'), 'unknown easing'),
    (('--seeds', '3,4'), '--seconds'),
    (('--seeds', '3,4', '--seconds', '1', '--sweep', 'direction:0'), '--directions'),
    (('--seeds', '3,4', '--seconds', '1', '--size', '17'), 'multiple'),
])
def test_cli_bad_input_is_one_line_and_exit_2(ckpt, tmp_path, capsys, args, msg):
    rc, err = cli(capsys, '--checkpoint', ckpt, *args, '--out', tmp_path / 'a.mp4')
    assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1, err
    assert [p.name for p in tmp_path.iterdir()] == ['tiny.pt']


def test_cli_bad_outputs_and_foreign_keyframes(ckpt, tmp_path, capsys, tiny_G):
    base = ('--checkpoint', ckpt, '--seeds', '3,4', '--seconds', '1')
    for out, msg in [(tmp_path / 'a.avi', 'unknown video format'), (tmp_path / 'no' / 'a.mp4', 'does not exist'),
                     (tmp_path, 'folder')]:
        rc, err = cli(capsys, *base, '--out', out)
        assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1, err
    anim = A.seed_walk([1, 2], seconds=1, fps=4).stamped('other.pt', 'f' * 64)
    (tmp_path / 'k.json').write_text(anim.to_json())
    rc, err = cli(capsys, '--checkpoint', ckpt, '--keyframes', tmp_path / 'k.json', '--out', tmp_path / 'b.mp4')
    assert rc == 2 and 'other.pt' in err and len(err.strip().splitlines()) == 1, err
    (tmp_path / 'bad.json').write_text('{"keyframes": [')
    rc, err = cli(capsys, '--checkpoint', ckpt, '--keyframes', tmp_path / 'bad.json', '--out', tmp_path / 'b.mp4')
    assert rc == 2 and 'not valid JSON' in err
    assert not (tmp_path / 'b.mp4').exists() and not (tmp_path / 'a.avi').exists()


def test_cli_keyframes_seconds_and_fps_override_the_file(ckpt, tmp_path, capsys):
    from explorer.engine.checkpoint import sha256_file
    anim = A.walk([Recipe(seeds=(1,)), Recipe(seeds=(2,))], seconds=3, fps=4).stamped('tiny.pt', sha256_file(ckpt))
    (tmp_path / 'k.json').write_text(anim.to_json())
    rc, err = cli(capsys, '--checkpoint', ckpt, '--keyframes', tmp_path / 'k.json', '--out', tmp_path / 'a.webp',
                  '--quality', '100')
    assert rc == 0, err
    assert len(vw.decode_frames(tmp_path / 'a.webp')) == 12          # the file's 3 s x 4 fps, lossless: every frame
    rc, err = cli(capsys, '--checkpoint', ckpt, '--keyframes', tmp_path / 'k.json', '--seconds', '1', '--fps', '5',
                  '--out', tmp_path / 'b.gif')
    assert rc == 0, err
    assert len(vw.decode_frames(tmp_path / 'b.gif')) == 5
