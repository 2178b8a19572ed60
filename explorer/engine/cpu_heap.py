"""Keep freed CPU memory in the process between renders (glibc's malloc), so that a render does
not page-fault its buffers in afresh every time.

glibc serves large allocations with ``mmap`` and gives freed memory at the top of its heap back
to the system once more than a "trim threshold" is free. Both thresholds adapt at run time, and
with a render's buffers (a paper256 frame: tens of MB, allocated and freed on the calling thread
and on the CPU lanes) that adaptation often lands on trimming: measured on a 2-core EPYC,
paper256 ``G.synthesis`` at 2 threads, 4 processes: in 2 of them every call took 11-15 thousand
minor page faults and 152-168 ms median, in the others none and 140-151 ms; with the thresholds
set here, none in every process (138-148 ms). See bench/RESULTS.md ("glibc's heap").

``keep_freed_memory()`` sets glibc's ``M_MMAP_THRESHOLD`` (allocations up to it come from the
heap, whose freed memory is reused) and ``M_TRIM_THRESHOLD`` (up to this much free memory stays
with the process) once per process. The price: up to ``TRIM_THRESHOLD`` of memory freed after
a render stays in the process (it is reused by the next one) instead of going back to the
system. ``main.py`` calls it at start; the CPU fast paths call it before their first render, so
a script calling ``G.synthesis`` gets it too. ``EXPLORER_MALLOC=system`` keeps glibc's defaults.
Elsewhere (macOS, Windows, musl: no ``mallopt``) it does nothing.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import threading

log = logging.getLogger(__name__)

ENV = 'EXPLORER_MALLOC'
M_TRIM_THRESHOLD = -1           # glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLDS = (1 << 30, 32 << 20)   # tried in order: glibc versions cap the value (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 1 << 30

_lock = threading.Lock()
_state: str | None = None       # None: not tried yet; else a short description for `doctor`


def _mallopt():
    if not sys.platform.startswith('linux'):
        return None
    try:
        libc = ctypes.CDLL(None)
        fn = libc.mallopt
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def keep_freed_memory() -> str:
    """Set the thresholds once per process (see the module's docstring); returns the state:
    'set (mmap threshold N MiB, trim threshold M MiB)', 'off (EXPLORER_MALLOC=system)' or
    'not available (...)'. Never raises."""
    global _state
    if _state is not None:
        return _state
    with _lock:
        if _state is None:
            _state = _apply()
            log.debug('CPU heap: %s', _state)
        return _state


def state() -> str:
    """What ``keep_freed_memory`` did in this process ('not applied' before its first call)."""
    return _state or 'not applied'


def _apply() -> str:
    if os.environ.get(ENV, '').strip().lower() == 'system':
        return f'off ({ENV}=system)'
    mallopt = _mallopt()
    if mallopt is None:
        return 'not available (no glibc mallopt)'
    # The mmap threshold first: setting either value turns glibc's adaptation off, and the trim
    # threshold alone would leave the mmap threshold at its 128 KiB start (every buffer mmapped).
    for mmap_threshold in MMAP_THRESHOLDS:
        if mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1:
            break
    else:
        return 'not available (mallopt refused the mmap threshold)'
    if mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) != 1:
        return f'partly set (mmap threshold {mmap_threshold >> 20} MiB; trim threshold refused)'
    return f'set (mmap threshold {mmap_threshold >> 20} MiB, trim threshold {TRIM_THRESHOLD >> 20} MiB)'
