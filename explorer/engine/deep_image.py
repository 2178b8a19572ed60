"""16-bit-per-channel PNG and TIFF writers (Pillow writes 8-bit RGB only).

Plain numpy + zlib, torch-free. PNG: IHDR, the caller's ancillary chunks (iCCP, iTXt ...),
one zlib stream of unfiltered rows, IEND (PNG spec, ISO/IEC 15948). TIFF: little-endian
baseline RGB (or grey) with Adobe Deflate compression in one strip, plus tags the caller
gives (ICC profile 34675, XMP 700, ImageDescription, Software).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_itxt(key: str, text: str) -> tuple[bytes, bytes]:
    """An uncompressed iTXt chunk (keyword, no language), as (type, data)."""
    return b'iTXt', key.encode('latin-1') + b'\x00\x00\x00\x00\x00' + text.encode('utf-8')


def png_iccp(name: str, profile: bytes) -> tuple[bytes, bytes]:
    return b'iCCP', name.encode('latin-1') + b'\x00\x00' + zlib.compress(profile)


def write_png16(f, array: np.ndarray, chunks=(), level: int = 6) -> None:
    """uint16 [H, W, C] (C 1 or 3) -> a 16-bit PNG written to the binary file ``f``;
    ``chunks``: (type, data) pairs written before the image data."""
    array = np.asarray(array)
    assert array.dtype == np.uint16 and array.ndim == 3 and array.shape[2] in (1, 3), (array.dtype, array.shape)
    h, w, c = array.shape
    colour = 0 if c == 1 else 2
    rows = np.ascontiguousarray(array.astype('>u2')).view(np.uint8).reshape(h, w * c * 2)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1)    # filter byte 0 (None) per row
    f.write(b'\x89PNG\r\n\x1a\n')
    f.write(_chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 16, colour, 0, 0, 0)))
    for kind, data in chunks:
        f.write(_chunk(kind, data))
    f.write(_chunk(b'IDAT', zlib.compress(raw.tobytes(), level)))
    f.write(_chunk(b'IEND', b''))


# TIFF field types
_SHORT, _LONG, _ASCII, _UNDEFINED, _BYTE = 3, 4, 2, 7, 1
_SIZES = {_SHORT: 2, _LONG: 4, _ASCII: 1, _UNDEFINED: 1, _BYTE: 1}
TIFF_DESCRIPTION, TIFF_SOFTWARE, TIFF_XMP, TIFF_ICC = 270, 305, 700, 34675


def write_tiff16(f, array: np.ndarray, tags: dict | None = None, level: int = 6) -> None:
    """uint16 [H, W, C] (C 1 or 3) -> a 16-bit Deflate TIFF written to the binary file ``f``.

    ``tags``: {270 or 305: str, 700 or 34675: bytes} (description, software, XMP, ICC)."""
    array = np.asarray(array)
    assert array.dtype == np.uint16 and array.ndim == 3 and array.shape[2] in (1, 3), (array.dtype, array.shape)
    h, w, c = array.shape
    data = zlib.compress(np.ascontiguousarray(array.astype('<u2')).tobytes(), level)
    entries = {256: (_LONG, [w]), 257: (_LONG, [h]), 258: (_SHORT, [16] * c), 259: (_SHORT, [8]),
               262: (_SHORT, [2 if c == 3 else 1]), 273: (_LONG, [0]), 277: (_SHORT, [c]),
               278: (_LONG, [h]), 279: (_LONG, [len(data)]), 284: (_SHORT, [1]),
               339: (_SHORT, [1] * c)}
    for tag, value in (tags or {}).items():
        if isinstance(value, str):
            entries[tag] = (_ASCII, value.encode('utf-8') + b'\x00')
        else:
            entries[tag] = (_BYTE if tag == TIFF_XMP else _UNDEFINED, bytes(value))
    n = len(entries)
    ifd_size = 2 + 12 * n + 4
    pos = 8 + ifd_size                         # out-of-line values follow the IFD, then the pixels
    blobs, ifd = [], bytearray(struct.pack('<H', n))
    for tag in sorted(entries):
        kind, value = entries[tag]
        if kind in (_SHORT, _LONG):
            raw = struct.pack('<' + ('H' if kind == _SHORT else 'I') * len(value), *value)
            count = len(value)
        else:
            raw, count = value, len(value)
        if tag == 273:
            strip_entry = len(ifd)             # patched once the pixel offset is known
        if len(raw) <= 4:
            ifd += struct.pack('<HHI', tag, kind, count) + raw.ljust(4, b'\x00')
        else:
            ifd += struct.pack('<HHII', tag, kind, count, pos)
            blobs.append(raw + (b'\x00' if len(raw) % 2 else b''))     # word-aligned
            pos += len(blobs[-1])
    ifd += struct.pack('<I', 0)
    ifd[strip_entry + 8:strip_entry + 12] = struct.pack('<I', pos)
    f.write(b'II*\x00' + struct.pack('<I', 8))
    f.write(bytes(ifd))
    for b in blobs:
        f.write(b)
    f.write(data)
