"""Training data: image folders, zip files of images, and the synthetic portraits.

Every dataset yields ``(image, label)`` with ``image`` a uint8 array ``[C, R, R]``
(C = 3 for RGB or 1 for grayscale, R = the training resolution, a power of two) and
``label`` a float32 array ``[label_dim]`` (``label_dim`` 0 when unconditional).

Images are decoded lazily, one per ``__getitem__``, then center-cropped to a square
and resized to R; a bounded cache keeps the decoded results of small datasets in RAM.
A file that fails to decode is skipped and counted in ``num_skipped``; it is never
fatal. A folder with no decodable image is a ``UserError`` raised before training.

Class labels follow NVIDIA's ``dataset.json`` layout::

    {"labels": [["sub/img0.png", 3], ["sub/img1.png", 0], ...]}

(integers become one-hot vectors of size max+1; lists are used as float vectors.)
"""

from __future__ import annotations

import io
import json
import os
import threading
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image

from explorer.errors import UserError

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.webp', '.bmp')
DEFAULT_CACHE_BYTES = 256 << 20


def is_power_of_two(n) -> bool:
    return isinstance(n, int) and n >= 4 and n & (n - 1) == 0


def _check_resolution(resolution):
    if resolution is not None and not is_power_of_two(resolution):
        raise UserError(f'training resolution must be a power of two >= 4, got {resolution}')


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


def to_chw(img: Image.Image, num_channels: int) -> np.ndarray:
    """PIL image -> uint8 [C, H, W] in RGB (3) or grayscale (1); alpha is composited on black."""
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
        self.num_skipped = 0

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
        skipped = f', {self.num_skipped} skipped' if self.num_skipped else ''
        return (f'{self.name}: {self._num_raw()} images at {self.resolution}x{self.resolution}, '
                f'{self.num_channels} channel(s){extra}{flip}{skipped}')


class ImageFolderDataset(BaseDataset):
    """A folder (searched recursively) or a .zip file of images."""

    def __init__(self,
        path,                           # Folder or .zip file.
        resolution=None,                # Training resolution, None = from the first image.
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
        if self.path.is_dir():
            self._type = 'dir'
            try:
                names = sorted(p.relative_to(self.path).as_posix() for p in self.path.rglob('*') if p.is_file())
            except OSError as e:
                raise UserError(f'cannot read dataset folder {self.path}: {e.strerror or e}') from None
        elif self.path.is_file() and self.path.suffix.lower() == '.zip':
            self._type = 'zip'
            try:
                names = sorted(n for n in self._zipfile().namelist() if not n.endswith('/'))
            except (zipfile.BadZipFile, OSError) as e:
                raise UserError(f'cannot read dataset zip {self.path}: {e}') from None
        elif not self.path.exists():
            raise UserError(f'dataset not found: {self.path}')
        else:
            raise UserError(f'dataset must be a folder of images or a .zip of images: {self.path}')

        candidates = [n for n in names if os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS
                      and not any(part.startswith('.') for part in n.split('/'))]
        if not candidates:
            raise UserError(f'no images ({", ".join(IMAGE_EXTENSIONS)}) found in {self.path}')

        # Cheap header check up front (PIL reads only the header), full decode lazily.
        self._fnames = []
        first_size = None
        skipped = 0
        for name in candidates:
            try:
                with self._open(name) as f:
                    with Image.open(f) as im:
                        size = im.size
            except Exception:
                skipped += 1
                continue
            self._fnames.append(name)
            if first_size is None:
                first_size = size
        if not self._fnames:
            raise UserError(f'none of the {len(candidates)} image files in {self.path} could be decoded')
        if resolution is None:
            s = min(first_size)
            resolution = 1 << (max(int(s), 4).bit_length() - 1)
        label_dim, self._labels = self._load_labels(names) if use_labels else (0, None)
        super().__init__(resolution, num_channels, xflip=xflip, label_dim=label_dim, name=self.path.name)
        self.num_skipped = skipped
        self._bad = set()
        self._cache = _LRUCache(cache_bytes)
        self._counter_lock = threading.Lock()

    # -- file access
    def _zipfile(self):
        if self._zip is None:
            self._zip = zipfile.ZipFile(self.path)
        return self._zip

    def _open(self, name):
        if self._type == 'dir':
            return open(self.path / name, 'rb')
        with self._zip_lock:
            data = self._zipfile().read(name)
        return io.BytesIO(data)

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
    def _load_labels(self, names):
        if 'dataset.json' not in names:
            return 0, None
        try:
            with self._open('dataset.json') as f:
                meta = json.load(f)
            raw = meta.get('labels') if isinstance(meta, dict) else None
            if raw is None:
                return 0, None
            table = {str(k).replace('\\', '/'): v for k, v in raw}
        except (ValueError, TypeError, OSError) as e:
            raise UserError(f'{self.path}/dataset.json: cannot read labels ({e})') from None
        missing = [n for n in self._fnames if n not in table]
        if missing:
            raise UserError(f'{self.path}/dataset.json has no label for {len(missing)} image(s), '
                            f'e.g. {missing[0]}')
        values = [table[n] for n in self._fnames]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            if min(values) < 0:
                raise UserError(f'{self.path}/dataset.json: class labels must be >= 0')
            dim = max(values) + 1
            labels = np.zeros([len(values), dim], dtype=np.float32)
            labels[np.arange(len(values)), values] = 1
        else:
            try:
                labels = np.asarray(values, dtype=np.float32)
            except (ValueError, TypeError):
                raise UserError(f'{self.path}/dataset.json: labels must be integers or equal-length '
                                f'lists of numbers') from None
            if labels.ndim == 1:
                labels = labels[:, None]
            if labels.ndim != 2:
                raise UserError(f'{self.path}/dataset.json: labels must be integers or lists of numbers')
            dim = labels.shape[1]
        return dim, labels

    # -- items
    def _num_raw(self):
        return len(self._fnames)

    def get_label(self, idx):
        if self._labels is None:
            return np.zeros([0], dtype=np.float32)
        return self._labels[idx % self._num_raw()].copy()

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
                    im.load()
                    arr = to_chw(center_crop_resize(im, self.resolution), self.num_channels)
        except Exception:
            return None
        self._cache.put(raw_idx, arr)
        return arr

    def _get_raw(self, raw_idx):
        n = self._num_raw()
        for k in range(n):
            i = (raw_idx + k) % n
            if i in self._bad:
                continue
            image = self._decode(i)
            if image is not None:
                label = self._labels[i] if self._labels is not None else np.zeros([0], dtype=np.float32)
                return image, label.copy()
            with self._counter_lock:
                if i not in self._bad:
                    self._bad.add(i)
                    self.num_skipped += 1
        raise UserError(f'none of the images in {self.path} could be decoded')

    def validate(self, progress=None) -> int:
        """Decode every image once (fills the cache); returns the number of usable images."""
        n = self._num_raw()
        for i in range(n):
            if i not in self._bad and self._decode(i) is None:
                with self._counter_lock:
                    self._bad.add(i)
                    self.num_skipped += 1
            if progress is not None:
                progress(i + 1, n)
        usable = n - len(self._bad)
        if usable == 0:
            raise UserError(f'none of the images in {self.path} could be decoded')
        return usable


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
