"""Files the project writes atomically (saved generators, training snapshots) get the mode
any new file of the user gets (0666 less the umask), not tempfile's private 0600."""

from __future__ import annotations

import os
import stat
import sys

import pytest

pytestmark = pytest.mark.skipif(sys.platform.startswith('win'), reason='POSIX file modes')


@pytest.fixture
def umask():
    old = os.umask(0o022)
    os.umask(old)

    def set_(mask):
        os.umask(mask)
    yield set_
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize('mask, expected', [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_saved_generator_follows_the_umask(tiny_G, tmp_path, umask, mask, expected):
    from explorer.engine.checkpoint import save_generator
    umask(mask)
    path = save_generator(tiny_G, tmp_path / 'g.pt')
    assert mode(path) == expected
    assert [p.name for p in tmp_path.iterdir()] == ['g.pt']        # no temp file left behind


def test_snapshot_is_0644_under_umask_022(tmp_path, umask):
    from explorer.training.runs import list_snapshots
    from explorer.training.snapshot import write_snapshot
    umask(0o022)
    record = {'G': {}, 'G_ema': {}, 'D': {}, 'config': {}, 'nimg': 1000, 'kimg': 1.0}
    path = write_snapshot(tmp_path, record)
    assert mode(path) == 0o644
    assert list_snapshots(tmp_path) == [path]


def test_atomic_write_refuses_cleanly_and_leaves_no_temp(tmp_path, umask):
    from explorer.engine.atomic import atomic_write
    umask(0o022)
    target = tmp_path / 'a.bin'
    atomic_write(target, lambda f: f.write(b'old'))

    def boom(f):
        f.write(b'new')
        raise ValueError('disk full')
    with pytest.raises(ValueError):
        atomic_write(target, boom)
    assert target.read_bytes() == b'old' and mode(target) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ['a.bin']
