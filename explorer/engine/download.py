"""Download a checkpoint URL once into the user's cache, never trusting a partial file.

``fetch(url, progress=cb)`` returns the cached path. A download goes to a temp file
in the cache folder; only after its length matches ``Content-Length``, its bytes
look like a complete checkpoint (zip directory present / pickle STOP opcode) and an
optional ``#sha256=<hex>`` fragment matches is it renamed to its final name, which
is derived from a hash of the URL. Anything else deletes the temp file.

``progress(done, total, text)`` may raise ``explorer.engine.progress.Cancelled``.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
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


def fetch(url: str, progress=None, cache=None, timeout=60.0) -> Path:
    """Path of the cached download of ``url`` (downloading it first if needed)."""
    target = cache_path(url, cache)
    if target.is_file():
        return target
    base, sha = split_url(url)

    def check(tmp, digest):
        _verify_complete(tmp, url)
        if sha is not None and digest != sha:
            raise CheckpointError(url, f'sha256 mismatch: expected {sha}, downloaded file has {digest}')

    atomic_write(target, lambda f: _download_to(base, f, progress, timeout), suffix='.part', check=check)
    return target


def _download_to(url, f, progress, timeout) -> str:
    request = urllib.request.Request(url, headers={'User-Agent': USER_AGENT})
    h = hashlib.sha256()
    done = 0
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            total = resp.headers.get('Content-Length')
            total = int(total) if total and total.isdigit() else None
            if progress is not None:
                progress(0, total, 'downloading')
            while True:
                block = resp.read(CHUNK)
                if not block:
                    break
                f.write(block)
                h.update(block)
                done += len(block)
                if progress is not None:
                    progress(done, total, 'downloading')
    except urllib.error.HTTPError as e:
        raise CheckpointError(url, f'download failed: HTTP {e.code} {e.reason}') from None
    except urllib.error.URLError as e:
        raise CheckpointError(url, f'download failed: {e.reason}') from None
    except (http.client.HTTPException, ConnectionError, TimeoutError) as e:
        raise CheckpointError(url, f'download interrupted after {done} bytes ({type(e).__name__})') from None
    except OSError as e:
        raise CheckpointError(url, f'download failed: {e.strerror or e}') from None
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
