"""The latent pad is a map of seed space that moves with the pointer (issue 14 item 4).

Before: the drag moved 1 seed per 160 px while the grid was drawn ~96 px apart, the cross
jumped between cells, dragging toward the label of seed 11 blended toward seed 9 with no
visible reason, and long seed labels overlapped. Now one model: the grid (dots, lines,
labels) is drawn at PIXELS_PER_SEED, the drag moves it by exactly the pointer's motion (the
point of seed space under the pointer stays under it), and the cross in the middle is the
position. Labels sit inside their own cells, elided to fit.
"""

import math

import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

from PyQt6.QtCore import QPoint, QPointF, QRectF, Qt  # noqa: E402
from PyQt6.QtGui import QFontMetricsF  # noqa: E402

from explorer.ui.panels.latent import STEP_Y, LatentPad, LatentPanel, pad_seeds  # noqa: E402

MAX = 2 ** 32 - 1


@pytest.fixture
def pad(qtbot):
    p = LatentPad()
    p.resize(474, 230)
    qtbot.addWidget(p)
    p.show()
    qtbot.waitExposed(p)
    return p


def seed_value(u, v):
    """The (fractional) seed at pad point (u, v), modulo 2^32."""
    return (u + STEP_Y * v) % 2 ** 32


def drag(qtbot, pad, start: QPointF, moves):
    qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=start.toPoint())
    for p in moves:
        qtbot.mouseMove(pad, p.toPoint())
    qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=moves[-1].toPoint())


def test_drawn_grid_and_drag_use_one_scale(pad):
    pad.set_position(10, 0)
    s = pad.PIXELS_PER_SEED
    a, b, c = pad.to_screen(10, 0), pad.to_screen(11, 0), pad.to_screen(10, 1)
    assert a == pad.centre()                            # the position is drawn at the cross
    assert (b.x() - a.x(), b.y() - a.y()) == (s, 0)     # seed 11 one grid step right ...
    assert (c.x() - a.x(), c.y() - a.y()) == (0, s)     # ... seed 110 one step down
    labels = {lab.seed: lab for lab in pad.label_layout()}
    for seed, (i, j) in ((10, (10, 0)), (11, (11, 0)), (110, (10, 1)), (9, (9, 0))):
        assert labels[seed].point == (i, j)
        p = pad.to_screen(i, j)
        rect = labels[seed].rect                        # next to its dot: right of it, below (or above)
        assert p.x() < rect.left() < p.x() + 10
        if seed == 10:                                  # under the cross: just below the cross's arm
            assert rect.top() == pad.centre().y() + 11
        else:
            assert p.y() < rect.top() < p.y() + 10 or p.y() - 10 < rect.bottom() < p.y()


@pytest.mark.parametrize('xy', [(10, 0), (10.12, 0.15), (10.05, 0.7), (10.5, 0.5), (10.9, 0.1), (10.02, 0.95)])
def test_the_cross_never_covers_a_label(pad, xy):
    pad.set_position(*xy)
    c = pad.centre()
    cross = QRectF(c.x() - 10, c.y() - 10, 20, 20)
    labels = pad.label_layout()
    weighted = [lab for lab in labels if lab.weight]
    assert weighted and max(lab.weight for lab in weighted) >= 0.25   # the blend's seeds stay labelled
    fm = QFontMetricsF(pad.font())
    for lab in labels:                                  # the text itself (a rect spans its whole cell)
        inked = QRectF(lab.rect.left(), lab.rect.top(), max(fm.horizontalAdvance(t) for t in lab.text.split('\n')),
                       lab.rect.height())
        assert not inked.intersects(cross), (xy, lab)


def test_the_grid_under_the_pointer_moves_with_the_pointer(qtbot, pad):
    pad.set_position(10, 0)
    moved = []
    pad.moved.connect(lambda x, y: moved.append((x, y)))
    grab = pad.to_screen(11, 0)                         # press on seed 11's dot ...
    path = [grab + QPointF(-12, 0), grab + QPointF(-40, 3), grab + QPointF(-96, 0)]
    centre = pad.centre()
    drag(qtbot, pad, grab, path)
    # ... and drag it onto the cross: seed 11 is under the pointer all the way and ends at the cross.
    assert pad.centre() == centre                       # the cross never jumps
    assert pad.to_pad(QPointF(path[-1])) == pytest.approx((11.0, 0.0), abs=1e-6)
    assert (pad.x, pad.y) == pytest.approx((11.0, 0.0), abs=1e-6)
    assert pad_seeds(pad.x, pad.y)[0] == (11,)
    assert len(moved) == 3


def test_each_step_of_a_drag_keeps_the_grabbed_point_under_the_pointer(qtbot, pad):
    pad.set_position(37.25, 4.5)
    start = QPointF(150, 90)
    grabbed = seed_value(*pad.to_pad(start))
    qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=start.toPoint())
    for d in (QPointF(5, 0), QPointF(30, -7), QPointF(-60, 20), QPointF(200, -50), QPointF(-130, 90)):
        p = QPointF(start + d)
        qtbot.mouseMove(pad, p.toPoint())
        assert seed_value(*pad.to_pad(p)) == pytest.approx(grabbed, abs=1e-6)
        assert pad.held
    qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=p.toPoint())
    assert not pad.held


def test_direction_matches_the_map(qtbot):
    """Dragging the map right brings the lower seeds (left of the cross) under it; dragging it
    up brings the row below (seed + 100)."""
    panel = LatentPanel()
    qtbot.addWidget(panel)
    panel.resize(520, 500)
    panel.show()
    got = []
    panel.changed.connect(got.append)
    panel.seed.setValue(10)
    pad = panel.pad
    c = QPointF(pad.width() / 2, pad.height() / 2)
    drag(qtbot, pad, c, [c + QPointF(pad.PIXELS_PER_SEED / 2, 0)])
    assert got[-1]['seeds'] == (9, 10, 109, 110) and got[-1]['seed_weights'] == pytest.approx((0.5, 0.5, 0, 0))
    panel.seed.setValue(20)
    drag(qtbot, pad, c, [c + QPointF(0, -pad.PIXELS_PER_SEED / 4)])
    assert got[-1]['seeds'] == (20, 21, 120, 121) and got[-1]['seed_weights'] == pytest.approx((0.75, 0, 0.25, 0))
    assert panel.seed.value() == 20


@pytest.mark.parametrize('size', [(474, 230), (220, 230)])
@pytest.mark.parametrize('xy', [(10, 0), (95.5, 42949672.5), (MAX % STEP_Y + 0.3, MAX // STEP_Y + 0.7),
                                (3.9, 1234567.1), (3.98, 1234567.02), (50.03, 7.97)])
def test_long_seed_labels_never_overlap(pad, size, xy):
    fm = QFontMetricsF(pad.font())
    pad.resize(*size)
    pad.set_position(*xy)
    labels = pad.label_layout()
    assert len(labels) >= (8 if size[0] > 400 else 4)
    for k, a in enumerate(labels):
        for b in labels[k + 1:]:
            assert not a.rect.intersects(b.rect), (a.text, b.text)
        for line in a.text.split('\n'):
            assert fm.horizontalAdvance(line) <= a.rect.width() + 0.5, line
        assert a.rect.width() < pad.PIXELS_PER_SEED and a.rect.height() < pad.PIXELS_PER_SEED
        assert QRectF(pad.rect()).contains(a.rect)     # never cut by an edge (a cut number misleads)
    weights = [lab.weight for lab in labels if lab.weight]
    if size[0] > 400:                   # the four blended seeds are all labelled ...
        assert sum(weights) == pytest.approx(1.0)
    else:                               # ... on a narrow pad at least the nearest one
        assert max(weights) == pytest.approx(max(pad_seeds(*xy)[1]), abs=1e-3)
    big = [lab for lab in labels if lab.seed >= 10 ** 9]
    if big:     # ten-digit seeds: full, or elided from the left (the digits that differ stay)
        for lab in big:
            first = lab.text.split('\n')[0]
            assert first == str(lab.seed) or (first.startswith('…') and str(lab.seed).endswith(first[1:]))
    pad.grab()                          # paints without error


def test_narrow_pad_elides_from_the_left(pad):
    pad.PIXELS_PER_SEED = 48.0          # cells too narrow for ten digits
    pad.set_position(95, 42949672)      # seed 4294967295
    lab = next(lab for lab in pad.label_layout() if lab.seed == MAX)
    first = lab.text.split('\n')[0]
    assert first.startswith('…') and '4294967295'.endswith(first[1:]) and len(first) >= 3
    pad.grab()


def test_wrap_position_keeps_the_seeds():
    from explorer.ui.panels.latent import wrap_position
    for x, y in ((-0.25, 0), (100.5, 3), (-150.25, 7.5), (95.5, 42949672), (96.25, 42949672.5), (10, -1)):
        wx, wy = wrap_position(x, y)
        assert 0 <= wx < STEP_Y and 0 <= math.floor(wx) + STEP_Y * math.floor(wy) <= MAX
        assert pad_seeds(wx, wy) == pad_seeds(x, y)


def test_pad_click_takes_focus_so_arrows_step_seeds(qtbot, pad):
    assert pad.focusPolicy() & Qt.FocusPolicy.ClickFocus
    qtbot.mouseClick(pad, Qt.MouseButton.LeftButton, pos=QPoint(20, 20))
    assert pad.hasFocus()
