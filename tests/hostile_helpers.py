"""Helpers for the hostile-input tests: run risky code in a child process with an address-space
cap and a timeout, so a regression fails the test instead of taking the machine down."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_PRELUDE = '''
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({mem}, {mem}))
sys.path.insert(0, {root!r})

def peak_rss_mb():
    # VmHWM of this process image (ru_maxrss would include the forked parent's peak)
    with open('/proc/self/status') as f:
        return [int(l.split()[1]) for l in f if l.startswith('VmHWM')][0] / 1024
'''


def run_capped(code: str, timeout: float = 60, mem_bytes: int = 3 << 30, env=None, cwd=None):
    """Run ``code`` in a fresh Python with RLIMIT_AS = ``mem_bytes``; returns CompletedProcess
    (text). A timeout raises ``subprocess.TimeoutExpired`` (the child is killed)."""
    prelude = _PRELUDE.format(mem=int(mem_bytes), root=str(ROOT))
    full_env = dict(os.environ, QT_QPA_PLATFORM='offscreen', PYTHONDONTWRITEBYTECODE='1')
    full_env.update(env or {})
    return subprocess.run([sys.executable, '-c', prelude + textwrap.dedent(code)], check=False, capture_output=True,
                          text=True, timeout=timeout, env=full_env, cwd=cwd)


def run_cli(args, timeout: float = 120, mem_bytes: int = 6 << 30, env=None, preamble: str = ''):
    """``main.py ARGS`` of this worktree in a capped child; returns CompletedProcess."""
    code = f'''
    {preamble.strip()}
    from explorer.cli import main
    sys.exit(main({[str(a) for a in args]!r}))
    '''
    return run_capped(textwrap.dedent(code), timeout=timeout, mem_bytes=mem_bytes, env=env)


def last_json_line(text: str):
    return json.loads([line for line in text.splitlines() if line.startswith('{')][-1])


def one_line_error(proc) -> str:
    """The stderr of a refused CLI call: exactly one 'error: ...' line, no traceback."""
    err = proc.stderr.strip()
    assert 'Traceback' not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


# ----------------------------------------------------------------------------- hostile files

def deflate_zeros(n_bytes: int, chunk: int = 16 << 20) -> bytes:
    """A raw deflate stream that inflates to ``n_bytes`` zeros (a multiple of ``chunk``), made
    by compressing one chunk with a full flush and repeating it: cheap even for gigabytes."""
    assert n_bytes % chunk == 0
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(chunk)) + c.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty last block
    return block * (n_bytes // chunk) + final


def zeros_crc(n_bytes: int, chunk: int = 16 << 20) -> int:
    crc, zero = 0, bytes(chunk)
    for _ in range(n_bytes // chunk):
        crc = zlib.crc32(zero, crc)
    return crc


def write_zip(path, members):
    """A zip written by hand: ``members`` = [(name, raw deflate data, crc32, uncompressed size)].
    The declared sizes are whatever the caller says (a hostile zip can lie)."""
    local, central = bytearray(), bytearray()
    for name, data, crc, size in members:
        n = name.encode()
        offset = len(local)
        local += struct.pack('<IHHHHHIIIHH', 0x04034b50, 20, 0, 8, 0, 0x21, crc, len(data), size, len(n), 0) + n
        local += data
        central += struct.pack('<IHHHHHHIIIHHHHHII', 0x02014b50, 20, 20, 0, 8, 0, 0x21, crc, len(data), size,
                               len(n), 0, 0, 0, 0, 0, offset) + n
    eocd = struct.pack('<IHHHHIIH', 0x06054b50, 0, 0, len(members), len(members), len(central), len(local), 0)
    Path(path).write_bytes(bytes(local) + bytes(central) + eocd)


def deflate_member(name, payload: bytes):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return name, c.compress(payload) + c.flush(), zlib.crc32(payload), len(payload)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` RGB, followed by a tiny IDAT: a bomb by header."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(b'\x00' * 64)) + \
        chunk(b'IEND', b'')
