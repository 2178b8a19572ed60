"""Directions "From labels…" (issue 16, InterFaceGAN) in the window with a tiny real generator: the
gallery's faces are the single renders of their seeds at the current psi, clicks cycle labels,
Fit (in the worker) recovers a planted linear rule as a direction that joins the set as a working
slider, conditional fits hold other directions fixed, Fit needs two faces of each sign."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

from PyQt6.QtCore import Qt  # noqa: E402

from explorer.engine.checkpoint import load_generator  # noqa: E402
from explorer.engine.export import to_uint8  # noqa: E402
from explorer.engine.recipe import Recipe  # noqa: E402
from explorer.engine.rendering import render  # noqa: E402
from explorer.ui.label_gallery import PAGE  # noqa: E402

PSI = 0.7


def open_gallery(qtbot, win, pages=1):
    win.apply_changes({'psi': PSI})
    win.directions_panel.labels_btn.click()
    g = win.directions.gallery
    assert g is not None and g.isVisible()
    qtbot.waitUntil(lambda: len(g.faces) == PAGE and not g.busy, timeout=20000)
    for n in range(2, pages + 1):
        g.more_btn.click()
        qtbot.waitUntil(lambda n=n: len(g.faces) == n * PAGE and not g.busy, timeout=20000)
    return g


def click(qtbot, face, times=1):
    for _ in range(times):
        qtbot.mouseClick(face, Qt.MouseButton.LeftButton)


def label(qtbot, g, signs):
    """Click each face to the label in ``signs`` (+1, -1, 0) from unlabelled."""
    for face, s in zip(g.faces, signs):
        click(qtbot, face, {0: 0, 1: 1, -1: 2}[int(s)])


def fit(qtbot, win, g, name):
    g.name.setText(name)
    assert g.fit_btn.isEnabled()
    with qtbot.waitSignal(win.worker.labelsReady, timeout=20000) as sig:
        g.fit_btn.click()
    assert sig.args[1] == 'fit' and sig.args[3] == '', sig.args
    qtbot.waitUntil(lambda: not g.busy, timeout=5000)


def test_gallery_faces_are_single_renders_at_the_current_psi(qtbot, win, tiny_ckpt):
    g = open_gallery(qtbot, win, pages=2)
    G = load_generator(tiny_ckpt, device='cpu')
    assert [f.seed for f in g.faces] == list(range(2 * PAGE))
    assert g.w.shape == (2 * PAGE, G.w_dim) and g.psi == PSI
    for f in g.faces[::7] + [g.faces[-1]]:
        single = to_uint8(render(G, Recipe(seeds=(f.seed,), psi=PSI), 'cpu'))
        assert np.array_equal(f.image, single), f.seed
    assert not np.array_equal(g.faces[0].image, g.faces[1].image)


def test_clicks_cycle_the_label_and_fit_needs_two_of_each_sign(qtbot, win):
    g = open_gallery(qtbot, win)
    f = g.faces[3]
    seen = []
    for _ in range(3):
        click(qtbot, f)
        seen.append((f.label, f.styleSheet()))
    assert [s[0] for s in seen] == [1, -1, 0]
    assert '#2a2' in seen[0][1] and '#d33' in seen[1][1] and 'transparent' in seen[2][1]
    assert not g.fit_btn.isEnabled()
    label(qtbot, g, [1, 1, -1])
    assert list(g.labels()[:3]) == [1, 1, -1] and not g.fit_btn.isEnabled()
    click(qtbot, g.faces[4], 2)
    assert g.fit_btn.isEnabled()
    click(qtbot, g.faces[0], 2)         # + -> -: one + left
    assert not g.fit_btn.isEnabled()


def test_fit_recovers_a_planted_rule_and_joins_the_set_as_a_slider(qtbot, win):
    p = win.directions_panel
    before = len(p.rows)
    g = open_gallery(qtbot, win, pages=2)
    v = np.random.RandomState(0).randn(g.w.shape[1])
    signs = np.where((g.w - g.w.mean(0)) @ v > 0, 1, -1)
    label(qtbot, g, signs)
    assert np.array_equal(g.labels(), signs)
    fit(qtbot, win, g, 'planted')
    assert len(p.rows) == before + 1 and p.dset.names[-1] == 'planted' and p.rows[-1].name.text() == 'planted'
    d = p.dset.vector(len(p.dset) - 1)
    assert abs(np.linalg.norm(d) - 1) < 1e-5
    assert abs(d @ v) / np.linalg.norm(v) > 0.8
    std = float(p.dset.std[-1])
    assert std > 0 and p.rows[-1].value.isEnabled()
    p.rows[-1].value.setValue(1.5)
    k = len(p.dset) - 1
    edits = [e for e in win.recipe.edits if e.vector == p.dset.edit_vector(k)]
    assert len(edits) == 1 and edits[0].amount == pytest.approx(1.5 * std)
    assert edits[0].layers == tuple(range(win.info.num_ws))


def test_conditional_fit_holds_the_ticked_direction_fixed(qtbot, win):
    p = win.directions_panel
    p.method.setCurrentIndex(p.method.findData('sefa'))
    p.count.setValue(3)
    with qtbot.waitSignal(win.worker.directionsReady, timeout=20000) as sig:
        p.compute_btn.click()
    assert sig.args[1] == ''
    g = open_gallery(qtbot, win)
    assert [g.hold.item(i).text() for i in range(g.hold.count())] == ['SeFa 0', 'SeFa 1', 'SeFa 2']
    held = p.dset.vector(1).copy()
    rule = np.random.RandomState(1).randn(g.w.shape[1]) + 3 * held     # leans on the held one
    label(qtbot, g, np.where((g.w - g.w.mean(0)) @ rule > 0, 1, -1))
    g.hold.item(1).setCheckState(Qt.CheckState.Checked)
    assert g.held() == [1]
    fit(qtbot, win, g, 'held')
    assert len(p.rows) == 4 and p.dset.names == ('SeFa 0', 'SeFa 1', 'SeFa 2', 'held')
    d = p.dset.vector(3)
    assert abs(float(d @ held)) < 1e-5
    assert abs(float(d @ p.dset.vector(0))) > 1e-3      # only the ticked one is projected out


def test_a_fit_that_cannot_be_made_is_a_line_in_the_dialog(qtbot, win):
    p = win.directions_panel
    p.method.setCurrentIndex(p.method.findData('sefa'))
    p.count.setValue(p.count.maximum())                 # w_dim directions: they span all of W
    with qtbot.waitSignal(win.worker.directionsReady, timeout=20000):
        p.compute_btn.click()
    rows = len(p.rows)
    g = open_gallery(qtbot, win)
    label(qtbot, g, [1, 1, -1, -1])
    for i in range(g.hold.count()):
        g.hold.item(i).setCheckState(Qt.CheckState.Checked)
    with qtbot.waitSignal(win.worker.labelsReady, timeout=20000) as sig:
        g.fit_btn.click()
    assert sig.args[3] and 'span' in sig.args[3]
    assert 'span' in g.message.text() and len(p.rows) == rows
