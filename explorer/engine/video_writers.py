"""Video writers: MP4 (H.264 through PyAV), GIF and animated WebP (Pillow), PNG folders.

Every writer writes to a temporary name beside the output and renames it into place
only in ``close()``; ``abort()`` (or leaving the ``with`` block by an exception,
Ctrl+C included) deletes the temporary, so a cancelled export leaves no half file under
the final name. The animation JSON (``Animation.to_json``) is written beside the file as
``F.mp4.json`` (a PNG folder: ``DIR/animation.json``) and, where the container has a
place for it, inside: the MP4 ``comment`` tag, a GIF comment, WebP XMP; every PNG frame
holds its own frame recipe (re-renders that frame).

Frames are uint8 [H, W, C] (C = 3, or 1 for grayscale models), upscaled by an integer
factor (Lanczos or nearest) before encoding. MP4 is H.264 yuv420p with even dimensions
(an odd edge is padded by repeating the last row/column); ``quality`` 0..100 maps to
x264's CRF 40..10 (default 75 -> CRF 18). WebP: ``quality`` is libwebp's (100 = lossless).
GIF: a 256-colour palette per frame, frame delays in 1/100 s (alternating so the average
rate is the requested fps). The GIF and WebP encoders merge a frame that repeats the one
before it into one longer frame (the timing is kept, the stored frame count is smaller):
GIF only identical frames (a hold), lossy WebP also frames within its quality-dependent
tolerance (about 5 levels at quality 75, e.g. the slow ends of an eased move); quality 100
(lossless WebP) or MP4 / PNG frames keep every frame. An animation JSON over 60 kB (many
embedded W+ latents) goes to the sidecar only, not into the MP4 comment.

PyAV (``av``) was chosen over imageio-ffmpeg: its wheels bundle FFmpeg with libx264 as
libraries, frames go in as numpy arrays in-process (no pipe to a subprocess to feed or to
kill on cancel, errors arrive as exceptions), and the same library decodes for tests.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from fractions import Fraction
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image

from explorer.errors import UserError

log = logging.getLogger(__name__)

FORMATS = {'.mp4': 'mp4', '.gif': 'gif', '.webp': 'webp'}
RESAMPLE = {'lanczos': Image.Resampling.LANCZOS, 'nearest': Image.Resampling.NEAREST}
MAX_SCALE = 16
MAX_EDGE = 8192
METADATA_KEY = 'stylegan-explorer-animation'
MP4_COMMENT_LIMIT = 60_000          # a larger animation JSON lives in the sidecar only
DEFAULT_QUALITY = 75


def format_of(path) -> str:
    """'mp4' | 'gif' | 'webp' | 'png' (a path without an extension: a folder of PNG frames)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in FORMATS:
        return FORMATS[suffix]
    if suffix == '' or path.is_dir():
        return 'png'
    raise UserError(f'{path}: unknown video format {suffix!r}; use .mp4, .gif, .webp or a folder name (PNG frames)')


def sidecar_path(path) -> Path:
    path = Path(path)
    if format_of(path) == 'png':
        return path / 'animation.json'
    return path.with_name(path.name + '.json')


def parse_size(text, native: int) -> int:
    """'2x' | '256' | 'native' -> integer upscale factor for a ``native``-pixel model."""
    t = str(text).strip().lower()
    if t in ('', 'native', '1x'):
        return 1
    try:
        if t.endswith('x'):
            factor = int(t[:-1])
        else:
            edge = int(t)
            if edge <= 0 or edge % native:
                raise UserError(f'--size {text}: must be a multiple of the model\'s {native} px '
                                f'(e.g. {native * 2}) or a factor such as 2x')
            factor = edge // native
    except ValueError:
        raise UserError(f'--size {text!r}: give an edge in pixels (e.g. {native * 2}) or a factor (2x)') from None
    if not 1 <= factor <= MAX_SCALE or native * factor > MAX_EDGE:
        raise UserError(f'--size {text}: upscale factor must be 1..{MAX_SCALE} and the edge at most {MAX_EDGE} px')
    return factor


def upscale(frame: np.ndarray, factor: int, resample: str = 'lanczos') -> np.ndarray:
    """uint8 [H, W, C] -> [H*f, W*f, C]."""
    if factor == 1:
        return frame
    if resample == 'nearest':
        return np.repeat(np.repeat(frame, factor, axis=0), factor, axis=1)
    im = _pil(frame)
    out = np.asarray(im.resize((im.width * factor, im.height * factor), RESAMPLE[resample]))
    return out.reshape(out.shape[0], out.shape[1], -1)


def _pil(frame: np.ndarray) -> Image.Image:
    if frame.ndim == 3 and frame.shape[2] == 1:
        return Image.fromarray(frame[:, :, 0], 'L')
    return Image.fromarray(np.ascontiguousarray(frame[:, :, :3]), 'RGB')


def _rgb(frame: np.ndarray) -> np.ndarray:
    if frame.shape[2] == 1:
        return np.repeat(frame, 3, axis=2)
    return frame[:, :, :3]


def frame_delays(n: int, fps: float, unit_ms: int) -> list:
    """Per-frame delays in ms, multiples of ``unit_ms``, whose running sum tracks i * 1000 / fps."""
    ticks = [round(i * 1000 / (fps * unit_ms)) for i in range(n + 1)]
    return [max(1, ticks[i + 1] - ticks[i]) * unit_ms for i in range(n)]


class VideoWriter:
    """Base: temp-then-rename, sidecar JSON, upscaling. Use as a context manager::

        with open_writer(path, fps, metadata=json_text) as w:
            for frame in frames:
                w.write(frame)
        # closed (renamed into place) on success, aborted (temp deleted) on any exception
    """

    fmt = ''

    def __init__(self, path, fps: float, quality: int = DEFAULT_QUALITY, scale: int = 1, resample: str = 'lanczos',
                 metadata: str = '', sidecar: bool = True):
        self.path = Path(path)
        if not (isinstance(fps, (int, float)) and 0 < fps <= 240):
            raise UserError(f'fps must be a number > 0 and <= 240, got {fps!r}')
        if not (isinstance(quality, int) and 0 <= quality <= 100):
            raise UserError(f'quality must be a whole number 0..100, got {quality!r}')
        if resample not in RESAMPLE:
            raise UserError(f'resample must be one of {", ".join(RESAMPLE)}, got {resample!r}')
        if not (isinstance(scale, int) and 1 <= scale <= MAX_SCALE):
            raise UserError(f'scale must be a whole number 1..{MAX_SCALE}')
        self.fps = float(fps)
        self.quality = quality
        self.scale = scale
        self.resample = resample
        self.metadata = metadata
        self.sidecar = sidecar
        self.count = 0
        self.size = None                # (width, height) written
        self.closed = False
        parent = self.path.parent
        if not parent.is_dir():
            raise UserError(f'cannot write {self.path}: folder {parent} does not exist')
        if self.path.is_dir() and self.fmt != 'png':
            raise UserError(f'cannot write {self.path}: it is a folder')
        self.tmp = parent / f'.{self.path.name}.{os.getpid()}.part'
        self._sidecar_tmp = None
        self._open()

    # subclasses
    def _open(self):
        try:
            self.tmp.touch()
        except OSError as e:
            raise UserError(f'cannot write {self.path}: {e.strerror or e}') from None

    def _write(self, frame: np.ndarray, info: dict | None):
        raise NotImplementedError

    def _finish(self):
        raise NotImplementedError

    # public
    def write(self, frame: np.ndarray, info: dict | None = None) -> None:
        """One frame, uint8 [H, W, C] at native size; ``info``: the frame's recipe dict
        (kept by PNG frames)."""
        if self.closed:
            raise RuntimeError('writer is closed')
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] not in (1, 3, 4):
            raise ValueError(f'frames must be uint8 [H, W, C], got {frame.dtype} {list(frame.shape)}')
        frame = upscale(frame, self.scale, self.resample)
        size = (frame.shape[1], frame.shape[0])
        if self.size is None:
            self.size = size
        elif size != self.size:
            raise ValueError(f'frame {self.count} is {size}, earlier frames {self.size}')
        self._write(frame, info)
        self.count += 1

    def close(self) -> Path:
        """Finish the file and move it (and its sidecar) into place."""
        if self.closed:
            return self.path
        if self.count == 0:
            raise UserError('no frames were written')
        try:
            self._finish()
            if self.sidecar and self.metadata:
                side = sidecar_path(self.path)
                self._sidecar_tmp = side.with_name(f'.{side.name}.{os.getpid()}.part') if self.fmt != 'png' \
                    else self.tmp / 'animation.json'
                self._sidecar_tmp.write_text(self.metadata, encoding='utf-8')
            self._install()
            if self.sidecar and self.metadata and self.fmt != 'png':
                os.replace(self._sidecar_tmp, sidecar_path(self.path))
        except BaseException:
            self.abort()
            raise
        self.closed = True
        return self.path

    def _install(self):
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Drop everything written so far; the final name is left as it was."""
        self.closed = True
        self._release()
        for p in (self.tmp, self._sidecar_tmp):
            if p is None:
                continue
            try:
                if p.is_dir():
                    shutil.rmtree(p)
                elif p.exists():
                    p.unlink()
            except OSError:
                pass

    def _release(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


class Mp4Writer(VideoWriter):
    fmt = 'mp4'

    def _open(self):
        try:
            import av
        except ImportError:
            raise UserError('MP4 export needs PyAV: pip install av') from None
        self._av = av
        super()._open()             # fails here (not after rendering) when the folder is not writable
        try:
            self.container = av.open(str(self.tmp), mode='w', format='mp4')
        except (OSError, av.FFmpegError) as e:
            raise UserError(f'cannot write {self.path}: {getattr(e, "strerror", None) or e}') from None
        if self.metadata and len(self.metadata) <= MP4_COMMENT_LIMIT:
            self.container.metadata['comment'] = self.metadata
        self.stream = None

    @property
    def crf(self) -> int:
        return round(40 - 0.3 * self.quality)

    def _write(self, frame, info):
        rgb = _rgb(frame)
        h, w = rgb.shape[:2]
        if h % 2 or w % 2:
            rgb = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode='edge')
        if self.stream is None:
            self.stream = self.container.add_stream('libx264', rate=Fraction(self.fps).limit_denominator(1001))
            self.stream.width, self.stream.height = rgb.shape[1], rgb.shape[0]
            self.stream.pix_fmt = 'yuv420p'
            self.stream.options = {'crf': str(self.crf), 'preset': 'medium'}
        vf = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format='rgb24')
        vf.pts = self.count
        try:
            for packet in self.stream.encode(vf):
                self.container.mux(packet)
        except (OSError, self._av.FFmpegError) as e:
            raise UserError(f'cannot write {self.path}: {getattr(e, "strerror", None) or e}') from None

    def _finish(self):
        try:
            for packet in self.stream.encode():
                self.container.mux(packet)
            self.container.close()
        except (OSError, self._av.FFmpegError) as e:
            raise UserError(f'cannot write {self.path}: {getattr(e, "strerror", None) or e}') from None
        self.container = None

    def _release(self):
        c = getattr(self, 'container', None)
        self.container = None
        if c is not None:
            try:
                c.close()
            except Exception:  # closing a half-written file on abort
                log.debug('closing an aborted MP4 failed', exc_info=True)


class _PillowAnimWriter(VideoWriter):
    """GIF / WebP: Pillow needs every frame at once; they are kept (as encoded-ready images)."""

    def _open(self):
        super()._open()
        self.images = []

    def _write(self, frame, info):
        self.images.append(self._convert(frame))

    def _convert(self, frame):
        return _pil(frame)

    def _release(self):
        self.images = []


class GifWriter(_PillowAnimWriter):
    fmt = 'gif'

    def _finish(self):
        delays = frame_delays(len(self.images), self.fps, 10)
        kw = {'format': 'GIF', 'save_all': True, 'append_images': self.images[1:], 'duration': delays, 'loop': 0,
                  'disposal': 1}
        if self.metadata:
            kw['comment'] = self.metadata.encode('utf-8')
        with open(self.tmp, 'wb') as f:
            self.images[0].save(f, **kw)


class WebpWriter(_PillowAnimWriter):
    fmt = 'webp'

    def _convert(self, frame):
        return Image.fromarray(np.ascontiguousarray(_rgb(frame)), 'RGB')

    def _finish(self):
        delays = frame_delays(len(self.images), self.fps, 1)
        kw = {'format': 'WEBP', 'save_all': True, 'append_images': self.images[1:], 'duration': delays, 'loop': 0,
                  'quality': self.quality, 'lossless': self.quality >= 100, 'method': 4}
        if self.metadata:
            kw['xmp'] = _xmp(self.metadata)
        with open(self.tmp, 'wb') as f:
            self.images[0].save(f, **kw)


class PngFolderWriter(VideoWriter):
    """frame00000.png, ... in a folder, each with its frame recipe embedded."""
    fmt = 'png'

    def _open(self):
        if self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            raise UserError(f'{self.path} already exists and is not an empty folder; choose a new folder name')
        try:
            self.tmp.mkdir()
        except OSError as e:
            raise UserError(f'cannot write {self.path}: {e.strerror or e}') from None

    def _write(self, frame, info):
        from PIL import PngImagePlugin

        from explorer.engine.png import RECIPE_KEY
        pnginfo = PngImagePlugin.PngInfo()
        if info is not None:
            pnginfo.add_itxt(RECIPE_KEY, json.dumps(info, sort_keys=True))
        name = self.tmp / f'frame{self.count:05d}.png'
        _pil(frame).save(name, format='PNG', pnginfo=pnginfo)

    def _finish(self):
        pass

    def _install(self):
        if self.path.is_dir():
            self.path.rmdir()           # empty (checked at open)
        os.replace(self.tmp, self.path)


WRITERS = {'mp4': Mp4Writer, 'gif': GifWriter, 'webp': WebpWriter, 'png': PngFolderWriter}


def open_writer(path, fps: float, **kw) -> VideoWriter:
    """The writer for ``path``'s extension (.mp4 / .gif / .webp; no extension: PNG folder)."""
    return WRITERS[format_of(path)](path, fps, **kw)


# ---------------------------------------------------------------------------- metadata

def _xmp(text: str) -> bytes:
    body = (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'<rdf:Description xmlns:sge="https://github.com/stylegan-explorer/ns/1.0/">'
            f'<sge:animation>{escape(text)}</sge:animation></rdf:Description></rdf:RDF></x:xmpmeta>')
    return body.encode('utf-8')


def read_embedded(path) -> dict | None:
    """The animation JSON embedded in a video we wrote (None when it holds none)."""
    path = Path(path)
    fmt = format_of(path)
    text = None
    if fmt == 'mp4':
        import av
        with av.open(str(path)) as c:
            text = c.metadata.get('comment')
    elif fmt == 'gif':
        with Image.open(path) as im:
            c = im.info.get('comment')
            text = c.decode('utf-8') if isinstance(c, bytes) else c
    elif fmt == 'webp':
        with Image.open(path) as im:
            xmp = im.info.get('xmp')
        if xmp:
            import re
            from xml.sax.saxutils import unescape
            m = re.search(rb'<sge:animation>(.*?)</sge:animation>', xmp, re.DOTALL)
            text = unescape(m.group(1).decode('utf-8')) if m else None
    else:
        side = path / 'animation.json'
        text = side.read_text(encoding='utf-8') if side.is_file() else None
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def decode_frames(path) -> list:
    """Decode a written video into uint8 [H, W, 3] frames (PyAV for MP4, Pillow for GIF/WebP,
    the PNG files of a folder). For tests and previews."""
    path = Path(path)
    fmt = format_of(path)
    if fmt == 'mp4':
        import av
        with av.open(str(path)) as c:
            return [f.to_ndarray(format='rgb24') for f in c.decode(video=0)]
    if fmt == 'png':
        out = []
        for p in sorted(path.glob('frame*.png')):
            with Image.open(p) as im:
                out.append(np.asarray(im.convert('RGB')))
        return out
    out = []
    with Image.open(path) as im:
        for i in range(getattr(im, 'n_frames', 1)):
            im.seek(i)
            out.append(np.asarray(im.convert('RGB')))
    return out
