"""Every worker the app starts (render and training threads, torchrun processes) registers here,
so shutdown code and the tests can find the ones still running (tests/conftest.py fails a test
that leaves one). A WeakSet: a finished worker that nobody holds disappears on its own."""

from __future__ import annotations

import weakref

LIVE_WORKERS: weakref.WeakSet = weakref.WeakSet()


def track(worker):
    """Register ``worker`` (anything with ``isRunning()`` and ``stop()``); returns it."""
    LIVE_WORKERS.add(worker)
    return worker


def running() -> list:
    """The registered workers whose thread or process is still running."""
    return [w for w in list(LIVE_WORKERS) if w.isRunning()]
