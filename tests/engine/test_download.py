"""Checkpoint URLs: download from a local server, progress, cache reuse, broken downloads."""

import hashlib
import http.server
import threading

import numpy as np
import pytest
import torch

from explorer.engine import download
from explorer.engine.checkpoint import load_generator, save_generator
from explorer.engine.progress import Cancelled
from explorer.errors import CheckpointError
from explorer.paths import cache_dir


class _Server:
    """http.server on 127.0.0.1:0 in a thread; routes: path -> (body, mode)."""

    def __init__(self):
        self.routes = {}
        self.hits = {}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.0'

            def do_GET(self):
                outer.hits[self.path] = outer.hits.get(self.path, 0) + 1
                if self.path not in outer.routes:
                    self.send_error(404)
                    return
                body, mode = outer.routes[self.path]
                self.send_response(200)
                self.send_header('Content-Type', 'application/octet-stream')
                if mode != 'nolength_cut':
                    self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                if mode == 'full':
                    self.wfile.write(body)
                else:  # close the connection mid-body
                    self.wfile.write(body[:len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.timeout = 5
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f'http://127.0.0.1:{self.httpd.server_address[1]}{path}'

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


@pytest.fixture
def ckpt_bytes(tiny_G, tmp_path):
    path = save_generator(tiny_G, tmp_path / 'tiny.pt')
    return path.read_bytes()


def _cached_files():
    d = cache_dir() / 'downloads'
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def _render(G):
    z = torch.from_numpy(np.random.RandomState(0).randn(1, G.z_dim)).float()
    with torch.no_grad():
        return G(z, None, noise_mode='const')


def test_download_progress_and_cache_reuse(server, ckpt_bytes, tiny_G):
    server.routes['/models/tiny.pt'] = (ckpt_bytes, 'full')
    url = server.url('/models/tiny.pt')
    calls = []
    G = load_generator(url, progress=lambda done, total, text='': calls.append((done, total)))
    assert torch.equal(_render(G), _render(tiny_G))
    assert calls and calls[-1] == (len(ckpt_bytes), len(ckpt_bytes))
    assert all(b[0] >= a[0] for a, b in zip(calls, calls[1:]))
    files = _cached_files()
    assert len(files) == 1 and files[0].endswith('tiny.pt') and not files[0].startswith('.')
    # Second load: served from the cache, no request.
    G2 = load_generator(url)
    assert server.hits['/models/tiny.pt'] == 1
    assert torch.equal(_render(G2), _render(tiny_G))
    # The cache key is the URL: another URL is another file.
    server.routes['/other/tiny.pt'] = (ckpt_bytes, 'full')
    download.fetch(server.url('/other/tiny.pt'))
    assert len(_cached_files()) == 2


@pytest.mark.parametrize('mode', ['cut', 'nolength_cut'])
def test_interrupted_download_leaves_nothing_and_retries(server, ckpt_bytes, tiny_G, mode):
    server.routes['/tiny.pt'] = (ckpt_bytes, mode)
    url = server.url('/tiny.pt')
    with pytest.raises(CheckpointError) as e:
        load_generator(url)
    assert url in str(e.value)
    assert 'interrupted' in str(e.value) or 'incomplete' in str(e.value)
    assert _cached_files() == []
    # The server recovers: the next call downloads again and succeeds.
    server.routes['/tiny.pt'] = (ckpt_bytes, 'full')
    G = load_generator(url)
    assert server.hits['/tiny.pt'] == 2
    assert torch.equal(_render(G), _render(tiny_G))


def test_sha256_fragment(server, ckpt_bytes):
    server.routes['/tiny.pt'] = (ckpt_bytes, 'full')
    good = hashlib.sha256(ckpt_bytes).hexdigest()
    bad = '0' * 64
    with pytest.raises(CheckpointError, match='sha256 mismatch'):
        download.fetch(server.url('/tiny.pt') + f'#sha256={bad}')
    assert _cached_files() == []
    path = download.fetch(server.url('/tiny.pt') + f'#sha256={good}')
    assert path.read_bytes() == ckpt_bytes
    with pytest.raises(CheckpointError, match='fragment'):
        download.fetch(server.url('/tiny.pt') + '#md5=abc')


def test_http_error_and_non_checkpoint(server):
    with pytest.raises(CheckpointError, match='HTTP 404'):
        download.fetch(server.url('/missing.pt'))
    server.routes['/page.html'] = (b'<html>not a model</html>', 'full')
    with pytest.raises(CheckpointError, match='not a checkpoint'):
        download.fetch(server.url('/page.html'))
    assert _cached_files() == []


def test_cancel_from_progress_callback(server, ckpt_bytes):
    server.routes['/tiny.pt'] = (ckpt_bytes, 'full')

    def cancel(done, total, text=''):
        if done > 0:
            raise Cancelled()

    with pytest.raises(Cancelled):
        download.fetch(server.url('/tiny.pt'), progress=cancel)
    assert _cached_files() == []


def test_cli_checkpoint_url(server, ckpt_bytes, capsys):
    from explorer.cli import main
    server.routes['/tiny.pt'] = (ckpt_bytes, 'full')
    assert main(['info', server.url('/tiny.pt')]) == 0
    out = capsys.readouterr()
    assert 'stylegan2' in out.out and 'download' in out.err
