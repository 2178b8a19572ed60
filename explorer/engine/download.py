"""Download a checkpoint URL once into the user's cache, never trusting a partial file.

``fetch(url, progress=cb)`` returns the cached path. A download goes to a temp file
in the cache folder; only after its length matches ``Content-Length``, its bytes
look like a complete checkpoint (zip directory present / pickle STOP opcode) and an
optional ``#sha256=<hex>`` fragment matches is it renamed to its final name, which
is derived from a hash of the URL. Anything else deletes the temp file.

``progress(done, total, text)`` may raise ``explorer.engine.progress.Cancelled``.

A server is untrusted: a download is refused when it announces, or sends, more than
``max_bytes`` (default 4 GiB, env ``STYLEGAN_EXPLORER_DOWNLOAD_MAX_BYTES``), stopped when it
takes longer than ``deadline`` seconds in all (default 3 hours, env
``STYLEGAN_EXPLORER_DOWNLOAD_TIMEOUT``) or stalls (less than ``STALL_MIN_BYTES`` in any
``timeout`` seconds, default 60, env ``STYLEGAN_EXPLORER_DOWNLOAD_STALL``). Every failure is one
line. The temp file is named with the process id; ``.part`` files whose process is gone
(killed mid-download) or that stopped growing long ago are deleted by the next download,
and in the main thread SIGTERM / SIGHUP during a download remove it before the process ends.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import signal
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from explorer.engine.atomic import atomic_write
from explorer.errors import CheckpointError
from explorer.paths import cache_dir

CHUNK = 1 << 16
USER_AGENT = 'stylegan-explorer'
DEFAULT_MAX_BYTES = 4 << 30         # Far above real checkpoints (the largest NVIDIA ones are ~1 GB).
DEFAULT_DEADLINE = 3 * 3600.0       # Seconds for a whole download.
DEFAULT_STALL = 60.0                # Seconds without STALL_MIN_BYTES arriving.
STALL_MIN_BYTES = 1024
STALE_PART_SECONDS = 3600.0         # A .part untouched this long is abandoned even if its PID lives.


def _env_number(name, default, kind=float):
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise CheckpointError(name, f'environment variable must be a number, got {text!r}') from None
    if not value > 0 or value != value or value == float('inf'):
        raise CheckpointError(name, f'environment variable must be a finite number > 0, got {text!r}')
    return value


def limits(max_bytes=None, deadline=None, timeout=None) -> tuple[int, float, float]:
    """(max bytes, total seconds, stall seconds): the arguments, else the environment, else defaults."""
    return (int(max_bytes if max_bytes is not None else
                _env_number('STYLEGAN_EXPLORER_DOWNLOAD_MAX_BYTES', DEFAULT_MAX_BYTES, int)),
            float(deadline if deadline is not None else
                  _env_number('STYLEGAN_EXPLORER_DOWNLOAD_TIMEOUT', DEFAULT_DEADLINE)),
            float(timeout if timeout is not None else _env_number('STYLEGAN_EXPLORER_DOWNLOAD_STALL', DEFAULT_STALL)))


def _size(n) -> str:
    for unit in ('bytes', 'KiB', 'MiB', 'GiB', 'TiB'):
        if n < 1024 or unit == 'TiB':
            return f'{n:.0f} {unit}' if unit == 'bytes' else f'{n:.1f} {unit}'
        n /= 1024
    return str(n)


def _one_line(text) -> str:
    return ' '.join(str(text).split())


def split_url(url: str) -> tuple[str, str | None]:
    """(url without fragment, expected sha256 hex or None)."""
    base, _, fragment = url.partition('#')
    sha = None
    if fragment:
        m = re.fullmatch(r'sha256=([0-9a-fA-F]{64})', fragment)
        if not m:
            raise CheckpointError(url, "unsupported URL fragment (only '#sha256=<64 hex digits>')")
        sha = m.group(1).lower()
    return base, sha


def cache_path(url: str, cache=None) -> Path:
    """The file a URL is cached as: a hash of the URL plus a readable tail of its name."""
    base, _ = split_url(url)
    key = hashlib.sha256(base.encode('utf-8')).hexdigest()[:24]
    name = os.path.basename(urllib.parse.urlparse(base).path) or 'checkpoint'
    name = re.sub(r'[^A-Za-z0-9._-]', '_', name)[-80:].lstrip('.') or 'checkpoint'
    folder = Path(cache) if cache is not None else cache_dir() / 'downloads'
    return folder / f'{key}-{name}'


def fetch(url: str, progress=None, cache=None, timeout=None, max_bytes=None, deadline=None) -> Path:
    """Path of the cached download of ``url`` (downloading it first if needed).

    timeout: stall limit in seconds; max_bytes, deadline: see the module docstring."""
    target = cache_path(url, cache)
    if target.is_file():
        return target
    base, sha = split_url(url)
    max_bytes, deadline, timeout = limits(max_bytes, deadline, timeout)
    remove_stale_parts(target.parent)

    def check(tmp, digest):
        _verify_complete(tmp, url)
        if sha is not None and digest != sha:
            raise CheckpointError(url, f'sha256 mismatch: expected {sha}, downloaded file has {digest}')

    with _signals_end_download():
        atomic_write(target, lambda f: _download_to(base, f, progress, timeout, max_bytes, deadline),
                     suffix=f'.{os.getpid()}.part', check=check)
    return target


def forget(url: str, cache=None) -> bool:
    """Remove the cached download of ``url`` (e.g. it downloaded but does not load), so the
    next use fetches it again. Returns whether a file was removed."""
    try:
        cache_path(url, cache).unlink()
    except OSError:
        return False
    return True


def remove_stale_parts(folder) -> int:
    """Delete ``.part`` files of downloads that cannot still be running: their process is gone,
    or they have not grown for STALE_PART_SECONDS. Returns how many were deleted."""
    n = 0
    try:
        parts = list(Path(folder).glob('.*.part'))
    except OSError:
        return 0
    now = time.time()
    for p in parts:
        pid = p.name[:-len('.part')].rsplit('.', 1)[-1]
        try:
            alive = pid.isdigit() and _pid_alive(int(pid))
            if alive and now - p.stat().st_mtime < STALE_PART_SECONDS:
                continue
            p.unlink()
            n += 1
        except OSError:
            pass
    return n


def _pid_alive(pid) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else
    return True


class _EndedBySignal(KeyboardInterrupt):
    """SIGTERM / SIGHUP arrived mid-download: unwinds (the temp file is removed) and ends the program."""


class _signals_end_download:
    """In the main thread, turn SIGTERM / SIGHUP (left at their default, which would kill the
    process on the spot) into an exception for the duration of a download, so the temp file
    is removed on the way out; the CLI reports it as an interruption."""

    NAMES = ('SIGTERM', 'SIGHUP')

    def __enter__(self):
        self.old = {}
        if threading.current_thread() is not threading.main_thread():
            return self
        for name in self.NAMES:
            sig = getattr(signal, name, None)
            if sig is not None and signal.getsignal(sig) == signal.SIG_DFL:
                self.old[sig] = signal.signal(sig, self._raise)
        return self

    @staticmethod
    def _raise(signum, frame):
        raise _EndedBySignal(f'download ended by signal {signum}')

    def __exit__(self, *exc):
        for sig, old in self.old.items():
            signal.signal(sig, old)
        return False


def _download_to(url, f, progress, timeout, max_bytes, deadline) -> str:
    request = urllib.request.Request(url, headers={'User-Agent': USER_AGENT})
    h = hashlib.sha256()
    done = 0
    start = time.monotonic()
    window_start, window_done = start, 0
    try:
        with urllib.request.urlopen(request, timeout=min(timeout, deadline)) as resp:
            total = resp.headers.get('Content-Length')
            total = int(total) if total and total.isdigit() else None
            if total is not None and total > max_bytes:
                raise CheckpointError(url, f'download refused: the server announces {_size(total)}, more than the '
                                           f'{_size(max_bytes)} limit (STYLEGAN_EXPLORER_DOWNLOAD_MAX_BYTES)')
            if progress is not None:
                progress(0, total, 'downloading')
            while True:
                block = resp.read1(CHUNK)  # what has arrived, so a slow server cannot hold a read forever
                if not block:
                    break
                done += len(block)
                if done > max_bytes:
                    raise CheckpointError(url, f'download stopped: more than the {_size(max_bytes)} limit '
                                               f'(STYLEGAN_EXPLORER_DOWNLOAD_MAX_BYTES)')
                f.write(block)
                h.update(block)
                if progress is not None:
                    progress(done, total, 'downloading')
                now = time.monotonic()
                if now - start > deadline:
                    raise CheckpointError(url, f'download stopped: not finished after {deadline:g} s '
                                               f'({_size(done)} received; STYLEGAN_EXPLORER_DOWNLOAD_TIMEOUT)')
                if now - window_start >= timeout:
                    if done - window_done < STALL_MIN_BYTES:
                        raise CheckpointError(url, f'download stalled: {done - window_done} bytes in '
                                                   f'{now - window_start:.0f} s')
                    window_start, window_done = now, done
    except urllib.error.HTTPError as e:
        if 300 <= e.code < 400:
            raise CheckpointError(url, f'download failed: too many redirects (HTTP {e.code}; a redirect loop?)') \
                from None
        raise CheckpointError(url, f'download failed: HTTP {e.code} {_one_line(e.reason)}') from None
    except urllib.error.URLError as e:
        raise CheckpointError(url, f'download failed: {_one_line(e.reason)}') from None
    except TimeoutError:
        raise CheckpointError(url, f'download stalled: nothing received for {min(timeout, deadline):g} s '
                                   f'(after {_size(done)})') from None
    except (http.client.HTTPException, ConnectionError) as e:
        raise CheckpointError(url, f'download interrupted after {done} bytes ({type(e).__name__})') from None
    except OSError as e:
        raise CheckpointError(url, f'download failed: {_one_line(e.strerror or e)}') from None
    if total is not None and done != total:
        raise CheckpointError(url, f'download interrupted: got {done} of {total} bytes')
    if done == 0:
        raise CheckpointError(url, 'download failed: the server sent an empty file')
    return h.hexdigest()


def _verify_complete(path, url) -> None:
    """The bytes must look like a whole checkpoint before they are trusted."""
    with open(path, 'rb') as f:
        head = f.read(8)
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
    if head.startswith(b'PK'):
        if not zipfile.is_zipfile(path):
            raise CheckpointError(url, 'downloaded file is an incomplete zip archive')
        return
    if head[:1] == b'\x80' and len(head) > 1 and 2 <= head[1] <= 5:
        if last != b'.':  # every complete pickle ends with the STOP opcode
            raise CheckpointError(url, 'downloaded pickle is incomplete')
        return
    raise CheckpointError(url, 'downloaded file is not a checkpoint (neither a torch zip nor a pickle)')
