"""Fixtures shared by the window tests: a tiny checkpoint and a window showing it."""

import pytest
from ui_helpers import FakeEngine, make_window

from explorer.engine.checkpoint import save_generator


@pytest.fixture
def tiny_ckpt(tiny_G, tmp_path):
    return str(save_generator(tiny_G, tmp_path / 'tiny.pt'))


@pytest.fixture
def win(qtbot, tiny_ckpt):
    w = make_window(qtbot, checkpoint=tiny_ckpt, device='cpu')
    try:
        qtbot.waitUntil(lambda: w.frame is not None, timeout=15000)
        yield w
    finally:
        w.shutdown()


@pytest.fixture
def fake_win(qtbot):
    """A window on the fake session (tests/ui_helpers.FakeEngine), its first frame shown."""
    from explorer.ui.app import make_app
    make_app()
    from explorer.ui.main_window import MainWindow
    w = MainWindow(engine=FakeEngine())
    qtbot.addWidget(w)
    try:
        qtbot.waitUntil(lambda: w.frame is not None, timeout=10000)
        yield w
    finally:
        w.shutdown()
