"""Training datasets: folders, zips, labels, corrupt files, synthetic source, sampler."""

import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from explorer.errors import UserError
from explorer.training.dataset import ImageFolderDataset, InfiniteSampler, SyntheticDataset, open_dataset


def _save(path, arr, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format=fmt)


def _three_band(h, w):
    """Wide image: red left third, green middle, blue right third."""
    arr = np.zeros([h, w, 3], np.uint8)
    arr[:, : w // 3] = (255, 0, 0)
    arr[:, w // 3: 2 * w // 3] = (0, 255, 0)
    arr[:, 2 * w // 3:] = (0, 0, 255)
    return arr


@pytest.fixture
def image_dir(tmp_path):
    d = tmp_path / 'imgs'
    _save(d / 'a.png', np.full([20, 20, 3], 200, np.uint8))
    _save(d / 'sub' / 'deeper' / 'b.jpg', np.full([40, 40, 3], 100, np.uint8))
    _save(d / 'c.webp', np.full([32, 32, 3], 50, np.uint8))
    _save(d / 'd.bmp', np.full([16, 16, 3], 10, np.uint8))
    _save(d / 'e.jpeg', np.full([64, 48, 3], 128, np.uint8))
    _save(d / 'wide.png', _three_band(30, 90))
    _save(d / 'gray.png', np.full([24, 24], 77, np.uint8))
    rgba = np.zeros([16, 16, 4], np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 255
    _save(d / 'alpha.png', rgba)
    (d / 'notes.txt').write_text('not an image')
    (d / 'garbage.png').write_bytes(b'\x00\x01 definitely not a png' * 10)
    # Valid header, truncated data: only a full decode finds out.
    good = d / 'sub' / 'trunc_src.png'
    _save(good, (np.random.default_rng(0).integers(0, 255, [64, 64, 3])).astype(np.uint8))
    data = good.read_bytes()
    (d / 'sub' / 'trunc.png').write_bytes(data[: len(data) // 2])
    good.unlink()
    return d


def test_folder_recursive_formats_crop_and_skip(image_dir):
    ds = open_dataset(image_dir, resolution=16)
    names = ds.filenames
    assert 'sub/deeper/b.jpg' in names and 'c.webp' in names and 'd.bmp' in names and 'e.jpeg' in names
    assert 'notes.txt' not in names
    assert ds.num_skipped == 1  # garbage.png fails the header check
    assert ds.resolution == 16 and ds.num_channels == 3 and ds.label_dim == 0
    seen = [ds[i] for i in range(len(ds))]
    for img, label in seen:
        assert img.shape == (3, 16, 16) and img.dtype == np.uint8
        assert label.shape == (0,) and label.dtype == np.float32
    assert ds.num_skipped == 2  # ... and the truncated file fails its full decode, counted once
    for i in range(len(ds)):
        ds[i]
    assert ds.num_skipped == 2
    wide, _ = ds[names.index('wide.png')]
    assert tuple(wide[:, 8, 8]) == (0, 255, 0)  # center crop keeps the middle (green) band
    assert tuple(ds[names.index('alpha.png')][0][:, 0, 0]) == (255, 0, 0)
    assert tuple(ds[names.index('gray.png')][0][:, 3, 3]) == (77, 77, 77)


def test_validate_counts_all_bad_files(image_dir):
    ds = open_dataset(image_dir, resolution=8)
    usable = ds.validate()
    assert usable == len(ds.filenames) - 1
    assert ds.num_skipped == 2


def test_grayscale_and_xflip(tmp_path):
    arr = np.zeros([8, 8, 3], np.uint8)
    arr[:, :4] = 255
    _save(tmp_path / 'half.png', arr)
    ds = open_dataset(tmp_path, resolution=8, num_channels=1, xflip=True)
    assert len(ds) == 2 and ds.num_channels == 1
    img, _ = ds[0]
    flipped, _ = ds[1]
    assert img.shape == (1, 8, 8)
    assert img[0, 0, 0] == 255 and img[0, 0, 7] == 0
    np.testing.assert_array_equal(flipped, img[:, :, ::-1])


def test_zip_and_labels(tmp_path):
    z = tmp_path / 'data.zip'
    labels = []
    with zipfile.ZipFile(z, 'w') as zf:
        for i in range(6):
            name = f'{i // 3:05d}/img{i:08d}.png'
            buf = __import__('io').BytesIO()
            Image.fromarray(np.full([8, 8, 3], i * 40, np.uint8)).save(buf, format='PNG')
            zf.writestr(name, buf.getvalue())
            labels.append([name, i % 3])
        zf.writestr('broken.jpg', b'nope')
        zf.writestr('dataset.json', json.dumps({'labels': labels}))
    ds = open_dataset(z, resolution=8)
    assert len(ds) == 6 and ds.label_dim == 3 and ds.num_skipped == 1
    img, label = ds[4]
    assert img[0, 0, 0] == 160
    np.testing.assert_array_equal(label, np.eye(3, dtype=np.float32)[1])
    np.testing.assert_array_equal(ds.get_label(5), np.eye(3, dtype=np.float32)[2])
    assert open_dataset(z, resolution=8, use_labels=False).label_dim == 0


def test_float_labels(tmp_path):
    for i in range(2):
        _save(tmp_path / f'{i}.png', np.zeros([4, 4, 3], np.uint8))
    (tmp_path / 'dataset.json').write_text(json.dumps({'labels': [['0.png', [0.5, 1.0]], ['1.png', [2.0, 3.0]]]}))
    ds = open_dataset(tmp_path, resolution=4)
    assert ds.label_dim == 2
    np.testing.assert_allclose(ds[1][1], [2.0, 3.0])


def test_resolution_defaults_to_power_of_two_of_first_image(tmp_path):
    _save(tmp_path / 'a.png', np.zeros([50, 70, 3], np.uint8))
    assert open_dataset(tmp_path).resolution == 32


@pytest.mark.parametrize('setup, message', [
    (lambda p: None, 'no images'),
    (lambda p: (p / 'x.png').write_bytes(b'junk'), 'could be decoded'),
    (lambda p: (p / 'readme.md').write_text('hi'), 'no images'),
])
def test_unusable_folders_are_user_errors(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(UserError, match=message):
        open_dataset(tmp_path, resolution=8)


def test_bad_specs(tmp_path):
    with pytest.raises(UserError, match='not found'):
        open_dataset(tmp_path / 'missing', resolution=8)
    (tmp_path / 'file.txt').write_text('x')
    with pytest.raises(UserError, match='folder of images or a .zip'):
        open_dataset(tmp_path / 'file.txt', resolution=8)
    (tmp_path / 'bad.zip').write_bytes(b'not a zip')
    with pytest.raises(UserError, match='cannot read dataset zip'):
        open_dataset(tmp_path / 'bad.zip', resolution=8)
    _save(tmp_path / 'ok' / 'a.png', np.zeros([8, 8, 3], np.uint8))
    with pytest.raises(UserError, match='power of two'):
        open_dataset(tmp_path / 'ok', resolution=24)
    with pytest.raises(UserError):
        open_dataset('', resolution=8)


def test_all_files_failing_lazily_is_a_user_error(tmp_path):
    good = tmp_path / 'src.png'
    _save(good, np.random.default_rng(1).integers(0, 255, [32, 32, 3]).astype(np.uint8))
    data = good.read_bytes()
    good.unlink()
    (tmp_path / 't.png').write_bytes(data[: len(data) // 3])
    ds = ImageFolderDataset(tmp_path, resolution=8)
    with pytest.raises(UserError, match='could be decoded'):
        ds[0]


def test_synthetic_source():
    ds = open_dataset('synthetic', resolution=16, length=5)
    assert isinstance(ds, SyntheticDataset)
    assert len(ds) == 5 and ds.resolution == 16 and ds.label_dim == 0
    a, label = ds[0]
    b, _ = ds[1]
    assert a.shape == (3, 16, 16) and a.dtype == np.uint8 and label.shape == (0,)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, open_dataset('synthetic', resolution=16, length=5)[0][0])  # deterministic
    gray = open_dataset('synthetic', resolution=16, num_channels=1, length=2)
    assert gray[0][0].shape == (1, 16, 16)


def test_sampler_covers_epoch_and_state_round_trips():
    s = InfiniteSampler(10, seed=3)
    first = s.next_batch(10)
    assert sorted(first.tolist()) == list(range(10))
    s.next_batch(4)
    state = s.state_dict()
    json.dumps(state)  # plain types only
    expected = s.next_batch(25)
    t = InfiniteSampler(10, seed=99)
    t.load_state_dict(state)
    np.testing.assert_array_equal(t.next_batch(25), expected)


def test_cli_train_reports_empty_dataset(tmp_path, capsys):
    from explorer.cli import main
    (tmp_path / 'empty').mkdir()
    rc = main(['train', '--data', str(tmp_path / 'empty'), '--outdir', str(tmp_path / 'run'), '--kimg', '1'])
    err = capsys.readouterr().err
    assert rc == 2
    assert 'no images' in err and 'Traceback' not in err
