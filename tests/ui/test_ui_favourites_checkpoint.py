"""A favourite knows its checkpoint (path and SHA-256): clicking it reopens that checkpoint
before restoring the settings, and a checkpoint that is gone or changed is refused with a
message while the open model stays."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')


@pytest.fixture
def two_ckpts(tiny_G, tmp_path):
    from explorer.engine.checkpoint import save_generator
    a = save_generator(tiny_G, tmp_path / 'a.pt')
    with torch.no_grad():
        for p in tiny_G.parameters():
            p.add_(0.05)
    b = save_generator(tiny_G, tmp_path / 'b.pt')
    return str(a), str(b), tiny_G


@pytest.fixture
def win(qtbot, two_ckpts):
    from explorer.ui.app import make_app
    make_app()
    from explorer.ui.main_window import MainWindow
    w = MainWindow(checkpoint=two_ckpts[0], device='cpu')
    qtbot.addWidget(w)
    try:
        qtbot.waitUntil(lambda: w.frame is not None, timeout=15000)
        yield w
    finally:
        w.shutdown()


def settle(qtbot, win):
    qtbot.waitUntil(lambda: win._shown_id == win.last_request.request_id, timeout=15000)


def star(qtbot, win, seed):
    win.latent_panel.seed.setValue(seed)
    settle(qtbot, win)
    n = len(win.favourites_panel.recipes)
    win.exporter.star_current()
    qtbot.waitUntil(lambda: len(win.favourites_panel.recipes) == n + 1, timeout=15000)


def open_ckpt(qtbot, win, path):
    with qtbot.waitSignal(win.modelLoaded, timeout=15000):
        win.open_checkpoint(path)
    settle(qtbot, win)


def click_favourite(win, i=0):
    panel = win.favourites_panel
    panel.list.itemClicked.emit(panel.list.item(i))


def test_favourite_records_its_checkpoint_and_persists_it(qtbot, win, two_ckpts):
    star(qtbot, win, 11)
    rec = win.favourites_panel.recipes[0]
    assert rec.checkpoint == 'a.pt' and rec.checkpoint_sha256 == win.info.sha256 and len(rec.checkpoint_sha256) == 64
    saved = json.loads(win.settings.value('favourites'))
    assert saved[0]['checkpoint_path'] == two_ckpts[0]
    assert saved[0]['recipe']['checkpoint_sha256'] == win.info.sha256


def test_favourite_reopens_its_checkpoint_then_restores(qtbot, win, two_ckpts):
    a, b, _ = two_ckpts
    star(qtbot, win, 11)
    open_ckpt(qtbot, win, b)
    win.latent_panel.seed.setValue(3)
    settle(qtbot, win)
    with qtbot.waitSignal(win.modelLoaded, timeout=15000) as blocker:
        click_favourite(win)
    assert blocker.args[0].path == a
    settle(qtbot, win)
    assert win.recipe.seeds == (11,) and win.frame_recipe.seeds == (11,)
    # The restored frame equals what the favourite showed when starred (same checkpoint).
    assert win.info.path == a


def test_favourite_of_an_open_checkpoint_restores_at_once(qtbot, win):
    star(qtbot, win, 11)
    win.latent_panel.seed.setValue(4)
    settle(qtbot, win)
    loads = []
    win.modelLoaded.connect(loads.append)
    click_favourite(win)
    settle(qtbot, win)
    assert win.recipe.seeds == (11,) and loads == []


def test_favourite_whose_checkpoint_is_gone_is_refused(qtbot, win, two_ckpts):
    import os
    a, b, _ = two_ckpts
    star(qtbot, win, 11)
    open_ckpt(qtbot, win, b)
    win.latent_panel.seed.setValue(3)
    os.remove(a)
    with qtbot.waitSignal(win.errorShown, timeout=5000) as blocker:
        click_favourite(win)
    assert 'a.pt' in blocker.args[0] and 'any more' in blocker.args[0]
    assert win.info.path == b and win.recipe.seeds == (3,)


def test_favourite_whose_checkpoint_changed_is_refused(qtbot, win, two_ckpts):
    import shutil
    a, b, _ = two_ckpts
    star(qtbot, win, 11)
    open_ckpt(qtbot, win, b)
    win.latent_panel.seed.setValue(3)
    shutil.copyfile(b, a)       # same name, other content
    errors = []
    win.errorShown.connect(errors.append)
    click_favourite(win)
    qtbot.waitUntil(lambda: any('changed' in e for e in errors), timeout=15000)
    qtbot.wait(100)
    assert win.info.path == b and win.recipe.seeds == (3,)
    assert any('favourite was not restored' in e for e in errors)
