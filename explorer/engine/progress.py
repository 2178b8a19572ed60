"""Progress reporting without Qt: the callback protocol and the exception that cancels work.

A progress callback is ``progress(done, total, text='')``; it may raise ``Cancelled`` to
stop the work (the GUI uses that for its Cancel buttons). The CLI draws these calls as
a tqdm bar (``explorer.commands._common.TextProgress``).
"""

from __future__ import annotations


class Cancelled(Exception):
    """Raised from a progress callback to cancel long work."""
