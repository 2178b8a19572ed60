"""The per-layer styles panel fits the controls column: every button, combo and value box
lies inside the scroll area's viewport at 1280x800 and 1400x900, for 1 to 18 style layers,
with long source names (10-digit seeds) and after a recipe with mixing is restored."""

import dataclasses

import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

from PyQt6.QtCore import QPoint  # noqa: E402
from PyQt6.QtWidgets import QAbstractSpinBox, QComboBox, QPushButton  # noqa: E402
from ui_helpers import FakeEngine, fake_info  # noqa: E402

from explorer.engine.recipe import Recipe  # noqa: E402


def layered_info(num_ws):
    labels = tuple(f'{4 * 2 ** (i // 2)}x{4 * 2 ** (i // 2)} {"conv" if i % 2 == 0 else "up"}' for i in range(num_ws))
    return dataclasses.replace(
        fake_info(num_ws=min(num_ws, 6)), num_ws=num_ws, layer_labels=labels, layer_has_noise=(True,) * num_ws,
        groups=(('coarse', tuple(range(min(4, num_ws)))), ('middle', tuple(range(4, min(8, num_ws)))),
                ('fine', tuple(range(8, num_ws))), ('all', tuple(range(num_ws)))))


class LayeredEngine(FakeEngine):
    def __init__(self, num_ws):
        super().__init__()
        self.num_ws = num_ws

    def load(self, path, progress=None, sha256=None):
        return layered_info(self.num_ws)


def clipped_controls(win):
    """Visible controls of the layers tab that reach past the viewport's left or right edge."""
    area = win.controls.currentWidget()
    assert area.widget() is win.layers_panel
    vp = area.viewport()
    out = []
    for cls in (QPushButton, QComboBox, QAbstractSpinBox):
        for c in win.layers_panel.findChildren(cls):
            if c.isVisible():
                x = c.mapTo(vp, QPoint(0, 0)).x()
                if x < 0 or x + c.width() > vp.width():
                    out.append(f'{type(c).__name__} {getattr(c, "text", lambda: "")()!r} at x={x} w={c.width()} '
                               f'(viewport {vp.width()})')
    return out


@pytest.mark.parametrize('num_ws,size', [(18, (1280, 800)), (18, (1400, 900)), (1, (1280, 800)), (6, (1400, 900))])
def test_layers_panel_controls_inside_viewport(qtbot, num_ws, size):
    from explorer.ui.main_window import MainWindow
    win = MainWindow(engine=LayeredEngine(num_ws))
    qtbot.addWidget(win)
    try:
        win.resize(*size)
        win.show()
        qtbot.waitUntil(lambda: win.info is not None and win.frame is not None, timeout=10000)
        win.controls.setCurrentWidget(win.layers_panel.parentWidget().parentWidget())
        qtbot.wait(50)
        assert not clipped_controls(win)
        # A restored recipe with two sources with long seeds (the combos list 'source k (seed N)').
        big = 2 ** 31 - 1
        win.restore_recipe(Recipe(seeds=(1,), mix_seeds=(big, big - 1), layer_source=(1,) * num_ws,
                                  layer_blend=(0.5,) * num_ws))
        qtbot.wait(50)
        assert len(win.layers_panel.mix_spins) == 2
        assert not clipped_controls(win)
        # Every row's value box is reachable and works.
        win.layers_panel.blend_sliders[-1].spin.setValue(0.25)
        assert win.recipe.layer_blend[-1] == pytest.approx(0.25)
        win.layers_panel.preset_buttons['none'].click()
        assert win.recipe.layer_source == (-1,) * num_ws
    finally:
        win.shutdown()
