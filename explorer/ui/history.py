"""The window's undo history: recipes before each change, with coalescing (plain Python).

A control that sends a stream of changes to the same fields (a slider drag, key repeat,
the wheel) makes one undo step, not one per value: a change to the same set of fields
within ``UNDO_COALESCE_S`` of the previous one is not recorded again. A jump to a whole
state (a favourite, a recipe file, a grid cell) is always its own step.
"""

from __future__ import annotations

import time
from typing import Callable, Hashable

UNDO_COALESCE_S = 0.8       # same fields changed again within this: the same undo step
MAX_UNDO = 500              # older steps are forgotten


class UndoHistory:
    """Undo and redo stacks of states (any values, e.g. ``Recipe``); the caller owns the
    current state and hands it in on every call."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, limit: int = MAX_UNDO):
        self.undo_stack: list = []
        self.redo_stack: list = []
        self.limit = limit
        self._clock = clock
        self._key: Hashable | None = None   # the fields of the last change (None: no coalescing)
        self._t = 0.0

    def record(self, current, key: Hashable | None = None) -> None:
        """``current`` is about to be replaced. ``key`` names what changed (e.g. the sorted
        field names): the same key again within UNDO_COALESCE_S adds no step; None is
        always a step of its own. Clears the redo stack."""
        now = self._clock()
        if key is None or not (key == self._key and now - self._t < UNDO_COALESCE_S):
            self.undo_stack.append(current)
            del self.undo_stack[:-self.limit]
        self._key, self._t = key, now
        self.redo_stack.clear()

    def break_coalescing(self) -> None:
        """The next change is a step of its own, whatever it changes."""
        self._key = None

    def undo(self, current):
        """The state before ``current`` (which moves to the redo stack), or None."""
        if not self.undo_stack:
            return None
        self.redo_stack.append(current)
        self._key = None
        return self.undo_stack.pop()

    def redo(self, current):
        """The state undone last (``current`` moves back to the undo stack), or None."""
        if not self.redo_stack:
            return None
        self.undo_stack.append(current)
        self._key = None
        return self.redo_stack.pop()

    def clear(self) -> None:
        """Forget everything (another model: the old states may not fit it)."""
        self.undo_stack.clear()
        self.redo_stack.clear()
        self._key = None
