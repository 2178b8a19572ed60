"""Hostile download servers (all on 127.0.0.1): trickling, stalling, endless and huge bodies,
redirect loops, files that download but do not load, signals mid-download, stale .part files."""

import http.server
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch
from hostile_helpers import ROOT, run_capped

from explorer.engine import download
from explorer.engine.checkpoint import (
    cache_dir,
    load_generator,
    read_checkpoint,
    save_generator,
)
from explorer.errors import CheckpointError


class _Server:
    """http.server on 127.0.0.1:0; routes: path -> callable(handler) that answers the request."""

    def __init__(self):
        self.routes = {}
        self.hits = {}
        self.stop = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.0'

            def do_GET(self):
                outer.hits[self.path] = outer.hits.get(self.path, 0) + 1
                route = outer.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                try:
                    route(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f'http://127.0.0.1:{self.httpd.server_address[1]}{path}'

    def close(self):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


def body(data, length=True):
    def answer(h):
        h.send_response(200)
        if length:
            h.send_header('Content-Length', str(len(data)))
        h.end_headers()
        h.wfile.write(data)
    return answer


def drip(chunk, every, total, length=None, stop=None):
    """Send ``chunk`` every ``every`` seconds until ``total`` bytes (a finite server: a missing
    limit makes a test fail, never hang)."""
    def answer(h):
        h.send_response(200)
        if length is not None:
            h.send_header('Content-Length', str(length))
        h.end_headers()
        sent = 0
        while sent < total and not (stop is not None and stop.is_set()):
            h.wfile.write(chunk)
            h.wfile.flush()
            sent += len(chunk)
            time.sleep(every)
    return answer


def _downloads():
    d = cache_dir() / 'downloads'
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


@pytest.fixture
def ckpt_bytes(tiny_G, tmp_path):
    return save_generator(tiny_G, tmp_path / 'tiny.pt').read_bytes()


def test_trickling_server_is_a_stall_and_leaves_nothing(server):
    server.routes['/slow.pt'] = drip(b'P', 0.02, 1000, length=10 ** 6, stop=server.stop)  # 50 bytes/s
    t0 = time.time()
    with pytest.raises(CheckpointError, match='download stalled: [0-9]+ bytes in 1 s') as info:
        download.fetch(server.url('/slow.pt'), timeout=0.6)
    assert time.time() - t0 < 5 and '\n' not in str(info.value)
    assert _downloads() == []


def test_silent_server_times_out(server):
    def silent(h):
        h.send_response(200)
        h.send_header('Content-Length', '1000')
        h.end_headers()
        h.wfile.flush()
        server.stop.wait(10)
    server.routes['/silent.pt'] = silent
    with pytest.raises(CheckpointError, match=r'download stalled: nothing received for 0.5 s'):
        download.fetch(server.url('/silent.pt'), timeout=0.5)
    assert _downloads() == []


def test_total_deadline_from_the_environment(server, monkeypatch):
    server.routes['/big.pt'] = drip(b'PK' * 2048, 0.02, 4 << 20, length=4 << 20, stop=server.stop)  # ~200 KB/s
    monkeypatch.setenv('STYLEGAN_EXPLORER_DOWNLOAD_TIMEOUT', '1')
    t0 = time.time()
    with pytest.raises(CheckpointError, match=r'download stopped: not finished after 1 s \(.* received; '
                                              r'STYLEGAN_EXPLORER_DOWNLOAD_TIMEOUT\)'):
        load_generator(server.url('/big.pt'))
    assert time.time() - t0 < 5
    assert _downloads() == []
    monkeypatch.setenv('STYLEGAN_EXPLORER_DOWNLOAD_TIMEOUT', 'inf')
    with pytest.raises(CheckpointError, match='must be a finite number'):
        download.fetch(server.url('/big.pt'))


def test_announced_size_over_the_cap_is_refused_before_reading(server, monkeypatch):
    def huge(h):
        h.send_response(200)
        h.send_header('Content-Length', str(10 << 30))
        h.end_headers()
        h.wfile.write(b'PK' * 10)
    server.routes['/huge.pt'] = huge
    with pytest.raises(CheckpointError, match=r'the server announces 10.0 GiB, more than the 4.0 GiB limit'):
        download.fetch(server.url('/huge.pt'))
    monkeypatch.setenv('STYLEGAN_EXPLORER_DOWNLOAD_MAX_BYTES', str(1 << 20))
    server.routes['/2m.pt'] = body(b'PK' * (1 << 20))
    with pytest.raises(CheckpointError, match=r'announces 2.0 MiB, more than the 1.0 MiB limit'):
        download.fetch(server.url('/2m.pt'))
    assert _downloads() == []


def test_endless_body_stops_at_the_cap_in_a_capped_child(server, tmp_path):
    """No Content-Length, zeros forever: the child stops at its 1 MiB cap; its file-size limit
    (8 MiB) and memory cap make a regression fail instead of filling the disk."""
    server.routes['/endless.pt'] = drip(b'PK' + bytes(65534), 0, 1 << 40, stop=server.stop)
    cache = tmp_path / 'cache'
    proc = run_capped(f'''
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (8 << 20, 8 << 20))
        from explorer.engine import download
        from explorer.errors import CheckpointError
        try:
            download.fetch({server.url('/endless.pt')!r}, cache={str(cache)!r}, max_bytes=1 << 20)
        except CheckpointError as e:
            print('refused:', e)
    ''', timeout=60, mem_bytes=4 << 30)
    assert proc.returncode == 0, proc.stderr
    assert 'refused:' in proc.stdout and 'download stopped: more than the 1.0 MiB limit' in proc.stdout
    assert list(cache.iterdir()) == []


def test_redirect_loop_is_one_line(server):
    def loop(h):
        h.send_response(302)
        h.send_header('Location', '/loop.pt')
        h.send_header('Content-Length', '0')
        h.end_headers()
    server.routes['/loop.pt'] = loop
    with pytest.raises(CheckpointError) as info:
        download.fetch(server.url('/loop.pt'))
    assert str(info.value) == f'{server.url("/loop.pt")}: download failed: too many redirects (HTTP 302; ' \
                              f'a redirect loop?)'
    assert _downloads() == []


def test_downloaded_file_that_fails_to_load_is_not_kept(server, ckpt_bytes, tiny_G, tmp_path, capsys):
    from explorer.cli import main
    wrong = tmp_path / 'wrong.pt'
    torch.save({'weights': torch.zeros(3)}, wrong)  # a complete torch zip, but no checkpoint layout
    server.routes['/m.pt'] = body(wrong.read_bytes())
    url = server.url('/m.pt')
    with pytest.raises(CheckpointError, match='unknown layout.*removed from the download cache'):
        read_checkpoint(url)
    assert _downloads() == []
    assert main(['render', '--checkpoint', url, '--seeds', '0', '--outdir', str(tmp_path / 'out')]) == 2
    assert 'removed from the download cache' in capsys.readouterr().err
    assert _downloads() == [] and server.hits['/m.pt'] == 2  # fetched again, not trusted from the cache
    server.routes['/m.pt'] = body(ckpt_bytes)  # fixed upstream: the next try fetches and loads it
    assert main(['render', '--checkpoint', url, '--seeds', '0', '--outdir', str(tmp_path / 'out')]) == 0
    assert server.hits['/m.pt'] == 3 and len(_downloads()) == 1
    assert load_generator(url).z_dim == tiny_G.z_dim and server.hits['/m.pt'] == 3


def test_stale_part_files_are_removed_and_live_ones_kept(server, ckpt_bytes):
    folder = cache_dir() / 'downloads'
    folder.mkdir(parents=True, exist_ok=True)
    gone = subprocess.Popen([sys.executable, '-c', 'pass'])
    gone.wait()
    dead = folder / f'.abc-x.pt.k3j4.{gone.pid}.part'
    old = folder / f'.abc-y.pt.k3j5.{os.getpid()}.part'
    legacy = folder / '.abc-z.pt.k3j6.part'
    live = folder / f'.abc-w.pt.k3j7.{os.getpid()}.part'
    for p in (dead, old, legacy, live):
        p.write_bytes(b'PK' * 1000)
    os.utime(old, (time.time() - 2 * download.STALE_PART_SECONDS,) * 2)
    server.routes['/tiny.pt'] = body(ckpt_bytes)
    path = download.fetch(server.url('/tiny.pt'))
    assert path.read_bytes() == ckpt_bytes
    assert sorted(p.name for p in folder.iterdir()) == sorted([path.name, live.name])


def test_sigterm_mid_download_removes_the_part_file(server):
    server.routes['/slow.pt'] = drip(b'PK' * 4096, 0.05, 64 << 20, length=64 << 20, stop=server.stop)
    folder = cache_dir() / 'downloads'
    code = f'''
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from explorer.engine import download
        try:
            download.fetch({server.url('/slow.pt')!r})
        except KeyboardInterrupt:
            print('interrupted', flush=True)
            sys.exit(130)
    '''
    import textwrap
    proc = subprocess.Popen([sys.executable, '-c', textwrap.dedent(code)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        deadline = time.time() + 30
        while not (folder.exists() and any(p.stat().st_size > 0 for p in folder.glob('.*.part'))):
            assert proc.poll() is None and time.time() < deadline, proc.stderr.read() if proc.poll() else 'slow'
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)  # (SIGHUP takes the same path)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and 'interrupted' in out, err
    assert list(folder.iterdir()) == []
