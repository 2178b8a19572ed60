"""Write a file so that readers only ever see the old or the complete new version."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def atomic_write(path, write: Callable, suffix: str = '.tmp', check: Callable | None = None):
    """Call ``write(f)`` on a temp file beside ``path``, fsync it, run
    ``check(tmp_path, result_of_write)`` (which may raise to refuse the file), then rename it over
    ``path``. On any failure the temp file is removed and ``path`` is left as it was. Returns what
    ``write`` returned."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, 'wb') as f:
            result = write(f)
            f.flush()
            os.fsync(f.fileno())
        if check is not None:
            check(tmp, result)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return result
