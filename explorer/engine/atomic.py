"""Write a file so that readers only ever see the old or the complete new version."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Callable


def _create_temp(path: Path, suffix: str):
    """A new empty file ``.NAME.RANDOM<suffix>`` beside ``path`` -> (fd, temp path).

    Created like any ordinary file (mode 0666 less the user's umask, so 0644 under umask
    022), not 0600 as ``tempfile.mkstemp`` makes it: the file is renamed into place and
    keeps its mode, and a snapshot or a saved generator is a file users share."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, 'O_BINARY', 0) | getattr(os, 'O_NOFOLLOW', 0)
    for _ in range(100):
        tmp = path.parent / f'.{path.name}.{secrets.token_hex(4)}{suffix}'
        try:
            return os.open(tmp, flags, 0o666), str(tmp)
        except FileExistsError:
            continue
    raise FileExistsError(f'no free temporary name beside {path}')


def atomic_write(path, write: Callable, suffix: str = '.tmp', check: Callable | None = None):
    """Call ``write(f)`` on a temp file beside ``path``, fsync it, run
    ``check(tmp_path, result_of_write)`` (which may raise to refuse the file), then rename it over
    ``path``. On any failure the temp file is removed and ``path`` is left as it was. Returns what
    ``write`` returned."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path, suffix)
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
