"""Fixtures shared by the window tests: a tiny checkpoint and a window showing it."""

import pytest
from ui_helpers import make_window

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
