"""Opening user-named files safely: only regular files, never a FIFO or a device.

Opening a FIFO for reading blocks until some other process writes to it, and a device
such as ``/dev/zero`` or ``/dev/urandom`` never ends, so a checkpoint, image or latent
file is checked with ``stat`` (which never blocks) and opened with ``O_NONBLOCK``, then
checked again on the open descriptor. Anything but a regular file is refused at once
with an ``OSError`` whose ``strerror`` says what the path is.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from explorer.errors import UserError


class NotRegularFile(OSError):
    """The path exists but is a folder, FIFO, socket or device."""


def kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return 'a folder'
    if stat.S_ISFIFO(mode):
        return 'a FIFO (named pipe)'
    if stat.S_ISSOCK(mode):
        return 'a socket'
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return 'a device'
    return 'not a regular file'


def _refuse(path, mode):
    code = errno.EISDIR if stat.S_ISDIR(mode) else errno.EINVAL
    return NotRegularFile(code, f'is {kind_of(mode)}, not a regular file', str(path))


def require_regular_file(path) -> os.stat_result:
    """``os.stat`` of ``path`` (symlinks followed) if it is a regular file; otherwise
    ``FileNotFoundError`` / ``NotRegularFile``. Never blocks."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(path, st.st_mode)
    return st


def open_regular(path):
    """Open ``path`` for binary reading if it is a regular file (checked on the open
    descriptor, so a FIFO swapped in after a ``stat`` is refused too)."""
    path = Path(path)
    require_regular_file(path)
    flags = os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0) | getattr(os, 'O_CLOEXEC', 0) | getattr(os, 'O_BINARY', 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _refuse(path, st.st_mode)
        if hasattr(os, 'set_blocking'):
            os.set_blocking(fd, True)
        return os.fdopen(fd, 'rb')
    except BaseException:
        os.close(fd)
        raise


def writable_dir(path) -> Path:
    """Create the output folder ``path`` (and its parents); UserError when it cannot be written."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (OSError, FileExistsError) as e:
        raise UserError(f'cannot create output folder {path}: {e.strerror or e}') from None
    if not path.is_dir():
        raise UserError(f'output path {path} is not a folder')
    if not os.access(path, os.W_OK):
        raise UserError(f'output folder {path} is not writable')
    return path
