"""Seed keys are window shortcuts (issue 14 item 11).

Before, the arrows changed the seed only while the image had focus: after a click on Next
they moved focus between the buttons instead. Now ←/↓ and →/↑ (previous/next seed), R
(random seed), S (save) and Esc (focus the image) work wherever focus is on the Explore
tab; a focused text field or spin box keeps all of these keys, a focused slider, combo box
or list keeps its arrows (explorer.ui.keys).
"""

import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

from PyQt6.QtCore import Qt  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402
from ui_helpers import FakeEngine  # noqa: E402

K = Qt.Key


@pytest.fixture
def win(qtbot):
    from explorer.ui.main_window import MainWindow
    w = MainWindow(engine=FakeEngine())
    qtbot.addWidget(w)
    try:
        qtbot.waitUntil(lambda: w.frame is not None, timeout=5000)
        w.show()
        w.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5000)
        yield w
    finally:
        w.shutdown()


def seed(win):
    return win.last_request.recipe.seeds


def press(qtbot, key, text=''):
    """A key press where the focus is now (as a user's keyboard delivers it)."""
    target = QApplication.focusWidget()
    assert target is not None
    qtbot.keyClick(target, key)


def focus(qtbot, widget):
    widget.setFocus()
    qtbot.waitUntil(widget.hasFocus, timeout=2000)


def test_arrows_and_r_after_clicking_a_button(qtbot, win):
    lp = win.latent_panel
    lp.seed.setValue(30)
    qtbot.mouseClick(lp.next_btn, Qt.MouseButton.LeftButton)
    focus(qtbot, lp.next_btn)                           # (offscreen clicks may not move focus)
    assert seed(win) == (31,)
    press(qtbot, K.Key_Right)
    assert seed(win) == (32,) and lp.next_btn.hasFocus()   # the seed moved, not the focus
    press(qtbot, K.Key_Up)
    assert seed(win) == (33,)
    press(qtbot, K.Key_Left)
    press(qtbot, K.Key_Down)
    press(qtbot, K.Key_Left)
    assert seed(win) == (30,)
    before = seed(win)
    press(qtbot, K.Key_R)
    assert seed(win) != before and len(seed(win)) == 1
    for w in (lp.animate, win.noise_panel.reroll, win.view, lp.pad):    # a check box, other buttons, image, pad
        focus(qtbot, w)
        s = seed(win)[0]
        press(qtbot, K.Key_Right)
        assert seed(win) == (s + 1,), type(w).__name__


def test_text_fields_keep_their_keys(qtbot, win):
    lp = win.latent_panel
    lp.seed.setValue(500)
    focus(qtbot, lp.seed)
    edit = lp.seed.lineEdit()
    edit.setCursorPosition(3)
    press(qtbot, K.Key_Left)                            # moves the text cursor ...
    assert seed(win) == (500,) and edit.cursorPosition() == 2
    press(qtbot, K.Key_R)                               # ... 'r' is typing (rejected: digits only)
    assert seed(win) == (500,)
    press(qtbot, K.Key_Up)                              # a spin box's Up steps it, as it always did
    assert seed(win) == (501,)
    assert lp.seed.hasFocus()


def test_focused_slider_and_combo_keep_their_arrows_escape_gives_them_back(qtbot, win):
    tp = win.truncation_panel
    focus(qtbot, tp.psi.slider)
    before = seed(win)
    press(qtbot, K.Key_Left)
    assert seed(win) == before and win.last_request.recipe.psi == pytest.approx(0.99)
    press(qtbot, K.Key_R)                               # a letter is not the slider's: random seed
    assert seed(win) != before
    before = seed(win)
    press(qtbot, K.Key_Escape)                          # Esc: focus back to the image ...
    assert win.view.hasFocus()
    press(qtbot, K.Key_Right)                           # ... and the arrows step the seed again
    assert seed(win) == (before[0] + 1,)
    win.controls.setCurrentIndex(2)                     # Noise tab: the mode combo box
    focus(qtbot, win.noise_panel.mode)
    before = seed(win)
    press(qtbot, K.Key_Down)
    assert seed(win) == before and win.last_request.recipe.noise_mode == 'random'


def test_seed_keys_act_on_the_explore_tab_only(qtbot, win):
    lp = win.latent_panel
    lp.seed.setValue(7)
    win.tabs.setCurrentWidget(win.grid_panel)
    win.activateWindow()
    win.setFocus()
    qtbot.keyClick(win, K.Key_Right)
    assert seed(win) == (7,)
    win.tabs.setCurrentIndex(0)
    focus(qtbot, win.view)
    press(qtbot, K.Key_Right)
    assert seed(win) == (8,)


def test_keeps_key_rules():
    from PyQt6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QListWidget, QPushButton, QSlider, QWidget

    from explorer.ui.keys import keeps_key
    from explorer.ui.widgets import SeedBox
    parent = QWidget()
    box = SeedBox(parent=parent)
    cases = {
        QLineEdit(parent): {K.Key_Left: True, K.Key_Up: True, K.Key_R: True, K.Key_Escape: True},
        box: {K.Key_Left: True, K.Key_Up: True, K.Key_R: True},
        box.lineEdit(): {K.Key_Right: True, K.Key_R: True},
        QSlider(parent): {K.Key_Left: True, K.Key_Down: True, K.Key_R: False, K.Key_Escape: False},
        QComboBox(parent): {K.Key_Up: True, K.Key_R: False},
        QListWidget(parent): {K.Key_Right: True, K.Key_S: False},
        QPushButton(parent): {K.Key_Left: False, K.Key_R: False, K.Key_Escape: False},
        QCheckBox(parent): {K.Key_Up: False},
        None: {K.Key_Left: False},
    }
    for w, keys in cases.items():
        for key, kept in keys.items():
            assert keeps_key(w, key) == kept, (type(w).__name__, key)
    # Keys that are not the window's are never claimed; a modifier makes it another key.
    assert not keeps_key(QLineEdit(parent), K.Key_A)
    assert not keeps_key(QSlider(parent), K.Key_Left, Qt.KeyboardModifier.ControlModifier)
    assert keeps_key(QSlider(parent), K.Key_Left, Qt.KeyboardModifier.KeypadModifier)
