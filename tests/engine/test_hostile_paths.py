"""Hostile paths: FIFOs and devices given as checkpoints or images are refused at once (in a
child with a timeout, since a regression would hang); writes into a full disk leave nothing."""

import json
import os
import re
import resource
import signal
from contextlib import contextmanager

import pytest
from hostile_helpers import run_capped

from explorer.cli import main
from explorer.engine.checkpoint import save_generator
from explorer.engine.files import NotRegularFile, open_regular, require_regular_file

pytestmark = pytest.mark.skipif(not hasattr(os, 'mkfifo'), reason='needs FIFOs')


def test_open_regular_refuses_fifos_devices_and_folders(tmp_path):
    fifo = tmp_path / 'pipe.pt'
    os.mkfifo(fifo)  # nobody writes to it: a plain open() would block forever
    (tmp_path / 'ok.bin').write_bytes(b'abc')
    with open_regular(tmp_path / 'ok.bin') as f:
        assert f.read() == b'abc'
    for path, kind in ((fifo, 'a FIFO (named pipe)'), ('/dev/null', 'a device'), (tmp_path, 'a folder')):
        with pytest.raises(NotRegularFile, match=re.escape(f'is {kind}, not a regular file')):
            open_regular(path)
        with pytest.raises(NotRegularFile):
            require_regular_file(path)
    (tmp_path / 'link.pt').symlink_to(fifo)
    with pytest.raises(NotRegularFile, match='FIFO'):
        open_regular(tmp_path / 'link.pt')
    with pytest.raises(FileNotFoundError):
        open_regular(tmp_path / 'missing.pt')


def test_cli_refuses_a_fifo_or_device_checkpoint_at_once(tmp_path):
    fifo = tmp_path / 'model.pt'
    os.mkfifo(fifo)
    out = tmp_path / 'out'
    proc = run_capped(f'''
        import contextlib, io, json
        from explorer.cli import main
        results = []
        for args in (['info', {str(fifo)!r}],
                     ['render', '--checkpoint', {str(fifo)!r}, '--seeds', '0', '--outdir', {str(out)!r}],
                     ['mix', '--checkpoint', {str(fifo)!r}, '--rows', '1', '--cols', '2',
                      '--out', {str(out / 'grid.png')!r}],
                     ['render', '--checkpoint', '/dev/zero', '--seeds', '0', '--outdir', {str(out)!r}]):
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                rc = main(args)
            results.append([rc, err.getvalue()])
        from explorer.engine.png import read_recipe
        from explorer.errors import UserError
        try:
            read_recipe({str(fifo)!r})
        except UserError as e:
            results.append([2, str(e)])
        print(json.dumps(results))
    ''', timeout=60, mem_bytes=6 << 30)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for rc, err in results[:3]:
        assert rc == 2 and err.strip() == f'error: {fifo}: is a FIFO (named pipe), not a regular file'
    rc, err = results[3]
    assert rc == 2 and err.strip() == 'error: /dev/zero: is a device, not a regular file'
    assert results[4][1] == f'{fifo}: is a FIFO (named pipe), not a regular file'


@contextmanager
def _file_size_limit(n_bytes):
    """Writes past ``n_bytes`` fail with EFBIG (as on a full disk) instead of killing the process."""
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (n_bytes, old[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)
        signal.signal(signal.SIGXFSZ, old_handler)


def test_writes_into_a_full_disk_leave_no_file_behind(tiny_G, tmp_path, capsys):
    ckpt = save_generator(tiny_G, tmp_path / 'tiny.pt')
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'seed0000.png').write_bytes(b'old')  # an existing file is replaced completely or not at all
    with _file_size_limit(100):
        rc_render = main(['render', '--checkpoint', str(ckpt), '--seeds', '0-2', '--outdir', str(out)])
        rc_mix = main(['mix', '--checkpoint', str(ckpt), '--rows', '1', '--cols', '2', '--out', str(out / 'g.png')])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith('error')]  # (+ mix progress)
    assert rc_render == 2 and rc_mix == 2
    assert len(err) == 2 and all(line.startswith('error: cannot write') and 'File too large' in line for line in err)
    assert sorted(p.name for p in out.iterdir()) == ['seed0000.png']
    assert (out / 'seed0000.png').read_bytes() == b'old'
    assert main(['render', '--checkpoint', str(ckpt), '--seeds', '0-1', '--outdir', str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ['seed0000.png', 'seed0001.png']
    assert (out / 'seed0000.png').read_bytes()[:4] == b'\x89PNG'
