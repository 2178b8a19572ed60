"""The undo history (explorer.ui.history): plain Python, a fake clock, no Qt."""


import pytest

from explorer.ui.history import MAX_UNDO, UNDO_COALESCE_S, UndoHistory

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_undo_redo_round_trip():
    h = UndoHistory(clock=Clock())
    assert h.undo('a') is None and h.redo('a') is None
    h.record('a', key=('seeds',))
    h.record('b', key=None)
    assert h.undo('c') == 'b'
    assert h.undo('b') == 'a'
    assert h.undo('a') is None
    assert h.redo('a') == 'b' and h.redo('b') == 'c' and h.redo('c') is None
    assert h.undo_stack == ['a', 'b'] and h.redo_stack == []


def test_same_fields_within_the_window_coalesce():
    clock = Clock()
    h = UndoHistory(clock=clock)
    h.record(1, key=('psi',))
    clock.t += UNDO_COALESCE_S / 2
    h.record(2, key=('psi',))                # the same drag: no new step
    clock.t += UNDO_COALESCE_S / 2           # measured from the previous change, not the first
    h.record(3, key=('psi',))
    assert h.undo_stack == [1]
    clock.t += UNDO_COALESCE_S * 1.5         # a pause: a new step
    h.record(4, key=('psi',))
    h.record(5, key=('seeds',))              # other fields: a new step at once
    assert h.undo_stack == [1, 4, 5]


def test_none_key_and_break_coalescing_make_their_own_steps():
    h = UndoHistory(clock=Clock())
    h.record(1, key=None)
    h.record(2, key=None)
    h.record(3, key=('psi',))
    h.break_coalescing()
    h.record(4, key=('psi',))
    assert h.undo_stack == [1, 2, 3, 4]


def test_undo_and_redo_end_coalescing():
    h = UndoHistory(clock=Clock())
    h.record(1, key=('psi',))
    assert h.undo(2) == 1
    h.record(1, key=('psi',))                # a change right after undo is its own step
    assert h.undo_stack == [1]
    h.record(3, key=('psi',))
    assert h.undo_stack == [1]               # ... and then coalesces as usual


def test_a_change_clears_redo():
    h = UndoHistory(clock=Clock())
    h.record(1)
    assert h.undo(2) == 1
    assert h.redo_stack == [2]
    h.record(1, key=('seeds',))
    assert h.redo_stack == [] and h.redo(9) is None


def test_limit_keeps_the_newest_steps():
    h = UndoHistory(clock=Clock(), limit=3)
    for i in range(5):
        h.record(i)
    assert h.undo_stack == [2, 3, 4]
    assert UndoHistory().limit == MAX_UNDO


def test_clear_forgets_steps_and_coalescing():
    h = UndoHistory(clock=Clock())
    h.record(1, key=('psi',))
    h.undo(2)
    h.clear()
    assert h.undo_stack == [] and h.redo_stack == []
    h.record(3, key=('psi',))                # not coalesced with the change before clear()
    assert h.undo_stack == [3]


def test_slider_drag_is_one_undo_step(win):
    start = win.recipe
    for v in range(200, 140, -5):
        win.truncation_panel.psi.slider.setValue(v)
    assert win.recipe.psi == pytest.approx(0.45)
    win.undo()
    assert win.recipe == start
