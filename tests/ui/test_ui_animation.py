"""The Animation tab (issue #18): the keyframe timeline, Play in the view (frames equal to the
engine's frame recipes, dropped frames counted when rendering is slow), Export with progress
and Cancel, and the animation JSON that ``main.py video --keyframes`` renders.

The real-model tests render on the exact path (Session(fast=False)) so frames compare bit for
bit with the engine's own renders."""

import json

import numpy as np
import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

from explorer.engine.animation_spec import Animation, Keyframe, read_animation  # noqa: E402
from explorer.engine.recipe import Recipe  # noqa: E402
from tests.ui_helpers import FakeEngine  # noqa: E402


@pytest.fixture
def tiny_ckpt(tiny_G, tmp_path):
    from explorer.engine.checkpoint import save_generator
    return str(save_generator(tiny_G, tmp_path / 'tiny.pt'))


def make_window(qtbot, **kw):
    from explorer.ui.app import make_app
    make_app()
    from explorer.ui.main_window import MainWindow
    w = MainWindow(**kw)
    qtbot.addWidget(w)
    return w


@pytest.fixture
def win(qtbot, tiny_ckpt):
    from explorer.engine.session import Session
    w = make_window(qtbot, engine=Session('cpu', fast=False), checkpoint=tiny_ckpt)
    try:
        qtbot.waitUntil(lambda: w.frame is not None, timeout=15000)
        yield w
    finally:
        w.shutdown()


@pytest.fixture
def fake_win(qtbot):
    engine = FakeEngine()
    w = make_window(qtbot, engine=engine)
    w.fake = engine
    try:
        qtbot.waitUntil(lambda: w.info is not None and w.frame is not None, timeout=10000)
        yield w
    finally:
        w.shutdown()


def settle(qtbot, win):
    qtbot.waitUntil(lambda: win._shown_id == win.last_request.request_id and not win.shown_preview
                    and win.frame_recipe == win.recipe, timeout=15000)


def add_seeds(qtbot, win, seeds):
    for s in seeds:
        win.latent_panel.seed.setValue(s)
        settle(qtbot, win)
        win.animation.add_current()


# ---------------------------------------------------------------------------- the timeline

def test_timeline_edits_make_the_animation(qtbot):
    from explorer.ui.panels.animation import AnimationPanel
    p = AnimationPanel()
    qtbot.addWidget(p)
    r = [Recipe(seeds=(s,), psi=0.7) for s in (1, 2, 3)]
    for x in r:
        p.add_keyframe(x, np.full((16, 16, 3), 40, np.uint8))
    assert p.list.count() == 3 and p.play_btn.isEnabled()
    p.list.setCurrentRow(2)
    p.move_selected(-1)                         # 1, 3, 2
    assert [k.recipe for k in p.keyframes] == [r[0], r[2], r[1]]
    assert p.list.currentRow() == 1 and p.list.item(1).text().startswith('2 · seed 3')
    p.move(0, -1)                               # nothing before the first
    p.remove(2)                                 # 1, 3
    p.add_keyframe(r[1])                        # 1, 3, 2
    p.list.setCurrentRow(0)
    p.duration.setValue(2.5)                    # the selected keyframe's move, through the widgets
    p.easing.setCurrentText('ease-in-out-cubic')
    p.set_segment(1, hold=0.5, duration=1.5, easing='smoothstep')
    p.fps.setValue(12)
    d = p.animation().to_dict()
    assert [k['recipe']['seeds'] for k in d['keyframes']] == [[1], [3], [2]]
    assert [(k['hold'], k['duration'], k['easing']) for k in d['keyframes']] == [
        (0.0, 2.5, 'ease-in-out-cubic'), (0.5, 1.5, 'smoothstep'), (0.0, 1.0, 'linear')]
    assert d['seconds'] == 4.5 and d['fps'] == 12 and d['frames'] == 54 and d['loop'] is False
    p.loop.setChecked(True)                     # the last keyframe's move back now plays
    assert p.animation().seconds == 5.5 and p.animation().loop
    p.remove(0)
    p.remove(0)
    assert len(p.keyframes) == 1 and not p.play_btn.isEnabled()
    with pytest.raises(Exception, match='two keyframes'):
        p.animation()


def test_open_scales_pieces_to_the_files_length(qtbot):
    from explorer.ui.panels.animation import AnimationPanel
    p = AnimationPanel()
    qtbot.addWidget(p)
    kfs = [Keyframe(Recipe(seeds=(s,)), duration=1.0, easing='quad') for s in (4, 5, 6)]
    anim = Animation(keyframes=kfs, seconds=6.0, fps=10, loop=True)
    uids = p.set_animation(anim)
    assert len(uids) == 3 and p.loop.isChecked() and p.fps.value() == 10
    got = p.animation()
    assert got.seconds == 6.0 and [k.duration for k in got.keyframes] == [2.0, 2.0, 2.0]
    assert got.keyframes[0].easing == 'ease-in-out-quad'


# ---------------------------------------------------------------------------- play

def test_play_shows_the_engines_frames_and_saved_json_renders(qtbot, win, tmp_path, capsys):
    import torch

    from explorer.engine.animation import AnimationPlan
    from explorer.engine.checkpoint import load_generator
    from explorer.engine.export import to_uint8
    from explorer.engine.rendering import render
    add_seeds(qtbot, win, (1, 2, 3))
    p = win.animation_panel
    assert len(p.keyframes) == 3
    assert [k.recipe.seeds for k in p.keyframes] == [(1,), (2,), (3,)]
    p.list.setCurrentRow(0)
    p.easing.setCurrentText('ease-in-out-sine')
    p.fps.setValue(8)
    anim = win.animation.animation()            # 2 s at 8 fps: 16 frames
    assert anim.num_frames == 16 and anim.keyframes[0].recipe.checkpoint_sha256 == win.info.sha256
    shown = {}
    win.animation.frameShown.connect(lambda i, img: shown.setdefault(i, img.copy()))
    p.play_btn.click()
    assert win.animation.playing
    qtbot.waitUntil(lambda: not win.animation.playing, timeout=20000)   # an open path stops at its end
    assert not p.play_btn.isChecked()
    assert 15 in shown and win.animation.shown + win.animation.dropped == 16
    G = load_generator(win.info.path)
    plan = AnimationPlan(G, anim, device=torch.device('cpu'), path='exact')
    for i, img in shown.items():
        assert np.array_equal(img, to_uint8(render(G, plan.frame_recipe(i)))), f'frame {i}'

    saved = win.animation.save_to(tmp_path / 'walk.json')
    assert read_animation(saved) == anim
    from explorer.cli import main
    out = tmp_path / 'cli.gif'
    rc = main(['video', '--checkpoint', win.info.path, '--keyframes', str(saved), '--out', str(out)])
    assert rc == 0, capsys.readouterr().err
    assert out.exists()


def test_a_control_change_stops_playing(qtbot, win):
    add_seeds(qtbot, win, (1, 2))
    p = win.animation_panel
    p.loop.setChecked(True)
    p.play_btn.click()
    qtbot.waitUntil(lambda: win.animation.shown >= 2, timeout=15000)
    win.truncation_panel.psi.setValue(0.5)
    assert not win.animation.playing and not p.play_btn.isChecked()
    p.play_btn.click()
    qtbot.waitUntil(lambda: win.animation.shown >= 1, timeout=15000)
    p.fps.setValue(12)                          # the timeline's own controls stop it too
    assert not win.animation.playing


def test_slow_rendering_drops_frames_and_says_so(qtbot, fake_win):
    w = fake_win
    for s in (1, 2, 3):
        w.animation_panel.add_keyframe(Recipe(seeds=(s,)), np.zeros((8, 8, 3), np.uint8))
    w.animation_panel.loop.setChecked(True)
    w.animation_panel.fps.setValue(30)
    w.fake.frame_delay = 0.1                    # ~10 fps < 30
    w.animation_panel.play_btn.click()
    qtbot.waitUntil(lambda: w.animation.shown >= 6, timeout=15000)
    text = w.animation_panel.play_status.text()
    w.animation_panel.play_btn.click()          # Pause
    assert not w.animation.playing
    assert w.animation.dropped >= 6, text
    assert 'dropped: rendering' in text and '< 30' in text
    # frames asked of the engine move on with the clock: never the same frame twice in a row
    f = w.fake.animation_frames
    assert all(a != b for a, b in zip(f, f[1:]))
    assert f[-1] - f[0] >= 12 or max(f) >= 12


def test_fast_rendering_drops_nothing(qtbot, fake_win):
    w = fake_win
    for s in (1, 2):
        w.animation_panel.add_keyframe(Recipe(seeds=(s,)), np.zeros((8, 8, 3), np.uint8))
    w.animation_panel.fps.setValue(10)
    w.animation_panel.set_segment(0, duration=1.0)
    w.animation_panel.play_btn.click()
    qtbot.waitUntil(lambda: not w.animation.playing, timeout=15000)
    assert w.animation.shown == 10 and w.animation.dropped == 0
    assert 'dropped' not in w.animation_panel.play_status.text()


# ---------------------------------------------------------------------------- export

def test_export_mp4_decodes_to_every_frame(qtbot, win, tmp_path):
    import av
    add_seeds(qtbot, win, (1, 2, 3))
    win.animation_panel.fps.setValue(6)
    out = tmp_path / 'walk.mp4'
    etas = []
    win.worker.progress.connect(lambda kind, *_: etas.append(win.animation_panel.eta.text()))
    with qtbot.waitSignal(win.animation.exported, timeout=30000) as sig:
        assert win.animation.export_to(out, scale=2)
        assert win.animation_panel.exporting and not win.animation_panel.play_btn.isEnabled()
    assert sig.args == [str(out), '']
    assert not win.animation_panel.exporting
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format='rgb24') for f in c.decode(video=0)]
    assert len(frames) == 12 and frames[0].shape == (32, 32, 3)
    assert any('ETA' in t for t in etas)
    side = json.loads((tmp_path / 'walk.mp4.json').read_text())
    assert side['frames'] == 12 and len(side['keyframes']) == 3


def test_cancel_leaves_no_file(qtbot, fake_win, tmp_path):
    w = fake_win
    for s in (1, 2):
        w.animation_panel.add_keyframe(Recipe(seeds=(s,)), np.zeros((8, 8, 3), np.uint8))
    w.animation_panel.set_segment(0, duration=10.0)     # 300 frames
    w.fake.frame_delay = 0.02
    out = tmp_path / 'walk.gif'
    w.worker.progress.connect(lambda kind, done, *_: done >= 3 and w.animation_panel.cancel_btn.click())
    with qtbot.waitSignal(w.animation.exported, timeout=30000) as sig:
        w.animation.export_to(out)
    assert sig.args == [str(out), 'cancelled']
    assert list(tmp_path.iterdir()) == []
    assert 'cancelled' in w.animation_panel.play_status.text()
    assert len(w.fake.animation_frames) < 300


def test_export_error_is_a_dialog(qtbot, fake_win, tmp_path):
    w = fake_win
    for s in (1, 2):
        w.animation_panel.add_keyframe(Recipe(seeds=(s,)), np.zeros((8, 8, 3), np.uint8))
    with qtbot.waitSignal(w.errorShown, timeout=5000):
        w.animation.export_to(tmp_path / 'walk.avi')
    assert 'avi' in w.last_error_box.text()
    assert not w.animation_panel.exporting
