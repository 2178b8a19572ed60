"""Read ``.npz``/``.npy`` files from users without trusting them.

Never unpickles (object arrays are refused), and checks every array's header (dtype and
shape) before reading it, so a tiny compressed file that claims a huge array cannot make
us allocate it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from explorer.errors import UserError

MAX_ELEMENTS = 1 << 24          # per file, all arrays together (64 MiB of float32)


def _header(fp):
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fp)
    if version in ((2, 0), (3, 0)):
        return np.lib.format.read_array_header_2_0(fp)
    raise ValueError(f'unsupported .npy version {version}')


def _check_header(fp, name, budget, path):
    shape, _fortran, dtype = _header(fp)
    if dtype.hasobject:
        raise UserError(f'{path}: array {name!r} holds Python objects; refused (not loaded)')
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if n > budget:
        raise UserError(f'{path}: array {name!r} of shape {list(shape)} is larger than allowed')
    return n


def load_npz(path, max_elements: int = MAX_ELEMENTS) -> dict:
    """{name: array} from an .npz, headers checked first; UserError for anything wrong."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f'{path}: no such file')
    try:
        with zipfile.ZipFile(path) as zf:
            budget = max_elements
            for info in zf.infolist():
                if not info.filename.endswith('.npy'):
                    continue
                with zf.open(info) as fp:
                    budget -= _check_header(fp, info.filename[:-4], budget, path)
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except UserError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise UserError(f'{path}: not a valid .npz file ({e})') from None


def load_npy(path, max_elements: int = MAX_ELEMENTS) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise UserError(f'{path}: no such file')
    try:
        with open(path, 'rb') as fp:
            _check_header(fp, path.stem, max_elements, path)
        return np.load(path, allow_pickle=False)
    except UserError:
        raise
    except (OSError, ValueError, EOFError) as e:
        raise UserError(f'{path}: not a valid .npy file ({e})') from None
