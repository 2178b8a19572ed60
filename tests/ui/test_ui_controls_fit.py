"""The Explore controls column fits at 1280x800 and above, for 1 to 18 style layers: every
controls tab is reachable without the tab bar's scroll arrows, the scrolled panels need no
horizontal scroll bar, every visible control lies inside the viewport and no layer name is
clipped (the noise rows' '16  1024x1024 conv', '17  1024x1024 torgb')."""

import dataclasses

import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

from PyQt6.QtCore import QPoint  # noqa: E402
from PyQt6.QtWidgets import (  # noqa: E402
    QAbstractButton,
    QAbstractSpinBox,
    QComboBox,
    QLabel,
    QScrollArea,
    QSlider,
    QStyle,
    QStyleOptionComboBox,
)
from ui_helpers import FakeEngine, fake_info  # noqa: E402

from explorer.engine.recipe import Recipe  # noqa: E402


def stylegan2_labels(num_ws):
    """The labels a StyleGAN2 generator gives its style inputs: '4x4 conv', '8x8 up', '8x8 conv',
    ..., the last 'RxR torgb' (18 at 1024 px)."""
    labels = []
    for i in range(num_ws):
        torgb = i == num_ws - 1 and i > 0
        res = 4 * 2 ** (i // 2 if torgb else (i + 1) // 2)
        labels.append(f'{res}x{res} {"torgb" if torgb else ("up" if i % 2 else "conv")}')
    return tuple(labels)


def stylegan2_info(num_ws):
    return dataclasses.replace(
        fake_info(num_ws=min(num_ws, 6)), num_ws=num_ws, layer_labels=stylegan2_labels(num_ws),
        layer_has_noise=(True,) * (num_ws - 1) + (False,), layer_noise_learned=None,
        groups=(('coarse', tuple(range(min(4, num_ws)))), ('middle', tuple(range(4, min(8, num_ws)))),
                ('fine', tuple(range(8, num_ws))), ('all', tuple(range(num_ws)))))


class LayeredEngine(FakeEngine):
    def __init__(self, num_ws):
        super().__init__()
        self.num_ws = num_ws

    def load(self, path, progress=None, sha256=None):
        return stylegan2_info(self.num_ws)


def misfits(area: QScrollArea) -> list[str]:
    """What a person could not see or reach on a scrolled controls tab: a horizontal scroll bar,
    a visible control past the viewport's left/right edge, a label whose text is cut off."""
    out = []
    if area.horizontalScrollBar().isVisible():
        out.append(f'horizontal scroll bar (panel {area.widget().width()} > viewport {area.viewport().width()})')
    vp = area.viewport()
    for cls in (QAbstractButton, QComboBox, QAbstractSpinBox, QSlider, QLabel):
        for c in area.widget().findChildren(cls):
            if not c.isVisible():
                continue
            x = c.mapTo(vp, QPoint(0, 0)).x()
            text = c.text() if hasattr(c, 'text') else ''
            if x < 0 or x + c.width() > vp.width():
                out.append(f'{type(c).__name__} {text!r} at x={x} w={c.width()} (viewport {vp.width()})')
            if isinstance(c, QLabel) and not c.wordWrap() and text and '<' not in text:
                need = c.fontMetrics().horizontalAdvance(text)
                if need > c.contentsRect().width():
                    out.append(f'label {text!r} clipped ({need} px text in {c.contentsRect().width()} px)')
            if isinstance(c, QComboBox) and c.currentText():
                opt = QStyleOptionComboBox()
                c.initStyleOption(opt)
                field = c.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, opt,
                                                 QStyle.SubControl.SC_ComboBoxEditField, c)
                need = c.fontMetrics().horizontalAdvance(c.currentText())
                if need > field.width():
                    out.append(f'combo text {c.currentText()!r} clipped ({need} px text in {field.width()} px)')
    return out


@pytest.mark.parametrize('num_ws,size', [(18, (1280, 800)), (18, (1600, 1000)), (1, (1280, 800)),
                                         (10, (1280, 800))])
def test_controls_column_fits(qtbot, num_ws, size):
    from explorer.ui.main_window import MainWindow
    win = MainWindow(engine=LayeredEngine(num_ws))
    qtbot.addWidget(win)
    try:
        win.resize(*size)
        win.show()
        qtbot.waitUntil(lambda: win.info is not None and win.frame is not None, timeout=10000)
        qtbot.wait(50)
        bar = win.controls.tabBar()
        assert bar.sizeHint().width() <= win.controls.width(), \
            f'controls tabs need {bar.sizeHint().width()} px, the column has {win.controls.width()}'
        for i in range(win.controls.count()):
            assert bar.rect().contains(bar.tabRect(i)), f'tab {win.controls.tabText(i)!r} is off the tab bar'
        problems = check_tabs(win, qtbot)
        assert not problems
        # With two mix sources with long seeds: the rows' source combos and the source rows.
        big = 2 ** 31 - 1
        win.restore_recipe(Recipe(seeds=(1,), mix_seeds=(big, big - 1), layer_source=(1,) * num_ws,
                                  layer_blend=(0.5,) * num_ws))
        qtbot.wait(50)
        assert not check_tabs(win, qtbot)
        assert win.layers_panel.source_combos[0].toolTip() == f'source 2 (seed {big - 1})'
        assert len(win.noise_panel.rows) == num_ws
    finally:
        win.shutdown()


def check_tabs(win, qtbot) -> dict:
    problems = {}
    for i in range(win.controls.count()):
        win.controls.setCurrentIndex(i)
        qtbot.wait(30)
        area = win.controls.currentWidget()
        if isinstance(area, QScrollArea):
            found = misfits(area)
            if found:
                problems[win.controls.tabText(i)] = found
    return problems
