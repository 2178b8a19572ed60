"""The log file: one setup for the CLI and the GUI.

``setup_logging()`` sends the ``explorer`` and ``kernels`` loggers to a rotating file in
the user's state folder (``explorer.paths.log_dir()``: ``STYLEGAN_EXPLORER_STATE/log``
when that is set, as in the tests). Users see one clear line (stderr, status bar,
dialog); the file keeps the stack trace (``logger.exception`` where errors are caught).
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from explorer.paths import log_dir

LOG_NAME = 'explorer.log'
FORMAT = '%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s'
_LOGGERS = ('explorer', 'kernels')


class _LogFile(logging.handlers.RotatingFileHandler):
    """The handler setup_logging attaches (told apart from handlers others attach)."""


def setup_logging(level: int = logging.INFO) -> Path | None:
    """Attach the rotating log file (1 MB x 3) once per process and per folder; returns its path,
    or None when the folder cannot be written (logging then stays off; the app still runs)."""
    try:
        path = log_dir() / LOG_NAME
    except OSError:
        return None
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(level)
        for h in list(logger.handlers):
            if isinstance(h, _LogFile):
                if Path(h.baseFilename) == path:
                    break
                logger.removeHandler(h)     # the state folder changed (tests): move to the new file
                h.close()
        else:
            try:
                handler = _LogFile(path, maxBytes=1 << 20, backupCount=3, encoding='utf-8', delay=True)
            except OSError:
                return None
            handler.setFormatter(logging.Formatter(FORMAT))
            logger.addHandler(handler)
    return path
