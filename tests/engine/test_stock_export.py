"""Stock-ready export: PNG/JPEG/WebP/TIFF (16-bit PNG/TIFF) with an sRGB profile and honest metadata.

Each format round-trips the recipe (the same pixels for lossless formats, the same settings for
lossy ones); readers other than our own code find the AI label (IPTC DigitalSourceType
trainedAlgorithmicMedia) and the ICC profile: the XMP packet parsed straight from the file's
bytes with ElementTree, FFmpeg (PyAV) for 16-bit pixels, littleCMS for the profile, and
exiftool where it is installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from explorer.engine.image_export import ExportOptions, read_metadata, save_image
from explorer.engine.png import read_export_info, read_recipe
from explorer.engine.recipe import Recipe
from explorer.engine.stored_latents import StoredLatent
from explorer.errors import UserError

DST = 'http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia'
IPTC_EXT = '{http://iptc.org/std/Iptc4xmpExt/2008-02-29/}DigitalSourceType'
SHA = 'ab' * 32
# (format, bits, extra options): every kind of file the export writes
KINDS = [('png', 8, {}), ('jpeg', 8, {}), ('webp', 8, {}), ('webp', 8, {'lossless': True}), ('tiff', 8, {}),
         ('png', 16, {}), ('tiff', 16, {})]
LOSSLESS = [k for k in KINDS if k[0] in ('png', 'tiff') or k[2].get('lossless')]


def _recipe() -> dict:
    return Recipe(seeds=(42,), psi=0.7, noise_mode='const', checkpoint='portraits64.pt',
                  checkpoint_sha256=SHA).to_dict()


def _pixels(bits, shape=(24, 32, 3), seed=0):
    rng = np.random.default_rng(seed)
    if bits == 16:
        return rng.integers(0, 65536, shape, dtype=np.uint16)
    y, x = np.mgrid[0:shape[0], 0:shape[1]]             # smooth, so a lossy codec stays close
    base = np.stack([x * 7, y * 9, (x + y) * 4], axis=2) % 256
    return base.astype(np.uint8)


def _write(tmp_path, fmt, bits, extra, px=None, recipe=None, **kw):
    opts = ExportOptions(format=fmt, bits=bits, **extra, **kw)
    px = _pixels(bits) if px is None else px
    path = tmp_path / f'img{bits}{"L" if extra else ""}{opts.extension}'
    save_image(path, px, _recipe() if recipe is None else recipe, opts)
    return path, px


def _decode16(path) -> np.ndarray:
    """16-bit pixels with FFmpeg's decoders (PyAV): not our writer, not Pillow (which reads 8 bits)."""
    av = pytest.importorskip('av')
    with av.open(str(path)) as c:
        return next(c.decode(video=0)).to_ndarray(format='rgb48le')


def _xmp_from_bytes(path) -> ET.Element:
    """The XMP packet found in the raw bytes of the file (the standard JPEG segment, a WebP chunk,
    a TIFF tag or a PNG iTXt chunk: all store it uncompressed), parsed with ElementTree."""
    raw = path.read_bytes()
    start, end = raw.find(b'<x:xmpmeta'), raw.find(b'</x:xmpmeta>')
    assert 0 <= start < end, 'no XMP packet in the file'
    return ET.fromstring(raw[start:end + len(b'</x:xmpmeta>')])


# ---------------------------------------------------------------------------- round trips
@pytest.mark.parametrize('fmt,bits,extra', LOSSLESS)
def test_lossless_formats_keep_pixels_and_recipe(tmp_path, fmt, bits, extra):
    path, px = _write(tmp_path, fmt, bits, extra)
    got = _decode16(path) if bits == 16 else np.asarray(Image.open(path).convert('RGB'))
    assert got.dtype == px.dtype and np.array_equal(got, px)
    assert read_recipe(path) == _recipe()
    assert read_export_info(path) == {}


@pytest.mark.parametrize('fmt', ['jpeg', 'webp'])
def test_lossy_formats_keep_the_recipe(tmp_path, fmt):
    path, px = _write(tmp_path, fmt, 8, {}, quality=90)
    assert read_recipe(path) == _recipe()
    assert Recipe.from_dict(read_recipe(path)) == Recipe.from_dict(_recipe())
    got = np.asarray(Image.open(path).convert('RGB')).astype(int)
    assert np.abs(got - px).mean() < 6          # lossy, but the same picture


def test_upscale_is_the_same_in_every_format(tmp_path):
    """x2 Lanczos for 8-bit formats, recorded beside a native recipe; 16-bit within a level of it."""
    want = np.asarray(Image.fromarray(_pixels(8)).resize((64, 48), Image.Resampling.LANCZOS))
    for fmt in ('png', 'tiff', 'webp'):
        path, _ = _write(tmp_path, fmt, 8, {'lossless': True} if fmt == 'webp' else {}, upscale=2)
        assert np.array_equal(np.asarray(Image.open(path).convert('RGB')), want), fmt
        assert read_export_info(path) == {'upscale': 2, 'resample': 'lanczos', 'native_size': [32, 24]}
        assert read_recipe(path) == _recipe()
    deep = _pixels(8).astype(np.uint16) * 257
    path, _ = _write(tmp_path, 'png', 16, {}, px=deep, upscale=2)
    assert np.abs(_decode16(path).astype(int) / 257 - want).max() <= 1.0


def test_large_recipe_in_jpeg_uses_extended_xmp(tmp_path):
    """A blend of two W+ stored latents (18 x 512 floats each) does not fit one JPEG XMP segment: the
    recipe moves to the extended packet and still comes back whole."""
    rng = np.random.default_rng(1)
    a, b = (StoredLatent.from_array(rng.standard_normal((18, 512)).astype(np.float32), name=n) for n in 'ab')
    recipe = Recipe(checkpoint='portraits64.pt', checkpoint_sha256=SHA).with_latent(a).with_latent(b)
    recipe = recipe.replace(seeds=(a.ref, b.ref), seed_weights=(0.5, 0.5)).to_dict()
    assert len(json.dumps(recipe)) > 65535
    path, _ = _write(tmp_path, 'jpeg', 8, {}, recipe=recipe)
    assert read_recipe(path) == recipe
    assert Recipe.from_dict(read_recipe(path)).to_dict() == recipe
    assert _xmp_from_bytes(path).find(f'.//{IPTC_EXT}').text == DST     # the label stays in the standard packet
    if shutil.which('exiftool'):
        tags = _exiftool(path)
        assert tags['XMP:DigitalSourceType'] == DST
        assert tags['XMP:HasExtendedXMP']
        raw = subprocess.run(['exiftool', '-b', '-Recipe', str(path)], capture_output=True, timeout=60).stdout
        assert json.loads(raw) == recipe                                 # exiftool joins the extended packet


# ---------------------------------------------------------------------------- independent readers
@pytest.mark.parametrize('fmt,bits,extra', KINDS)
def test_xmp_in_the_raw_bytes_says_trained_algorithmic_media(tmp_path, fmt, bits, extra):
    path, _ = _write(tmp_path, fmt, bits, extra)
    root = _xmp_from_bytes(path)
    assert root.find(f'.//{IPTC_EXT}').text == DST
    desc = root.find('.//{http://purl.org/dc/elements/1.1/}description//{http://www.w3.org/1999/02/22-rdf-syntax-ns#}li')
    assert 'portraits64.pt' in desc.text and 'seed 42' in desc.text
    assert 'AI-generated (trained algorithmic media): no real person, place or object is shown.' in desc.text
    tool = root.find('.//{http://ns.adobe.com/xap/1.0/}CreatorTool').text
    assert tool.startswith('StyleGAN Explorer ')


@pytest.mark.parametrize('fmt,bits,extra', KINDS)
def test_srgb_profile_is_embedded(tmp_path, fmt, bits, extra):
    path, _ = _write(tmp_path, fmt, bits, extra)
    with Image.open(path) as im:
        icc = im.info.get('icc_profile')
    assert icc, 'no ICC profile'
    profile = ImageCms.ImageCmsProfile(__import__('io').BytesIO(icc))   # parsed by littleCMS
    assert 'sRGB' in ImageCms.getProfileDescription(profile)


def _exiftool(path) -> dict:
    out = subprocess.run(['exiftool', '-j', '-G', '-struct', str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)[0]


@pytest.mark.skipif(shutil.which('exiftool') is None, reason='exiftool is not installed')
def test_exiftool_reads_label_description_checkpoint_and_profile(tmp_path):
    for fmt, bits, extra in KINDS:
        path, _ = _write(tmp_path, fmt, bits, extra)
        tags = _exiftool(path)
        assert tags['XMP:DigitalSourceType'] == DST, (fmt, bits)
        assert 'no real person, place or object is shown' in tags['XMP:Description']
        assert tags['XMP:CreatorTool'].startswith('StyleGAN Explorer ')
        assert tags['XMP:CheckpointSHA256'] == SHA
        assert 'sRGB' in tags['ICC_Profile:ProfileDescription']
        assert not any(k.endswith(':Warning') or k.endswith(':Error') for k in tags), tags
        if fmt != 'png':
            assert tags['EXIF:ImageDescription'] == tags['XMP:Description'], fmt
        if bits == 16:
            assert str(tags.get('PNG:BitDepth', tags.get('EXIF:BitsPerSample'))).startswith('16')


# ---------------------------------------------------------------------------- options
def test_stripping_the_recipe_keeps_the_ai_label(tmp_path):
    for fmt in ('png', 'jpeg'):
        path, _ = _write(tmp_path, fmt, 8, {'recipe': False})
        with pytest.raises(UserError, match='holds no StyleGAN Explorer recipe'):
            read_recipe(path)
        meta = read_metadata(path)
        assert meta['digital_source_type'] == DST and 'recipe' not in meta
        assert b'"psi"' not in path.read_bytes()


def test_stripping_the_checkpoint_removes_its_hash_everywhere(tmp_path):
    path, _ = _write(tmp_path, 'webp', 8, {}, checkpoint=False)
    assert SHA.encode() not in path.read_bytes()
    assert 'checkpoint_sha256' not in read_recipe(path)
    assert read_metadata(path)['digital_source_type'] == DST


def test_ai_label_can_be_turned_off_but_is_on_by_default(tmp_path):
    assert ExportOptions().ai_label
    path, _ = _write(tmp_path, 'png', 8, {}, ai_label=False)
    assert 'digital_source_type' not in read_metadata(path) and b'trainedAlgorithmicMedia' not in path.read_bytes()


def test_watermark_marks_its_corner_only_and_is_recorded(tmp_path):
    px = np.full((64, 96, 3), 40, np.uint8)
    path, _ = _write(tmp_path, 'png', 8, {}, px=px, watermark='AI', watermark_corner='top-left')
    got = np.asarray(Image.open(path).convert('RGB'))
    changed = np.argwhere(np.any(got != px, axis=2))
    assert len(changed) > 0 and got.max() > 200                       # white text
    assert changed[:, 0].max() < 32 and changed[:, 1].max() < 48       # inside the top-left quarter
    assert read_export_info(path) == {'watermark': 'AI', 'watermark_corner': 'top-left'}
    assert read_recipe(path) == _recipe()                              # re-renders the clean image


def test_bad_options_are_one_line_errors():
    with pytest.raises(UserError, match='16-bit'):
        ExportOptions(format='jpeg', bits=16)
    with pytest.raises(UserError, match='quality'):
        ExportOptions(format='jpeg', quality=0)
    with pytest.raises(UserError, match='format'):
        ExportOptions(format='bmp')


def test_hostile_xmp_is_refused(tmp_path):
    """An XMP packet with entity declarations (the 'billion laughs' shape) is never parsed."""
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            b'<rdf:Description xmlns:sgx="http://ns.stylegan-explorer.invalid/1.0/" sgx:Recipe="&b;"/></rdf:RDF>'
            b'</x:xmpmeta>')
    path = tmp_path / 'bomb.jpg'
    Image.fromarray(_pixels(8)).save(path, xmp=bomb)
    with pytest.raises(UserError, match='DOCTYPE'):
        read_recipe(path)


# ---------------------------------------------------------------------------- CLI
@pytest.fixture
def ckpt(tiny_G, tmp_path):
    from explorer.engine.checkpoint import save_generator
    return str(save_generator(tiny_G, tmp_path / 'tiny.pt'))


def test_cli_formats_re_render_from_their_own_recipe(ckpt, tmp_path, capsys):
    from explorer.cli import main
    base = ['--checkpoint', ckpt, '--device', 'cpu', '--psi', '0.6']
    assert main(['render', *base, '--seeds', '5', '--outdir', str(tmp_path / 'png')]) == 0
    assert main(['render', *base, '--seeds', '5', '--format', 'jpeg', '--quality', '80',
                 '--outdir', str(tmp_path / 'jpg')]) == 0
    assert main(['render', *base, '--seeds', '5', '--format', 'tiff', '--bits', '16',
                 '--outdir', str(tmp_path / 'tif')]) == 0
    png, jpg, tif = tmp_path / 'png/seed0005.png', tmp_path / 'jpg/seed0005.jpg', tmp_path / 'tif/seed0005.tif'
    ref = np.asarray(Image.open(png).convert('RGB'))
    assert read_recipe(jpg) == read_recipe(png) == read_recipe(tif)
    # lossy: the JPEG's recipe renders the very PNG pixels again
    assert main(['render', '--checkpoint', ckpt, '--device', 'cpu', '--recipe', str(jpg), '--format', 'png',
                 '--outdir', str(tmp_path / 'again')]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / 'again/seed0005.png').convert('RGB')), ref)
    # lossless 16-bit: the same 16-bit pixels, within one 8-bit level of the PNG
    assert main(['render', '--checkpoint', ckpt, '--device', 'cpu', '--recipe', str(tif),
                 '--outdir', str(tmp_path / 'again16')]) == 0
    deep = _decode16(tif)
    assert np.array_equal(_decode16(tmp_path / 'again16/seed0005.tif'), deep)
    assert np.abs(deep.astype(int) / 257 - ref).max() <= 1.0
    assert len(np.unique(deep)) > len(np.unique(ref))                # more levels than 8 bits have
    assert 'wrote 1 TIFF(s)' in capsys.readouterr().err


@pytest.mark.parametrize('flags,message', [
    (['--format', 'jpeg', '--bits', '16'], '16-bit'),
    (['--strip', 'recipe,bogus'], 'unknown field'),
    (['--format', 'webp', '--quality', '101'], 'quality'),
])
def test_cli_bad_export_flags_are_one_line(ckpt, tmp_path, capsys, flags, message):
    from explorer.cli import main
    code = main(['render', '--checkpoint', ckpt, '--device', 'cpu', '--seeds', '1', '--outdir', str(tmp_path),
                 *flags])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0] and 'Traceback' not in err[0], err


# ---------------------------------------------------------------------------- GUI
@pytest.fixture
def win(qtbot, ckpt):
    pytest.importorskip('PyQt6')
    pytest.importorskip('pytestqt')
    from explorer.ui.main_window import MainWindow
    w = MainWindow(checkpoint=ckpt, device='cpu')
    qtbot.addWidget(w)
    try:
        qtbot.waitUntil(lambda: w.frame is not None, timeout=15000)
        yield w
    finally:
        w.shutdown()


def test_gui_preferences_drive_save_batch_and_open(qtbot, win, tmp_path):
    from explorer.ui.export_prefs import ExportPrefsDialog, load_export_options, store_export_options
    prefs = ExportOptions(format='tiff', bits=16, recipe=True, creator=False, watermark='', quality=70)
    dlg = ExportPrefsDialog(win, prefs)
    assert dlg.options() == prefs                                      # the dialog shows and returns them
    dlg.deleteLater()
    store_export_options(win.settings, prefs)
    assert load_export_options(win.settings) == prefs
    # Save: the suffix picks the format; WebP is 8-bit, the label and recipe are in its XMP
    with qtbot.waitSignal(win.pngSaved, timeout=15000) as saved:
        out = win.exporter.save_png(tmp_path / 'shot.webp')
    assert saved.args[1] == ''
    meta = read_metadata(out)
    assert meta['digital_source_type'] == DST and 'creator_tool' not in meta
    assert Recipe.from_dict(read_recipe(out)).seeds == win.recipe.seeds
    # Save with the default format: a 16-bit TIFF, rendered again from the float pixels
    with qtbot.waitSignal(win.pngSaved, timeout=15000):
        deep = win.exporter.save_png(tmp_path / 'shot.tif')
    assert _decode16(deep).dtype == np.uint16
    assert np.abs(_decode16(deep).astype(int) / 257 - win.frame).max() <= 1.0
    # Batch export writes the preferred format
    with qtbot.waitSignal(win.worker.batchFinished, timeout=30000) as done:
        win.batch.export([3, 4], tmp_path / 'batch')
    paths, error = done.args
    assert error == '' and [Path(p).name for p in paths] == ['seed0003.tif', 'seed0004.tif']
    assert read_metadata(paths[0])['digital_source_type'] == DST
    # Open recipe restores the settings from a JPEG/WebP/TIFF
    win.latent_panel.seed.setValue(77)
    assert win.opener.open_recipe(out) and win.recipe.seeds == Recipe.from_dict(read_recipe(out)).seeds


def test_cli_mix_grid_as_jpeg_keeps_grid_recipe_and_label(ckpt, tmp_path):
    from explorer.cli import main
    out = tmp_path / 'grid.jpg'
    assert main(['mix', '--checkpoint', ckpt, '--device', 'cpu', '--rows', '1,2', '--cols', '3', '--labels',
                 '--out', str(out)]) == 0
    assert read_recipe(out)['grid']['rows'] == [1, 2]
    assert _xmp_from_bytes(out).find(f'.//{IPTC_EXT}').text == DST
    assert 'style-mixing grid' in read_metadata(out)['description']
