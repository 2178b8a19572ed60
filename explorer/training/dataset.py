"""Training data: image folders, zip files of images, and the synthetic portraits.

Every dataset yields ``(image, label)`` with ``image`` a uint8 array ``[C, R, R]``
(C = 3 for RGB or 1 for grayscale, R = the training resolution, a power of two) and
``label`` a float32 array ``[label_dim]`` (``label_dim`` 0 when unconditional).

Images are decoded lazily, one per ``__getitem__``, then center-cropped to a square
and resized to R; a bounded cache keeps the decoded results of small datasets in RAM.
A file that fails to decode is skipped and counted in ``num_skipped``; it is never
fatal. A folder with no decodable image is a ``UserError`` raised before training.

Files are untrusted: only regular files are read (FIFOs and devices are skipped), zip
members are checked by their header without decompressing them whole, files over
``MAX_FILE_BYTES`` or images over ``MAX_IMAGE_PIXELS`` are skipped as too large, and
symlinked sub-folders are followed once (a loop is skipped). Every skip is counted by
reason (``skipped``; ``skip_summary()`` says "3 undecodable, 1 too large"). Images of
any mode become 8-bit RGB or L the way a viewer shows them: EXIF orientation applied,
16-bit samples scaled (not clipped), palettes expanded, CMYK converted, alpha
composited on black. Without ``resolution`` the first image sets it, capped at
``AUTO_RESOLUTION_MAX`` (``resolution_note`` says so).

Class labels follow NVIDIA's ``dataset.json`` layout::

    {"labels": [["sub/img0.png", 3], ["sub/img1.png", 0], ...]}

(integers 0 .. MAX_CLASSES-1 become one-hot vectors of size max+1; finite numbers or
equal-length lists of finite numbers are continuous labels. Anything else, NaN, or a
file nested deeper than MAX_JSON_DEPTH is a one-line ``UserError``.)
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import stat
import threading
import warnings
import zipfile
from collections import Counter, OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from explorer.engine.files import NotRegularFile, open_regular
from explorer.errors import UserError

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.webp', '.bmp')
DEFAULT_CACHE_BYTES = 256 << 20
MIN_RESOLUTION = 4
MAX_RESOLUTION = 4096                   # Largest training resolution accepted at all.
AUTO_RESOLUTION_MAX = 1024              # Largest resolution taken from the first image unasked.
MAX_FILE_BYTES = 512 << 20              # An image file (or zip member, uncompressed) larger than this is skipped.
MAX_IMAGE_PIXELS = 2 * 89_478_485       # Pillow's decompression-bomb error threshold (~179 megapixels).
MAX_LABELS_BYTES = 64 << 20             # dataset.json size limit.
MAX_JSON_DEPTH = 32                     # dataset.json nesting limit (labels need 4).
MAX_CLASSES = 1 << 16                   # Integer class labels are 0 .. MAX_CLASSES - 1.
MAX_LABEL_DIM = 4096                    # Length limit of a continuous label vector.

# Skip reasons, in the order a summary lists them.
SKIP_UNDECODABLE = 'undecodable'
SKIP_TOO_LARGE = 'too large'
SKIP_NOT_REGULAR = 'not a regular file'
SKIP_UNREADABLE = 'unreadable'
SKIP_LOOP = 'symlink loop'
SKIP_REASONS = (SKIP_UNDECODABLE, SKIP_TOO_LARGE, SKIP_NOT_REGULAR, SKIP_UNREADABLE, SKIP_LOOP)


def is_power_of_two(n) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n >= MIN_RESOLUTION and n & (n - 1) == 0


def _check_resolution(resolution):
    if resolution is not None and not (is_power_of_two(resolution) and resolution <= MAX_RESOLUTION):
        raise UserError(f'training resolution must be a power of two from {MIN_RESOLUTION} to {MAX_RESOLUTION}, '
                        f'got {resolution}')


def auto_resolution(size) -> tuple[int, str]:
    """(resolution, note) for a first image of ``size`` (w, h): the largest power of two
    that fits its shorter side, capped at AUTO_RESOLUTION_MAX (the note says so, else '')."""
    s = max(int(min(size)), MIN_RESOLUTION)
    res = 1 << (s.bit_length() - 1)
    if res > AUTO_RESOLUTION_MAX:
        return AUTO_RESOLUTION_MAX, (f'resolution capped at {AUTO_RESOLUTION_MAX} (the first image is '
                                     f'{size[0]}x{size[1]}); pass --resolution (up to {MAX_RESOLUTION}) to choose')
    return res, ''


def center_crop_resize(img: Image.Image, resolution: int) -> Image.Image:
    """Largest centered square, resized to ``resolution`` x ``resolution``."""
    w, h = img.size
    s = min(w, h)
    if w != h:
        left, top = (w - s) // 2, (h - s) // 2
        img = img.crop((left, top, left + s, top + s))
    if s != resolution:
        img = img.resize((resolution, resolution), Image.Resampling.LANCZOS)
    return img


def to_8bit(img: Image.Image) -> Image.Image:
    """16-bit ('I;16*') and 32-bit integer ('I', as Pillow reads 16-bit PNGs) grayscale
    scaled to 8-bit 'L' (65535 -> 255); Pillow's own convert clips them to white instead.
    'F' images are taken as 0..1 floats. Other modes are returned as they are."""
    if img.mode.startswith('I;16') or img.mode == 'I':
        arr = np.asarray(img).astype(np.float64)
        return Image.fromarray(np.rint(np.clip(arr, 0, 65535) / 257).astype(np.uint8), 'L')
    if img.mode == 'F':
        arr = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0)
        return Image.fromarray(np.rint(np.clip(arr, 0, 1) * 255).astype(np.uint8), 'L')
    return img


def upright(img: Image.Image) -> Image.Image:
    """The image as a viewer shows it (EXIF orientation applied); broken EXIF is ignored."""
    try:
        return ImageOps.exif_transpose(img)
    except Exception:
        return img


def to_chw(img: Image.Image, num_channels: int) -> np.ndarray:
    """PIL image -> uint8 [C, H, W] in RGB (3) or grayscale (1); alpha is composited on black,
    high bit depths are scaled to 8 bits."""
    img = to_8bit(img)
    if img.mode in ('RGBA', 'LA', 'PA') or (img.mode == 'P' and 'transparency' in img.info):
        img = img.convert('RGBA')
        background = Image.new('RGBA', img.size, (0, 0, 0, 255))
        img = Image.alpha_composite(background, img)
    img = img.convert('RGB' if num_channels == 3 else 'L')
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


class _LRUCache:
    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        self.bytes = 0
        self.items = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def put(self, key, value):
        if self.max_bytes <= 0 or value.nbytes > self.max_bytes:
            return
        with self.lock:
            if key in self.items:
                return
            self.items[key] = value
            self.bytes += value.nbytes
            while self.bytes > self.max_bytes:
                _, old = self.items.popitem(last=False)
                self.bytes -= old.nbytes


class BaseDataset:
    """Common indexing: optional x-flip doubles the length (flipped copies at i >= n)."""

    def __init__(self, resolution, num_channels, xflip=False, label_dim=0, name='dataset'):
        self.resolution = resolution
        self.num_channels = num_channels
        self.xflip = bool(xflip)
        self.label_dim = label_dim
        self.name = name
        if not hasattr(self, 'skipped'):
            self.skipped = Counter()     # reason -> number of files skipped for it
        self.resolution_note = getattr(self, 'resolution_note', '')

    @property
    def num_skipped(self) -> int:
        return sum(self.skipped.values())

    def skip_summary(self) -> str:
        """'3 undecodable, 1 too large' ('' when nothing was skipped)."""
        order = list(SKIP_REASONS) + sorted(set(self.skipped) - set(SKIP_REASONS))
        return ', '.join(f'{self.skipped[k]} {k}' for k in order if self.skipped.get(k))

    def _num_raw(self) -> int:
        raise NotImplementedError

    def get_label(self, idx) -> np.ndarray:
        """Label of item ``idx`` without decoding its image."""
        return np.zeros([self.label_dim], dtype=np.float32)

    def _get_raw(self, raw_idx) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def __len__(self):
        return self._num_raw() * (2 if self.xflip else 1)

    def __getitem__(self, idx):
        n = self._num_raw()
        if not 0 <= idx < len(self):
            raise IndexError(idx)
        image, label = self._get_raw(idx % n)
        if idx >= n:
            image = image[:, :, ::-1]
        assert image.shape == (self.num_channels, self.resolution, self.resolution), image.shape
        return np.ascontiguousarray(image), label

    @property
    def has_labels(self) -> bool:
        return self.label_dim > 0

    def describe(self) -> str:
        extra = f', {self.label_dim} label dims' if self.label_dim else ''
        flip = ', x-flip' if self.xflip else ''
        skipped = f', skipped: {self.skip_summary()}' if self.num_skipped else ''
        note = f' ({self.resolution_note})' if self.resolution_note else ''
        return (f'{self.name}: {self._num_raw()} images at {self.resolution}x{self.resolution}, '
                f'{self.num_channels} channel(s){extra}{flip}{skipped}{note}')


class ImageFolderDataset(BaseDataset):
    """A folder (searched recursively, symlinked folders followed once) or a .zip file of images."""

    def __init__(self,
        path,                           # Folder or .zip file.
        resolution=None,                # Training resolution, None = from the first image (capped).
        num_channels=3,                 # 3 = RGB, 1 = grayscale.
        xflip=False,                    # Add horizontally flipped copies?
        use_labels=True,                # Read dataset.json labels when present?
        cache_bytes=DEFAULT_CACHE_BYTES,  # RAM for decoded images, 0 = no cache.
    ):
        _check_resolution(resolution)
        if num_channels not in (1, 3):
            raise UserError(f'num_channels must be 1 (grayscale) or 3 (RGB), got {num_channels}')
        self.path = Path(path)
        self._zip = None
        self._zip_lock = threading.Lock()
        self.skipped = Counter()
        self.resolution_note = ''
        if self.path.is_dir():
            self._type = 'dir'
            candidates, self._sizes, has_json = _scan_folder(self.path, self.skipped)
        elif self.path.is_file() and self.path.suffix.lower() == '.zip':
            self._type = 'zip'
            try:
                candidates, self._sizes, has_json = self._scan_zip()
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
                raise UserError(f'cannot read dataset zip {self.path}: {e}') from None
        elif not self.path.exists():
            raise UserError(f'dataset not found: {self.path}')
        else:
            raise UserError(f'dataset must be a folder of images or a .zip of images: {self.path}')
        if not candidates:
            extra = f' (skipped: {_summary(self.skipped)})' if self.skipped else ''
            raise UserError(f'no images ({", ".join(IMAGE_EXTENSIONS)}) found in {self.path}{extra}')

        # Cheap header check up front (PIL reads only the header), full decode lazily.
        self._fnames = []
        first_size = None
        for name in candidates:
            reason, size = self._check_header(name)
            if reason is not None:
                self.skipped[reason] += 1
                continue
            self._fnames.append(name)
            if first_size is None:
                first_size = size
        if not self._fnames:
            raise UserError(f'none of the {len(candidates)} image files in {self.path} could be decoded '
                            f'(skipped: {_summary(self.skipped)})')
        if resolution is None:
            resolution, self.resolution_note = auto_resolution(first_size)
        label_dim, self._classes, self._labels = self._load_labels() if use_labels and has_json else (0, None, None)
        super().__init__(resolution, num_channels, xflip=xflip, label_dim=label_dim, name=self.path.name)
        self._bad = set()
        self._cache = _LRUCache(cache_bytes)
        self._counter_lock = threading.Lock()

    # -- file access
    def _zipfile(self):
        if self._zip is None:
            self._zip = zipfile.ZipFile(self.path)
        return self._zip

    def _scan_zip(self):
        names, sizes, has_json = [], {}, False
        for info in self._zipfile().infolist():
            name = info.filename
            if name.endswith('/') or any(part.startswith('.') for part in name.split('/')):
                continue
            if name == 'dataset.json':
                has_json = True
                sizes[name] = info.file_size
            elif os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
                if info.flag_bits & 0x1:     # encrypted
                    self.skipped[SKIP_UNREADABLE] += 1
                    continue
                names.append(name)
                sizes[name] = info.file_size
        return sorted(set(names)), sizes, has_json

    def _open(self, name):
        """A binary stream of file / member ``name``, at most MAX_FILE_BYTES (declared size checked first)."""
        if self._sizes.get(name, 0) > MAX_FILE_BYTES:
            raise _TooLarge(name)
        if self._type == 'dir':
            return open_regular(self.path / name)
        with self._zip_lock:
            data = self._zipfile().read(name)  # zipfile stops at the declared size
        return io.BytesIO(data)

    def _check_header(self, name):
        """(None, (w, h)) for a usable image, else (skip reason, None). Reads the header only:
        a zip member is streamed, never decompressed whole."""
        if self._sizes.get(name, 0) > MAX_FILE_BYTES:
            return SKIP_TOO_LARGE, None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')  # PIL's DecompressionBombWarning: judged below
                if self._type == 'dir':
                    with open_regular(self.path / name) as f, Image.open(f) as im:
                        size = im.size
                else:
                    with self._zip_lock, self._zipfile().open(name) as f, Image.open(f) as im:
                        size = im.size
        except Image.DecompressionBombError:
            return SKIP_TOO_LARGE, None
        except OSError as e:
            if isinstance(e, NotRegularFile):
                return SKIP_NOT_REGULAR, None
            return (SKIP_UNREADABLE if e.errno is not None else SKIP_UNDECODABLE), None
        except Exception:
            return SKIP_UNDECODABLE, None
        if size[0] * size[1] > MAX_IMAGE_PIXELS:
            return SKIP_TOO_LARGE, None
        if min(size) < 1:
            return SKIP_UNDECODABLE, None
        return None, size

    def close(self):
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state['_zip'] = None
        state['_zip_lock'] = None
        state['_counter_lock'] = None
        state['_cache'] = _LRUCache(self._cache.max_bytes)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._zip_lock = threading.Lock()
        self._counter_lock = threading.Lock()

    # -- labels
    def _load_labels(self):
        """(label_dim, class indices or None, float labels or None) from dataset.json, validated."""
        where = f'{self.path}/dataset.json'
        if self._sizes.get('dataset.json', 0) > MAX_LABELS_BYTES:
            raise UserError(f'{where}: larger than {MAX_LABELS_BYTES >> 20} MiB')
        try:
            with self._open('dataset.json') as f:
                raw = f.read(MAX_LABELS_BYTES + 1)
        except OSError as e:
            raise UserError(f'{where}: cannot read labels ({e.strerror or e})') from None
        if len(raw) > MAX_LABELS_BYTES:
            raise UserError(f'{where}: larger than {MAX_LABELS_BYTES >> 20} MiB')
        meta = parse_labels_json(raw, where)
        raw_labels = meta.get('labels') if isinstance(meta, dict) else None
        if raw_labels is None:
            return 0, None, None
        if not isinstance(raw_labels, list):
            raise UserError(f'{where}: "labels" must be a list of [file name, label] pairs')
        table = {}
        for entry in raw_labels:
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
                raise UserError(f'{where}: "labels" must be a list of [file name, label] pairs, '
                                f'found {_short_repr(entry)}')
            table[entry[0].replace('\\', '/')] = entry[1]
        missing = [n for n in self._fnames if n not in table]
        if missing:
            raise UserError(f'{where} has no label for {len(missing)} image(s), e.g. {missing[0]}')
        values = [table[n] for n in self._fnames]
        if all(_is_int(v) for v in values):
            for n, v in zip(self._fnames, values):
                if not 0 <= v < MAX_CLASSES:
                    raise UserError(f'{where}: class label {_short_repr(v)} of {n} is out of range '
                                    f'(0 to {MAX_CLASSES - 1})')
            classes = np.asarray(values, dtype=np.int64)
            return int(classes.max()) + 1, classes, None
        dim = None
        rows = []
        for n, v in zip(self._fnames, values):
            row = [v] if _is_number(v) else v
            if not (isinstance(row, list) and row and all(_is_number(x) for x in row)):
                raise UserError(f'{where}: label of {n} is {_short_repr(v)}; labels must be class integers, '
                                f'numbers, or equal-length lists of numbers')
            if not all(math.isfinite(x) for x in row):
                raise UserError(f'{where}: label of {n} is not finite ({_short_repr(v)})')
            if dim is None:
                dim = len(row)
                if dim > MAX_LABEL_DIM:
                    raise UserError(f'{where}: labels have {dim} values; at most {MAX_LABEL_DIM} are supported')
            elif len(row) != dim:
                raise UserError(f'{where}: label of {n} has {len(row)} value(s), the first has {dim}')
            rows.append(row)
        labels = np.asarray(rows, dtype=np.float64)
        if not np.isfinite(labels.astype(np.float32)).all():
            raise UserError(f'{where}: labels too large for float32')
        return dim, None, labels.astype(np.float32)

    def _label(self, i) -> np.ndarray:
        if self._classes is not None:
            out = np.zeros([self.label_dim], dtype=np.float32)
            out[self._classes[i]] = 1
            return out
        if self._labels is not None:
            return self._labels[i].copy()
        return np.zeros([0], dtype=np.float32)

    # -- items
    def _num_raw(self):
        return len(self._fnames)

    def get_label(self, idx):
        return self._label(idx % self._num_raw())

    @property
    def filenames(self) -> list[str]:
        return list(self._fnames)

    def _decode(self, raw_idx) -> np.ndarray | None:
        cached = self._cache.get(raw_idx)
        if cached is not None:
            return cached
        name = self._fnames[raw_idx]
        try:
            with self._open(name) as f, warnings.catch_warnings():
                warnings.simplefilter('ignore')  # PIL's DecompressionBomb / palette warnings
                with Image.open(f) as im:
                    if im.size[0] * im.size[1] > MAX_IMAGE_PIXELS:
                        return None
                    if im.format == 'JPEG':  # decode big JPEGs at a reduced scale (>= 2x the target)
                        im.draft(im.mode, (2 * self.resolution, 2 * self.resolution))
                    im.load()
                    arr = to_chw(center_crop_resize(upright(im), self.resolution), self.num_channels)
        except Exception:
            return None
        self._cache.put(raw_idx, arr)
        return arr

    def _mark_bad(self, i):
        with self._counter_lock:
            if i not in self._bad:
                self._bad.add(i)
                self.skipped[SKIP_UNDECODABLE] += 1

    def _get_raw(self, raw_idx):
        n = self._num_raw()
        for k in range(n):
            i = (raw_idx + k) % n
            if i in self._bad:
                continue
            image = self._decode(i)
            if image is not None:
                return image, self._label(i)
            self._mark_bad(i)
        raise UserError(f'none of the images in {self.path} could be decoded')

    def validate(self, progress=None) -> int:
        """Decode every image once (fills the cache); returns the number of usable images."""
        n = self._num_raw()
        for i in range(n):
            if i not in self._bad and self._decode(i) is None:
                self._mark_bad(i)
            if progress is not None:
                progress(i + 1, n)
        usable = n - len(self._bad)
        if usable == 0:
            raise UserError(f'none of the images in {self.path} could be decoded')
        return usable


class _TooLarge(OSError):
    pass


def _summary(counter) -> str:
    order = list(SKIP_REASONS) + sorted(set(counter) - set(SKIP_REASONS))
    return ', '.join(f'{counter[k]} {k}' for k in order if counter.get(k))


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _short_repr(v, n=40) -> str:
    if isinstance(v, int) and abs(v) >= 10 ** 30:      # a huge int: its size, not its digits
        text = f'{"-" if v < 0 else ""}1e{len(str(abs(v))) - 1}+'
    else:
        text = repr(v)
    return text if len(text) <= n else text[:n] + '...'


_JSON_STRING = re.compile(rb'"(?:[^"\\\\]|\\\\.)*"', re.DOTALL)


def json_depth(raw: bytes) -> int:
    """Deepest nesting of [ ] / { } in a JSON text (brackets inside strings ignored)."""
    skeleton = _JSON_STRING.sub(b'""', raw)
    codes = np.frombuffer(skeleton, dtype=np.uint8)
    steps = (np.isin(codes, (ord('['), ord('{')))).astype(np.int64) - np.isin(codes, (ord(']'), ord('}')))
    return int(np.cumsum(steps).max(initial=0))


def parse_labels_json(raw: bytes, where: str):
    """dataset.json bytes -> JSON value; depth-limited; NaN/Infinity refused; UserError on any problem."""
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise UserError(f'{where}: nested more than {MAX_JSON_DEPTH} levels deep')

    def refuse_constant(name):
        raise ValueError(f'{name} is not a valid label value')

    try:
        return json.loads(raw.decode('utf-8-sig'), parse_constant=refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f'{where}: cannot read labels ({first})') from None


def _scan_folder(root: Path, skipped: Counter):
    """(image names relative to root, {name: size}, has dataset.json) of a folder tree.

    Symlinks are followed; a folder reached twice (a symlink loop, or a second link to
    the same folder) is visited once and counted as a skip. Hidden entries are ignored;
    image-named entries that are not regular files, or cannot be stat'ed, are counted."""
    names, sizes = [], {}
    has_json = False
    seen = set()
    stack = [(str(root), '')]
    while stack:
        dirpath, rel = stack.pop()
        try:
            st = os.stat(dirpath)
            key = (st.st_dev, st.st_ino)
            if key in seen:
                skipped[SKIP_LOOP] += 1
                continue
            seen.add(key)
            with os.scandir(dirpath) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            if rel == '':
                raise UserError(f'cannot read dataset folder {root}: {e.strerror or e}') from None
            skipped[SKIP_UNREADABLE] += 1
            continue
        subdirs = []
        for entry in entries:
            if entry.name.startswith('.'):
                continue
            name = rel + entry.name
            is_image = os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS
            try:
                est = os.stat(entry.path)   # follows symlinks
            except OSError as e:
                if e.errno == getattr(os, 'ELOOP', None) or e.errno == 40:
                    skipped[SKIP_LOOP] += 1
                elif is_image or entry.is_symlink():
                    skipped[SKIP_UNREADABLE] += 1
                continue
            if stat.S_ISDIR(est.st_mode):
                subdirs.append((entry.path, name + '/'))
            elif name == 'dataset.json':
                has_json = True
                sizes[name] = est.st_size
            elif is_image:
                if not stat.S_ISREG(est.st_mode):
                    skipped[SKIP_NOT_REGULAR] += 1
                else:
                    names.append(name)
                    sizes[name] = est.st_size
        stack.extend(reversed(subdirs))
    return sorted(names), sizes, has_json


class _StubPortraits:
    """Procedural stand-in portraits (used only when explorer.training.synthetic is absent):
    a head-shaped ellipse with eyes and mouth on a two-tone background, all parameters
    drawn from a per-index seed."""

    def __init__(self, resolution=128, seed=0, length=None):
        self.resolution = resolution
        self.seed = seed
        self.length = 10000 if length is None else length
        r = resolution
        yy, xx = np.mgrid[0:r, 0:r].astype(np.float32) / (r - 1) * 2 - 1
        self._yy, self._xx = yy, xx

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        rng = np.random.default_rng([self.seed, int(i)])
        yy, xx = self._yy, self._xx
        bg_top, bg_bottom = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        t = ((yy + 1) / 2)[..., None]
        img = bg_top * (1 - t) + bg_bottom * t
        cx, cy = rng.uniform(-0.12, 0.12), rng.uniform(-0.08, 0.12)
        ax, ay = rng.uniform(0.42, 0.58), rng.uniform(0.55, 0.72)
        skin = rng.uniform([120, 80, 60], [250, 210, 180])
        hair = rng.uniform(0, 120, 3)
        head = ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 < 1
        hair_mask = (((xx - cx) / (ax * 1.1)) ** 2 + ((yy - cy + 0.1) / (ay * 1.05)) ** 2 < 1) & (yy < cy - ay * 0.35)
        shade = (1 - 0.25 * np.clip((xx - cx) / ax, -1, 1))[..., None]
        img = np.where(head[..., None], skin * shade, img)
        img = np.where(hair_mask[..., None], hair, img)
        eye_y, eye_dx, eye_r = cy - ay * 0.1, ax * rng.uniform(0.32, 0.45), ax * rng.uniform(0.08, 0.13)
        eye_color = rng.uniform(0, 160, 3)
        for sx in (-1, 1):
            eye = (xx - cx - sx * eye_dx) ** 2 + (yy - eye_y) ** 2 < eye_r ** 2
            img = np.where(eye[..., None], eye_color, img)
        mouth_y, mouth_w = cy + ay * rng.uniform(0.4, 0.55), ax * rng.uniform(0.3, 0.5)
        mouth = (np.abs(xx - cx) < mouth_w) & (np.abs(yy - mouth_y - 0.15 * ((xx - cx) / mouth_w) ** 2) < 0.035)
        img = np.where(mouth[..., None], rng.uniform([120, 20, 30], [220, 90, 100]), img)
        img = np.clip(img, 0, 255).astype(np.uint8).transpose(2, 0, 1)
        return np.ascontiguousarray(img), np.zeros([0], dtype=np.float32)


def _synthetic_source(resolution, seed, length):
    try:
        from explorer.training.synthetic import SyntheticPortraits
    except ImportError:
        return _StubPortraits(resolution=resolution, seed=seed, length=length)
    try:  # the procedural source draws at >= 32 px; smaller resolutions are downsampled here
        return SyntheticPortraits(resolution=max(resolution, 32), seed=seed, length=length)
    except ValueError as e:
        raise UserError(f'synthetic dataset: {e}') from None


class SyntheticDataset(BaseDataset):
    """Adapter over the procedural portrait source (``explorer.training.synthetic``)."""

    def __init__(self, resolution=64, num_channels=3, xflip=False, seed=0, length=None,
                 cache_bytes=DEFAULT_CACHE_BYTES):
        _check_resolution(resolution)
        resolution = resolution or 64
        self.source = _synthetic_source(resolution, seed, length)
        super().__init__(resolution, num_channels, xflip=xflip, label_dim=0, name='synthetic')
        self._cache = _LRUCache(cache_bytes)

    def _num_raw(self):
        return len(self.source)

    def _get_raw(self, raw_idx):
        image = self._cache.get(raw_idx)
        if image is None:
            image, _ = self.source[raw_idx]
            image = np.asarray(image, dtype=np.uint8)
            if image.shape[1:] != (self.resolution, self.resolution):
                pil = Image.fromarray(image.transpose(1, 2, 0))
                image = to_chw(center_crop_resize(pil, self.resolution), 3)
            if self.num_channels == 1:
                image = to_chw(Image.fromarray(image.transpose(1, 2, 0)), 1)
            self._cache.put(raw_idx, image)
        return image, np.zeros([0], dtype=np.float32)


def open_dataset(spec, resolution=None, num_channels=3, xflip=False, use_labels=True,
                 cache_bytes=DEFAULT_CACHE_BYTES, seed=0, length=None):
    """``spec``: a folder, a .zip, or ``'synthetic'``. Raises UserError for unusable input."""
    if spec is None or str(spec).strip() == '':
        raise UserError('no dataset given (use a folder, a .zip of images, or "synthetic")')
    if str(spec) == 'synthetic':
        return SyntheticDataset(resolution=resolution or 64, num_channels=num_channels, xflip=xflip,
                                seed=seed, length=length, cache_bytes=cache_bytes)
    return ImageFolderDataset(spec, resolution=resolution, num_channels=num_channels, xflip=xflip,
                              use_labels=use_labels, cache_bytes=cache_bytes)


class InfiniteSampler:
    """Endless shuffled indices (a fresh permutation per epoch) from a seeded numpy RNG;
    its state round-trips through ``state_dict`` so a resumed run continues the stream."""

    def __init__(self, n, seed=0):
        self.n = n
        self.rng = np.random.RandomState(seed)
        self.order = self.rng.permutation(n)
        self.pos = 0

    def next_batch(self, batch) -> np.ndarray:
        out = []
        while len(out) < batch:
            if self.pos >= self.n:
                self.order = self.rng.permutation(self.n)
                self.pos = 0
            take = min(batch - len(out), self.n - self.pos)
            out.extend(self.order[self.pos:self.pos + take].tolist())
            self.pos += take
        return np.asarray(out, dtype=np.int64)

    def state_dict(self) -> dict:
        kind, keys, pos, has_gauss, cached = self.rng.get_state()
        return {'n': self.n, 'order': [int(i) for i in self.order], 'pos': int(self.pos),
                'rng': {'keys': [int(k) for k in keys], 'pos': int(pos), 'has_gauss': int(has_gauss),
                        'cached_gaussian': float(cached)}}

    def load_state_dict(self, state):
        if int(state['n']) != self.n:  # dataset changed size: keep going with a fresh order
            return
        r = state['rng']
        self.rng.set_state(('MT19937', np.asarray(r['keys'], dtype=np.uint32), r['pos'], r['has_gauss'],
                            r['cached_gaussian']))
        self.order = np.asarray(state['order'], dtype=np.int64)
        self.pos = int(state['pos'])
