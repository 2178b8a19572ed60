"""Which keys the window's seed shortcuts leave to the focused widget.

The arrow keys (previous/next seed), R (random seed), S (save PNG) and Esc are window
shortcuts: they work wherever focus is in the Explore tab, including after a click on a
button or check box (which would otherwise move focus with the arrows). A focused widget
keeps a key when it uses that key itself:

- text fields and spin boxes (the seed boxes included) keep every one of these keys: typing
  and editing mean what they always do (Up/Down step a spin box, Left/Right move the cursor);
- sliders, combo boxes, lists and tab bars keep the arrow keys: a slider that was just
  dragged can be nudged a step at a time, a list or combo box moves its selection.

Esc (when the focused widget does not keep it) gives focus back to the image, and so do a
click on the image or on the latent pad: the arrows step the seed again.

The window asks ``keeps_key`` when Qt offers the key to the focused widget first (the
ShortcutOverride event, see MainWindow.event); accepting it there hands the key press to
the widget instead of the shortcut.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QTabBar,
    QTextEdit,
)

ARROW_KEYS = (Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down)
SEED_KEYS = ARROW_KEYS + (Qt.Key.Key_R, Qt.Key.Key_S, Qt.Key.Key_Escape)

TEXT_WIDGETS = (QLineEdit, QAbstractSpinBox, QTextEdit, QPlainTextEdit)
ARROW_WIDGETS = (QAbstractSlider, QComboBox, QAbstractItemView, QTabBar)


def keeps_key(widget, key, modifiers=Qt.KeyboardModifier.NoModifier) -> bool:
    """Does the focused ``widget`` use ``key`` itself (so a window shortcut must not take it)?
    Only the plain SEED_KEYS are ever taken from a widget; anything else is not our business."""
    try:
        key = Qt.Key(key)
    except ValueError:
        return False
    plain = Qt.KeyboardModifier(modifiers) & ~Qt.KeyboardModifier.KeypadModifier == Qt.KeyboardModifier.NoModifier
    if key not in SEED_KEYS or not plain:
        return False
    w = widget
    while w is not None:
        if isinstance(w, TEXT_WIDGETS):
            return True
        if key in ARROW_KEYS and isinstance(w, ARROW_WIDGETS):
            return True
        if w.isWindow():
            break
        w = w.parentWidget()
    return False
