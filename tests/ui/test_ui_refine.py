"""The refine scheduler (explorer.ui.refine): burst detection and refine-on-pause, with a fake
clock, fake timers and a fake window; no Qt."""

from dataclasses import dataclass

from explorer.ui import refine
from explorer.ui.refine import BURST_S, RefineScheduler, ViewState


@dataclass(frozen=True)
class Req:
    request_id: int
    recipe: str
    interactive: bool

    def key(self):
        return (self.recipe, self.interactive)

    def option(self, name):
        return True if name == 'interactive' and self.interactive else None


class FakeTimer:
    def __init__(self):
        self.running = False
        self.starts = 0

    def start(self):
        self.running, self.starts = True, self.starts + 1

    def stop(self):
        self.running = False


class FakeWindow:
    """Submits requests like MainWindow.submit and shows results like _on_result."""

    def __init__(self):
        self.t = 0.0
        self.held = False
        self.last = self.shown = None
        self.shown_id = 0
        self.preview = False
        self.idle, self.held_timer = FakeTimer(), FakeTimer()
        self.sched = RefineScheduler(held=lambda: self.held, view=self.view, refine=self.refine,
                                     idle_timer=self.idle, held_timer=self.held_timer, clock=lambda: self.t)
        self.refines = 0

    def view(self):
        return ViewState(self.last, self.shown, self.shown_id, self.preview)

    def submit(self, recipe, interactive):
        self.sched.submitted(interactive)
        self.last = Req((self.last.request_id if self.last else 0) + 1, recipe, interactive)
        return self.last

    def change(self, recipe):
        """A control changed (as apply_changes)."""
        return self.submit(recipe, self.sched.change_is_interactive())

    def refine(self):
        self.refines += 1
        self.submit(self.last.recipe, False)

    def show(self, req, preview):
        self.shown_id, self.shown, self.preview = req.request_id, req, preview
        self.sched.refine_if_due()


def test_burst_detection_by_time_and_by_hold():
    w = FakeWindow()
    assert w.sched.change_is_interactive() is False         # the first change
    w.t += BURST_S / 2
    assert w.sched.change_is_interactive() is True          # soon after the previous one
    w.t += BURST_S * 2
    assert w.sched.change_is_interactive() is False         # a pause
    w.held = True
    w.t += BURST_S * 2
    assert w.sched.change_is_interactive() is True          # slow, but a drag is held


def test_burst_window_is_read_when_asked(monkeypatch):
    monkeypatch.setattr(refine, 'BURST_S', 3600.0)          # what the GUI tests use
    w = FakeWindow()
    w.sched.change_is_interactive()
    w.t += 10.0
    assert w.sched.change_is_interactive() is True


def test_interactive_submit_starts_both_timers_and_others_stop_them():
    w = FakeWindow()
    w.submit('a', True)
    assert w.idle.running and w.held_timer.running
    w.submit('a', True)
    assert w.idle.starts == 2                                # restarted by each change
    w.submit('b', False)
    assert not w.idle.running and not w.held_timer.running


def test_idle_pause_refines_a_preview_once_it_is_shown():
    w = FakeWindow()
    req = w.submit('a', True)
    w.sched.idle_elapsed()                 # paused before the preview arrived: waits for it
    assert w.refines == 0
    w.show(req, preview=True)
    assert w.refines == 1 and w.last.recipe == 'a' and not w.last.interactive
    w.show(w.last, preview=False)
    assert w.refines == 1                  # the refine itself is not refined again


def test_idle_pause_does_not_refine_a_full_frame():
    w = FakeWindow()
    req = w.submit('a', True)
    w.show(req, preview=False)             # a fast model: the interactive frame is full already
    w.sched.idle_elapsed()
    w.sched.released()
    assert w.refines == 0 and w.last is req


def test_idle_pause_while_held_waits_for_the_held_pause_or_the_release():
    w = FakeWindow()
    w.held = True
    req = w.submit('a', True)
    w.show(req, preview=True)
    w.sched.idle_elapsed()
    assert w.refines == 0
    w.sched.held_elapsed()                 # held still for HELD_REFINE_MS: refine while held
    assert w.refines == 1 and w.held


def test_held_pause_without_a_hold_does_nothing():
    w = FakeWindow()
    req = w.submit('a', True)
    w.show(req, preview=True)
    w.sched.held_elapsed()
    assert w.refines == 0


def test_release_refines_at_once_and_stops_the_timers():
    w = FakeWindow()
    w.held = True
    req = w.submit('a', True)
    w.show(req, preview=True)
    w.held = False
    w.sched.released()
    assert w.refines == 1
    assert not w.idle.running and not w.held_timer.running


def test_grabbed_again_before_the_preview_arrived_leaves_the_refine_to_the_release():
    w = FakeWindow()
    req = w.submit('a', True)
    w.sched.idle_elapsed()                 # nothing held: a refine is pending
    w.held = True                          # ... but the slider is grabbed again
    w.show(req, preview=True)
    assert w.refines == 0
    w.held = False
    w.show(req, preview=True)              # no pending refine is left over
    assert w.refines == 0
    w.sched.released()
    assert w.refines == 1


def test_a_newer_change_cancels_the_pending_refine():
    w = FakeWindow()
    first = w.submit('a', True)
    w.sched.idle_elapsed()
    w.submit('b', True)                    # the input moved on
    w.show(first, preview=True)
    assert w.refines == 0


def test_waits_for_the_newest_request_unless_an_older_one_shows_the_same():
    w = FakeWindow()
    first = w.submit('a', True)
    w.show(first, preview=True)
    second = w.submit('a', True)           # the same recipe again (the worker skips it)
    w.sched.idle_elapsed()
    assert w.refines == 1                  # the frame on screen already shows it
    w.submit('b', True)
    third = w.submit('c', True)
    w.sched.idle_elapsed()
    w.show(second, preview=True)           # an older frame: keep waiting
    assert w.refines == 1
    w.show(third, preview=True)
    assert w.refines == 2 and w.last.recipe == 'c'


def test_nothing_to_refine_without_an_interactive_request():
    w = FakeWindow()
    w.sched.idle_elapsed()
    w.sched.released()
    req = w.submit('a', False)
    w.show(req, preview=True)
    w.sched.released()
    assert w.refines == 0

