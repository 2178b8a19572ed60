"""Hostile or broken training datasets: zip bombs, odd image modes, huge images, bad labels,
symlink loops, FIFOs. Risky cases run in a child process with a memory cap and a timeout."""

import json
import os

import numpy as np
import pytest
from hostile_helpers import (
    deflate_member,
    deflate_zeros,
    last_json_line,
    one_line_error,
    png_header_only,
    run_capped,
    run_cli,
    write_zip,
    zeros_crc,
)
from PIL import Image

from explorer.errors import UserError
from explorer.training import dataset as dsm
from explorer.training.dataset import open_dataset


def _png_bytes(arr):
    import io
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format='PNG')
    return buf.getvalue()


def test_zip_members_are_checked_by_header_in_bounded_memory(tmp_path):
    """A 2.4 MB zip holding 2 GiB and 384 MiB members of zeros: the big one is refused by its
    declared size, the other by its header; peak RSS stays far below either size."""
    assert dsm.MAX_FILE_BYTES < 2 << 30 and dsm.MAX_FILE_BYTES > 384 << 20
    ok = np.full([8, 8, 3], 90, np.uint8)
    z = tmp_path / 'bomb.zip'
    write_zip(z, [
        deflate_member('a.png', _png_bytes(ok)),
        ('huge.png', deflate_zeros(2 << 30), 0, 2 << 30),
        ('zeros.png', deflate_zeros(384 << 20), zeros_crc(384 << 20), 384 << 20),
    ])
    assert z.stat().st_size < 3 << 20
    proc = run_capped(f'''
        import json
        from explorer.training.dataset import open_dataset
        ds = open_dataset({str(z)!r})
        img, _ = ds[0]
        print(json.dumps({{'n': len(ds), 'res': ds.resolution, 'skipped': dict(ds.skipped), 'describe': ds.describe(),
                          'mean': float(img.mean()),
                          'peak_mb': peak_rss_mb()}}))
    ''', timeout=60, mem_bytes=2 << 30)
    assert proc.returncode == 0, proc.stderr
    out = last_json_line(proc.stdout)
    assert out['n'] == 1 and out['res'] == 8 and out['mean'] == 90
    assert out['skipped'] == {'too large': 1, 'undecodable': 1}
    assert 'skipped: 1 undecodable, 1 too large' in out['describe']
    assert out['peak_mb'] < 200, out  # reading 384 MiB whole (twice, as before) would show here


def test_high_bit_depth_gray_is_scaled_not_clipped(tmp_path):
    ramp = (np.arange(32 * 32).reshape(32, 32) * 64).astype(np.uint16)  # 0 .. 65472
    Image.fromarray(ramp).save(tmp_path / 'g16.png')
    assert Image.open(tmp_path / 'g16.png').mode.startswith('I')
    expected = np.rint(ramp / 257)
    for channels in (1, 3):
        ds = open_dataset(tmp_path, resolution=32, num_channels=channels)
        img, _ = ds[0]
        assert img.shape == (channels, 32, 32)
        assert np.abs(img.astype(float) - expected[None]).max() <= 1  # was pure white (255) before
    # 32-bit 'I' images hold 16-bit samples as Pillow reads them; out-of-range values are clipped.
    i_img = Image.fromarray(np.array([[0, 257 * 100, 65535, 99999]], np.int32), 'I')
    assert dsm.to_chw(i_img, 1).ravel().tolist() == [0, 100, 255, 255]


def test_exif_rotation_palette_cmyk_and_alpha_convert_as_shown(tmp_path):
    # EXIF orientation 6 (rotate 90 degrees clockwise to display): a white top band shows on the right.
    im = Image.new('RGB', (64, 64), (0, 0, 0))
    im.paste((255, 255, 255), (0, 0, 64, 16))
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(tmp_path / 'a_rotated.jpg', exif=exif, quality=95)
    # CMYK JPEG of pure red; a palette PNG with a transparent index; an LA image, half transparent.
    Image.new('CMYK', (64, 64), (0, 255, 255, 0)).save(tmp_path / 'b_cmyk.jpg', quality=95)
    pal = Image.new('P', (64, 64), 1)
    pal.putpalette([0, 255, 0] + [0, 0, 255] + [0, 0, 0] * 254)
    pal.paste(0, (0, 0, 32, 64))
    pal.save(tmp_path / 'c_palette.png', transparency=1)
    la = Image.new('LA', (64, 64), (200, 128))
    la.save(tmp_path / 'd_la.png')
    ds = open_dataset(tmp_path, resolution=64, use_labels=False)
    assert ds.filenames == ['a_rotated.jpg', 'b_cmyk.jpg', 'c_palette.png', 'd_la.png'] and ds.num_skipped == 0
    rot, cmyk, palette, gray_alpha = (ds[i][0].astype(int) for i in range(4))
    assert rot[:, :, -8:].mean() > 240 and rot[:, :, :40].mean() < 15  # band moved to the right edge
    assert rot[:, :8, :].mean() < 100
    r, g, b = cmyk.reshape(3, -1).mean(axis=1)
    assert r > 200 and g < 60 and b < 60
    assert palette[1, :, :28].mean() > 240 and palette[:, :, 36:].max() == 0  # transparent -> black
    assert abs(gray_alpha.mean() - 200 * 128 / 255) < 3  # composited on black


def test_huge_first_image_caps_the_resolution_and_bombs_are_skipped(tmp_path):
    Image.new('1', (12000, 12000), 1).save(tmp_path / 'a_big.png')  # ~20 KB on disk
    Image.new('RGB', (40, 40), (10, 20, 30)).save(tmp_path / 'b.png')
    (tmp_path / 'c_bomb.png').write_bytes(png_header_only(100000, 100000))
    (tmp_path / 'd_wide.png').write_bytes(png_header_only(dsm.MAX_IMAGE_PIXELS, 2))
    ds = open_dataset(tmp_path)
    assert ds.resolution == dsm.AUTO_RESOLUTION_MAX == 1024
    assert 'capped at 1024' in ds.resolution_note and '--resolution' in ds.resolution_note
    assert 'capped at 1024' in ds.describe()
    assert ds.filenames == ['a_big.png', 'b.png'] and dict(ds.skipped) == {'too large': 2}
    assert open_dataset(tmp_path, resolution=32).resolution_note == ''
    with pytest.raises(UserError, match='from 4 to 4096, got 8192'):
        open_dataset(tmp_path, resolution=8192)


@pytest.mark.parametrize('labels, message', [
    ('{"labels": [["a.png", NaN], ["b.png", 1.0]]}', 'NaN is not a valid label value'),
    ('{"labels": [["a.png", 1e999], ["b.png", 1.0]]}', 'label of a.png is not finite'),
    ('{"labels": [["a.png", null], ["b.png", 1]]}', 'label of a.png is None'),
    ('{"labels": [["a.png", "3"], ["b.png", 1]]}', "label of a.png is '3'"),
    ('{"labels": [["a.png", true], ["b.png", 1]]}', 'label of a.png is True'),
    ('{"labels": [["a.png", 1000000000], ["b.png", 1]]}', 'class label 1000000000 of a.png is out of range'),
    ('{"labels": [["a.png", -1], ["b.png", 1]]}', 'class label -1 of a.png is out of range'),
    ('{"labels": [["a.png", [1, 2]], ["b.png", [1]]]}', 'label of b.png has 1 value'),
    ('{"labels": [["a.png", []], ["b.png", []]]}', 'label of a.png is \\[\\]'),
    ('{"labels": {"a.png": 1}}', 'must be a list of'),
    ('{"labels": [["a.png"], ["b.png", 1]]}', 'must be a list of'),
    ('{"labels": [["a.png", 1]]}', 'no label for 1 image'),
    ('[' * 100000 + ']' * 100000, 'nested more than 32 levels'),
    ('{"labels": [["a.png", 1], ', 'cannot read labels'),
    (b'\xff\xfe\x00junk', 'cannot read labels'),
])
def test_bad_labels_are_one_line_errors(tmp_path, labels, message):
    for name in ('a.png', 'b.png'):
        Image.new('RGB', (8, 8)).save(tmp_path / name)
    target = tmp_path / 'dataset.json'
    target.write_bytes(labels if isinstance(labels, bytes) else labels.encode())
    with pytest.raises(UserError, match=message) as info:
        open_dataset(tmp_path)
    assert '\n' not in str(info.value) and 'dataset.json' in str(info.value)
    assert open_dataset(tmp_path, use_labels=False).label_dim == 0  # --no-labels still trains


def test_valid_labels_and_large_class_ids_stay_small(tmp_path):
    for name in ('a.png', 'b.png'):
        Image.new('RGB', (8, 8)).save(tmp_path / name)
    (tmp_path / 'dataset.json').write_text(json.dumps({'labels': [['a.png', 60000], ['b.png', 2]]}))
    ds = open_dataset(tmp_path)
    assert ds.label_dim == 60001
    assert ds.get_label(0).argmax() == 60000 and ds.get_label(1).argmax() == 2 and ds.get_label(1).sum() == 1
    assert ds._labels is None  # one-hot rows are built per item, not stored as an N x 60001 matrix
    (tmp_path / 'dataset.json').write_text(json.dumps({'labels': [['a.png', 0.5], ['b.png', -2]]}))
    ds = open_dataset(tmp_path)
    assert ds.label_dim == 1 and ds.get_label(1).tolist() == [-2.0]
    (tmp_path / 'dataset.json').write_text(json.dumps({'labels': None}))
    assert open_dataset(tmp_path).label_dim == 0


def test_cli_train_with_nan_labels_exits_2_with_one_line(tmp_path):
    for name in ('a.png', 'b.png'):
        Image.new('RGB', (8, 8)).save(tmp_path / name)
    (tmp_path / 'dataset.json').write_text('{"labels": [["a.png", NaN], ["b.png", 1.0]]}')
    proc = run_cli(['train', '--data', tmp_path, '--outdir', tmp_path / 'run', '--kimg', '0.01'], timeout=120)
    assert proc.returncode == 2
    assert 'NaN is not a valid label value' in one_line_error(proc)
    assert not list((tmp_path / 'run').glob('network-snapshot-*'))


@pytest.mark.skipif(not hasattr(os, 'mkfifo'), reason='needs FIFOs and symlinks')
def test_symlinks_fifos_and_oversized_files_are_followed_or_counted(tmp_path):
    root, other = tmp_path / 'data', tmp_path / 'elsewhere'
    (root / 'sub').mkdir(parents=True)
    other.mkdir()
    Image.new('RGB', (8, 8), (1, 2, 3)).save(root / 'a.png')
    Image.new('RGB', (8, 8), (4, 5, 6)).save(root / 'sub' / 'b.png')
    Image.new('RGB', (8, 8), (7, 8, 9)).save(other / 'c.png')
    (root / 'linked').symlink_to(other, target_is_directory=True)  # followed
    (root / 'sub' / 'loop').symlink_to(root, target_is_directory=True)  # a loop: counted, not followed
    (root / 'self.png').symlink_to(root / 'self.png')  # ELOOP on stat
    (root / 'gone.png').symlink_to(tmp_path / 'nowhere.png')  # broken link
    os.mkfifo(root / 'pipe.png')  # opening it would block forever
    (root / 'bad.png').write_bytes(b'not a png at all')
    with open(root / 'sparse.png', 'wb') as f:  # over the size limit, sparse: nothing on disk
        f.truncate(dsm.MAX_FILE_BYTES + 1)
    proc = run_capped(f'''
        import json
        from explorer.training.dataset import open_dataset
        ds = open_dataset({str(root)!r}, resolution=8)
        ds.validate()
        print(json.dumps({{'names': ds.filenames, 'skipped': dict(ds.skipped), 'describe': ds.describe()}}))
    ''', timeout=30, mem_bytes=2 << 30)
    assert proc.returncode == 0, proc.stderr
    out = last_json_line(proc.stdout)
    assert out['names'] == ['a.png', 'linked/c.png', 'sub/b.png']
    assert out['skipped'] == {'symlink loop': 2, 'unreadable': 1, 'not a regular file': 1, 'undecodable': 1,
                              'too large': 1}
    assert ('3 images at 8x8, 3 channel(s), skipped: 1 undecodable, 1 too large, 1 not a regular file, '
            '1 unreadable, 2 symlink loop') in out['describe']
