"""Stock-ready image files: PNG, JPEG, WebP and TIFF (8-bit; PNG and TIFF also 16-bit), each with
an sRGB ICC profile and metadata that says honestly what the image is.

Every format carries an XMP packet (``explorer.engine.xmp``) with IPTC DigitalSourceType
``trainedAlgorithmicMedia``, a description, the creator tool and version, the checkpoint's
name and SHA-256, and the recipe (JPEG/WebP/TIFF; a PNG keeps the recipe in its own iTXt chunk
as before, ``explorer.engine.png``), so ``Open recipe`` and ``render --recipe`` work on all of
them. JPEG, WebP and 8-bit PNG also get EXIF ImageDescription and Software; TIFF has the same
two as baseline tags. ``ExportOptions`` switches fields off one by one (the AI label is on by
default), picks quality, bit depth, upscaling and an optional visible watermark.

Library choice: Pillow (already a dependency) embeds XMP (JPEG APP1, WebP ``XMP `` chunk,
TIFF tag 700, PNG ``XML:com.adobe.xmp`` iTXt), EXIF and ICC profiles in all four formats, so no
XMP library is added (pyexiv2 / python-xmp-toolkit would bring C++ exiv2 or libexempi for the
same result). The packet itself is built and read with the standard library's ElementTree.

Torch-free: the UI imports it. Float -> uint8/uint16 is ``explorer.engine.export``.
"""

from __future__ import annotations

import datetime
import errno
import functools
import io
import os
import struct
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageDraw, ImageFont, PngImagePlugin

from explorer.engine import c2pa_credentials as C2PA
from explorer.engine import xmp as X
from explorer.engine.atomic import atomic_write
from explorer.engine.c2pa_credentials import ALGORITHMS as C2PA_ALGORITHMS
from explorer.engine.deep_image import (
    TIFF_DESCRIPTION,
    TIFF_ICC,
    TIFF_SOFTWARE,
    TIFF_XMP,
    png_iccp,
    png_itxt,
    write_png16,
    write_tiff16,
)
from explorer.engine.png import (
    EXPORT_KEY,
    RECIPE_KEY,
    check_upscale,
    open_image_info,
    pil_image,
    save_png,
    upscale_image,
    upscaled_size,
)
from explorer.errors import UserError
from explorer.version import __version__

FORMATS = ('png', 'jpeg', 'webp', 'tiff')
EXTENSIONS = {'png': '.png', 'jpeg': '.jpg', 'webp': '.webp', 'tiff': '.tif'}
SUFFIXES = {'.png': 'png', '.jpg': 'jpeg', '.jpeg': 'jpeg', '.webp': 'webp', '.tif': 'tiff', '.tiff': 'tiff'}
DEEP_FORMATS = ('png', 'tiff')              # the formats that can hold 16 bits per channel
CORNERS = ('bottom-right', 'bottom-left', 'top-right', 'top-left')
METADATA_FIELDS = ('ai_label', 'description', 'creator', 'checkpoint', 'recipe')
CREATOR_TOOL = f'StyleGAN Explorer {__version__}'
EXIF_DESCRIPTION, EXIF_SOFTWARE = 0x010E, 0x0131


@dataclass(frozen=True)
class ExportOptions:
    """How an image file is written (the recipe and pixels come from elsewhere)."""
    format: str = 'png'                 # png | jpeg | webp | tiff
    quality: int = 92                   # JPEG / lossy WebP, 1..100
    lossless: bool = False              # WebP: lossless instead of lossy
    bits: int = 8                       # 8, or 16 for PNG/TIFF (from the float render)
    upscale: int = 1                    # Lanczos factor, recorded in the file; the recipe stays native
    ai_label: bool = True               # IPTC DigitalSourceType trainedAlgorithmicMedia
    description: bool = True            # dc:description / EXIF ImageDescription
    creator: bool = True                # xmp:CreatorTool / EXIF Software, and CreateDate
    checkpoint: bool = True             # checkpoint name and SHA-256 (also stripped from the recipe)
    recipe: bool = True                 # the recipe (without it Open recipe cannot restore the image)
    icc: bool = True                    # embed the sRGB ICC profile
    watermark: str = ''                 # visible text drawn on the image ('' = none)
    watermark_corner: str = 'bottom-right'
    c2pa_cert: str = ''                 # C2PA: the user's PEM certificate chain file ('' = do not sign)
    c2pa_key: str = ''                  # C2PA: the matching PEM private key file
    c2pa_alg: str = 'es256'             # C2PA signing algorithm (c2pa_credentials.ALGORITHMS)

    def __post_init__(self):
        if self.format not in FORMATS:
            raise UserError(f'unknown image format {self.format!r} (choose {", ".join(FORMATS)})')
        if not isinstance(self.quality, int) or not 1 <= self.quality <= 100:
            raise UserError(f'quality must be a whole number from 1 to 100, got {self.quality!r}')
        if self.bits not in (8, 16):
            raise UserError(f'bits must be 8 or 16, got {self.bits!r}')
        if self.bits == 16 and self.format not in DEEP_FORMATS:
            raise UserError(f'16-bit export is for PNG and TIFF, not {self.format.upper()}')
        if self.watermark_corner not in CORNERS:
            raise UserError(f'watermark corner must be one of {", ".join(CORNERS)}')
        if bool(self.c2pa_cert) != bool(self.c2pa_key):
            raise UserError('C2PA signing needs both a certificate chain and a private key file')
        if self.c2pa_alg not in C2PA_ALGORITHMS:
            raise UserError(f'C2PA signing algorithm must be one of {", ".join(C2PA_ALGORITHMS)}')
        object.__setattr__(self, 'upscale', check_upscale(self.upscale))

    @property
    def signs(self) -> bool:
        """Are exports signed with C2PA content credentials?"""
        return bool(self.c2pa_cert and self.c2pa_key)

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]

    def replace(self, **kw) -> 'ExportOptions':
        return replace(self, **kw)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> 'ExportOptions':
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in dict(d).items() if k in names})


def format_of(path) -> str | None:
    """The format a file name asks for ('.jpg' -> 'jpeg'), or None for another suffix."""
    return SUFFIXES.get(Path(path).suffix.lower())


def options_for_path(path, options: ExportOptions | None = None) -> ExportOptions:
    """``options`` with the format the file name's suffix asks for (16-bit kept where it fits)."""
    options = options or ExportOptions()
    fmt = format_of(path)
    if fmt is None or fmt == options.format:
        return options
    return options.replace(format=fmt, bits=options.bits if fmt in DEEP_FORMATS else 8)


@functools.lru_cache(maxsize=1)
def srgb_profile() -> bytes:
    """The sRGB ICC profile (littleCMS's built-in sRGB, via Pillow)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile('sRGB')).tobytes()


def describe(recipe: dict | None) -> str:
    """One sentence saying what made the image, for dc:description / EXIF ImageDescription."""
    r = recipe or {}
    ckpt = r.get('checkpoint') or 'a StyleGAN checkpoint'
    if 'grid' in r:
        g = r['grid'] if isinstance(r['grid'], dict) else {}
        what = f"a style-mixing grid (rows {g.get('rows', '?')}, columns {g.get('cols', '?')})"
    else:
        seeds = [s for s in (r.get('seeds') or []) if not str(s).startswith('latent:')]
        latents = len(r.get('seeds') or []) - len(seeds)
        parts = []
        if seeds:
            parts.append(('seed ' if len(seeds) == 1 else 'seeds ') + ', '.join(str(s) for s in seeds))
        if latents or r.get('base_latent'):
            parts.append('a stored latent')
        if r.get('psi') is not None:
            parts.append(f"psi {r['psi']}")
        what = ', '.join(parts) or 'a latent'
    # Models show faces, cars, cats or a user's own data: the sentence claims nothing about the subject
    # beyond its being synthesized.
    return (f'Generated by StyleGAN Explorer from {ckpt}, {what}; AI-generated (trained algorithmic media): '
            f'no real person, place or object is shown.')


def metadata_fields(recipe: dict | None, options: ExportOptions) -> dict:
    """The XMP fields ``options`` keeps for an image made from ``recipe`` (recipe without checkpoint
    when that field is off)."""
    recipe = dict(recipe) if recipe is not None else None
    if recipe is not None and not options.checkpoint:
        recipe.pop('checkpoint', None)
        recipe.pop('checkpoint_sha256', None)
        if isinstance(recipe.get('grid'), dict):
            recipe['grid'] = {k: v for k, v in recipe['grid'].items() if k not in ('checkpoint', 'checkpoint_sha256')}
    out: dict = {}
    if options.ai_label:
        out['digital_source_type'] = X.TRAINED_ALGORITHMIC_MEDIA
    if options.description:
        out['description'] = describe(recipe)
    if options.creator:
        out['creator_tool'] = CREATOR_TOOL
        out['create_date'] = datetime.datetime.now().astimezone().isoformat(timespec='seconds')
    src = recipe or {}
    if options.checkpoint and (src.get('checkpoint') or src.get('checkpoint_sha256')):
        out['checkpoint'] = src.get('checkpoint') or ''
        out['checkpoint_sha256'] = src.get('checkpoint_sha256') or ''
    if options.recipe and recipe is not None:
        out['recipe'] = recipe
    return out


# ---------------------------------------------------------------------------- watermark
def apply_watermark(array: np.ndarray, text: str, corner: str = 'bottom-right') -> np.ndarray:
    """``text`` drawn in white with a dark outline in ``corner`` (uint8 or uint16 [H, W, C])."""
    if not text:
        return array
    h, w = array.shape[:2]
    size = max(10, min(h, w) // 16)
    try:
        font = ImageFont.load_default(size=size)
    except (TypeError, OSError):        # Pillow without FreeType: the small bitmap font
        font = ImageFont.load_default()
    stroke = max(1, size // 12)
    fill, outline = Image.new('L', (w, h), 0), Image.new('L', (w, h), 0)
    box = ImageDraw.Draw(fill).textbbox((0, 0), text, font=font, stroke_width=stroke)
    tw, th = box[2] - box[0], box[3] - box[1]
    margin = max(2, size // 3)
    x = margin - box[0] if corner.endswith('left') else w - margin - tw - box[0]
    y = margin - box[1] if corner.startswith('top') else h - margin - th - box[1]
    ImageDraw.Draw(outline).text((x, y), text, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
    ImageDraw.Draw(fill).text((x, y), text, font=font, fill=255)
    top = 65535.0 if array.dtype == np.uint16 else 255.0
    a_out = np.asarray(outline, np.float32)[:, :, None] / 255 * 0.6
    a_in = np.asarray(fill, np.float32)[:, :, None] / 255
    out = array.astype(np.float32) * (1 - a_out)                # a dark halo, then white text
    out = out * (1 - a_in) + top * a_in
    return np.clip(np.rint(out), 0, top).astype(array.dtype)


def upscale_deep(array: np.ndarray, factor: int) -> np.ndarray:
    """uint16 [H, W, C] -> [H*f, W*f, C], Lanczos per channel in float (as ``upscale_image`` for 8 bits)."""
    factor, w, h = upscaled_size(array, factor)
    if factor == 1:
        return array
    chans = [np.asarray(Image.fromarray(array[:, :, i].astype(np.float32), 'F')
                        .resize((w, h), Image.Resampling.LANCZOS)) for i in range(array.shape[2])]
    return np.clip(np.rint(np.stack(chans, axis=2)), 0, 65535).astype(np.uint16)


# ---------------------------------------------------------------------------- writing
def save_image(path, array: np.ndarray, recipe: dict | None = None, options: ExportOptions | None = None,
               export: dict | None = None) -> Path:
    """Write ``array`` (uint8 [H, W, C], or uint16 for a 16-bit PNG/TIFF) as ``options`` asks,
    atomically (complete or untouched). ``recipe``: the native recipe; how the pixels were
    post-processed (upscale, watermark, ``export`` from the caller) is recorded beside it under
    'export'. UserError for a path that cannot be written."""
    options = options or ExportOptions()
    path = Path(path)
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[:, :, None]
    deep = array.dtype == np.uint16
    if deep != (options.bits == 16):
        raise ValueError(f'{options.bits}-bit export got {array.dtype} pixels')
    native = [array.shape[1], array.shape[0]]
    extra = dict(export or {})
    if options.upscale > 1:
        array = upscale_deep(array, options.upscale) if deep else upscale_image(array, options.upscale)
        extra.update(upscale=options.upscale, resample='lanczos', native_size=native)
    if options.watermark:
        array = apply_watermark(array, options.watermark, options.watermark_corner)
        extra.update(watermark=options.watermark, watermark_corner=options.watermark_corner)
    if recipe is not None:
        recipe = dict(recipe)
        recipe.pop(EXPORT_KEY, None)
    meta = metadata_fields(recipe, options)
    if meta.get('recipe') is not None and extra:
        meta['recipe'] = {**meta['recipe'], EXPORT_KEY: extra}
    encode = _ENCODERS[(options.format, 16 if deep else 8)]
    if not path.parent.exists():
        raise UserError(f'cannot write {path}: folder does not exist')
    if not path.parent.is_dir():
        raise UserError(f'cannot write {path}: {os.strerror(errno.ENOTDIR)}')
    write = lambda f: encode(f, array, meta, options)     # noqa: E731
    if options.signs:       # encoded and signed in memory, then written once: signed or untouched
        buf = io.BytesIO()
        encode(buf, array, dict(meta), options)
        signed = _sign(buf.getvalue(), recipe, options, path.name)
        write = lambda f: f.write(signed)       # noqa: E731
    try:
        atomic_write(path, write)
    except OSError as e:  # permission denied, a folder in the way, disk full ...
        raise UserError(f'cannot write {path}: {e.strerror or e}') from None
    return path


def model_of(recipe: dict | None) -> tuple[str, str]:
    """(checkpoint name, SHA-256) a recipe (or a grid recipe) records; '' where it records none."""
    r = recipe or {}
    if not (r.get('checkpoint') or r.get('checkpoint_sha256')) and isinstance(r.get('grid'), dict):
        r = r['grid']
    return str(r.get('checkpoint') or ''), str(r.get('checkpoint_sha256') or '')


def _sign(data: bytes, recipe: dict | None, options: ExportOptions, title: str) -> bytes:
    """The encoded image with a C2PA manifest signed by the user's chain and key (the model named
    only when the checkpoint field is kept)."""
    cert = C2PA.read_pem(options.c2pa_cert, 'certificate chain')
    key = C2PA.read_pem(options.c2pa_key, 'private key')
    name, sha = model_of(recipe)
    return C2PA.sign_bytes(data, cert, key, options.c2pa_alg, name, sha, title=title, model=options.checkpoint)


def _exif(meta: dict) -> bytes:
    exif = Image.Exif()
    if meta.get('description'):
        exif[EXIF_DESCRIPTION] = meta['description']
    if meta.get('creator_tool'):
        exif[EXIF_SOFTWARE] = meta['creator_tool']
    return exif.tobytes() if len(exif) else b''


def _icc(options) -> dict:
    return {'icc_profile': srgb_profile()} if options.icc else {}


def _png8(f, array, meta, options) -> None:
    info = PngImagePlugin.PngInfo()
    recipe = meta.pop('recipe', None)
    if recipe is not None:                              # the PNG contract: the recipe in its own iTXt chunk
        info.add_itxt(RECIPE_KEY, _json(recipe))
    info.add_itxt('XML:com.adobe.xmp', X.build_xmp(meta).decode('utf-8'))
    exif = _exif(meta)
    pil_image(np.ascontiguousarray(array)).save(f, format='PNG', pnginfo=info, **_icc(options),
                                                **({'exif': exif} if exif else {}))


def _png16(f, array, meta, options) -> None:
    recipe = meta.pop('recipe', None)
    chunks = [png_iccp('sRGB', srgb_profile())] if options.icc else []
    if recipe is not None:
        chunks.append(png_itxt(RECIPE_KEY, _json(recipe)))
    chunks.append(png_itxt('XML:com.adobe.xmp', X.build_xmp(meta).decode('utf-8')))
    write_png16(f, array, chunks)


def _jpeg(f, array, meta, options) -> None:
    main, ext = X.jpeg_segments(meta)
    im = pil_image(np.ascontiguousarray(array))
    if ext:     # the standard packet first, then its extension (Pillow would put ``xmp`` after ``extra``)
        seg = X.JPEG_XMP_ID + main
        kw = {'extra': b'\xff\xe1' + struct.pack('>H', len(seg) + 2) + seg + ext}
    else:
        kw = {'xmp': main}
    exif = _exif(meta)
    im.save(f, format='JPEG', quality=options.quality, **kw, **_icc(options), **({'exif': exif} if exif else {}))


def _webp(f, array, meta, options) -> None:
    exif = _exif(meta)
    pil_image(np.ascontiguousarray(array)).save(f, format='WEBP', quality=options.quality, lossless=options.lossless,
                                                method=4, xmp=X.build_xmp(meta), **_icc(options),
                                                **({'exif': exif} if exif else {}))


def _tiff_tags(meta, options) -> dict:
    tags = {TIFF_XMP: X.build_xmp(meta)}
    if options.icc:
        tags[TIFF_ICC] = srgb_profile()
    if meta.get('description'):
        tags[TIFF_DESCRIPTION] = meta['description']
    if meta.get('creator_tool'):
        tags[TIFF_SOFTWARE] = meta['creator_tool']
    return tags


def _tiff8(f, array, meta, options) -> None:
    buf = io.BytesIO()      # Pillow's TIFF writer seeks; a temp file object may not be seekable everywhere
    tags = _tiff_tags(meta, options)
    kw = {'description': tags.pop(TIFF_DESCRIPTION)} if TIFF_DESCRIPTION in tags else {}
    if TIFF_SOFTWARE in tags:
        kw['software'] = tags.pop(TIFF_SOFTWARE)
    if TIFF_ICC in tags:
        kw['icc_profile'] = tags.pop(TIFF_ICC)
    pil_image(np.ascontiguousarray(array)).save(buf, format='TIFF', compression='tiff_adobe_deflate',
                                                tiffinfo={TIFF_XMP: tags[TIFF_XMP]}, **kw)
    f.write(buf.getvalue())


def _tiff16(f, array, meta, options) -> None:
    write_tiff16(f, array, _tiff_tags(meta, options))


def _json(d) -> str:
    import json
    return json.dumps(d, sort_keys=True)


_ENCODERS = {('png', 8): _png8, ('png', 16): _png16, ('jpeg', 8): _jpeg, ('webp', 8): _webp,
             ('tiff', 8): _tiff8, ('tiff', 16): _tiff16}


# ---------------------------------------------------------------------------- reading
def bit_depth(path) -> int:
    """Bits per channel of a PNG or TIFF we wrote (16 or 8); 8 for anything else or unreadable."""
    try:
        with open(path, 'rb') as f:
            head = f.read(26)
            if head[:8] == b'\x89PNG\r\n\x1a\n' and head[12:16] == b'IHDR':
                return 16 if head[24] == 16 else 8
        if format_of(path) == 'tiff':
            with Image.open(path) as im:
                bits = im.tag_v2.get(258)
                return 16 if bits and max(bits if isinstance(bits, tuple) else (bits,)) == 16 else 8
    except (OSError, SyntaxError, ValueError, IndexError):
        pass
    return 8


def read_metadata(path) -> dict:
    """The XMP fields of an exported image (``xmp.parse_xmp``), the JPEG extended packet's recipe
    included; {} for an image without XMP. UserError for a file that is not a readable image."""

    info, applist = open_image_info(path)
    try:
        return X.metadata_from_info(info, applist)
    except ValueError as e:
        raise UserError(f'{path}: {e}') from None


def write_image(path, array: np.ndarray, recipe: dict | None = None, upscale: int = 1,
                export: dict | None = None, options: 'ExportOptions | None' = None) -> Path:
    """Write an 8-bit frame: as ``options`` says (any format, sRGB profile, XMP metadata),
    ``upscale`` times larger; without ``options`` as today's PNG (``png.save_png``)."""
    if options is None:
        return save_png(path, array, recipe, upscale=upscale, export=export)
    return save_image(path, array, recipe, options.replace(upscale=upscale) if upscale != 1 else options,
                      export=export)
