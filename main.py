"""StyleGAN Explorer entry point: no arguments -> GUI; subcommands -> headless CLI."""

import os
import sys

# Before anything imports torch: PyTorch's CPU allocator backs large tensors with transparent
# huge pages (2 MiB) when this is 1, read once at torch's import. A config-f 1024 render then
# takes ~2.7x fewer page faults and `render --seeds 0-4` ran ~4% faster (256 px: no change
# beyond noise); see docs/architecture.md. A value the user set is kept (0 turns it off).
os.environ.setdefault('THP_MEM_ALLOC_ENABLE', '1')

from explorer.cli import main  # noqa: E402 - after the environment above
from explorer.engine.cpu_heap import keep_freed_memory  # noqa: E402

# glibc keeps freed memory for the next render instead of page-faulting it in again every time
# (explorer/engine/cpu_heap.py; EXPLORER_MALLOC=system keeps glibc's defaults).
keep_freed_memory()


def finish(code) -> None:
    """Exit with ``code``. In a torchrun worker the work is done and the process group left by
    now; the interpreter's C++ teardown then aborted now and then ("terminate called without an
    active exception", SIGABRT, in about 1 of 20 two-rank renders: a native thread of torch's
    distributed/threading runtime still joinable at static destruction), which torchrun reports
    as a failed job. So there, after joining our own threads and flushing logs and streams, the
    process ends with ``os._exit`` (no C++ static destructors); elsewhere a normal ``sys.exit``."""
    from explorer.training.distributed import launched_by_torchrun
    if not launched_by_torchrun():
        sys.exit(code)
    import logging
    import threading
    for t in threading.enumerate():
        if t is not threading.main_thread() and not t.daemon:
            t.join()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


if __name__ == '__main__':
    finish(main())
