import os
import sys
from pathlib import Path

os.environ.setdefault('QT_QPA_PLATFORM', 'offscreen')

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent     # shared helpers (ui_helpers, nvidia_layout, ...) for every test folder
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(TESTS) not in sys.path:      # after the project: tests/kernels must never shadow the kernels package
    sys.path.append(str(TESTS))

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own cache dir so nothing touches the user's cache."""
    cache = tmp_path_factory.mktemp('cache')
    monkeypatch.setenv('STYLEGAN_EXPLORER_CACHE', str(cache))
    yield


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path_factory, monkeypatch):
    """Each test gets its own state folder: the log file (explorer.logs) goes there, never
    into the user's state folder."""
    monkeypatch.setenv('STYLEGAN_EXPLORER_STATE', str(tmp_path_factory.mktemp('state')))
    yield


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory, monkeypatch):
    """Each test gets its own GUI settings folder; nothing writes the user's configuration.
    The GUI reads STYLEGAN_EXPLORER_CONFIG; QSettings' own user paths are redirected as well,
    so even a plain ``QSettings()`` lands in the test folder."""
    config = tmp_path_factory.mktemp('config')
    monkeypatch.setenv('STYLEGAN_EXPLORER_CONFIG', str(config))
    monkeypatch.setenv('XDG_CONFIG_HOME', str(config))
    try:
        from PyQt6.QtCore import QSettings
    except ImportError:
        yield
        return
    for fmt in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(config))
    yield


@pytest.fixture
def fp32_math():
    """Real fp32 convs and matmuls on CUDA for the duration of a test (TF32, cuDNN's default,
    rounds two equivalent decompositions differently, ~1e-3). torch exposes these flags through
    module ``__getattr__``/``__setattr__``, so they are saved and restored with plain get/set:
    pytest's monkeypatch may ``delattr`` such an attribute on undo, which torch refuses."""
    flags = (torch.backends.cudnn, torch.backends.cuda.matmul)
    saved = [f.allow_tf32 for f in flags]
    for f in flags:
        f.allow_tf32 = False
    try:
        yield
    finally:
        for f, old in zip(flags, saved):
            f.allow_tf32 = old


@pytest.fixture
def one_thread():
    """torch on one thread for the test: on a shared 2-core machine two threads spin against each
    other (several times slower), and results do not depend on the thread count."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def tiny_G():
    """A tiny StyleGAN2 generator (16x16) with non-trivial noise strengths."""
    from explorer.engine.networks_stylegan2 import Generator
    torch.manual_seed(0)
    G = Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3,
                  mapping_kwargs=dict(num_layers=2),
                  synthesis_kwargs=dict(channel_base=128, channel_max=16))
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith('noise_strength'):
                p.fill_(0.5)
        G.mapping.w_avg.normal_()
    return G.eval()


@pytest.fixture(autouse=True)
def _no_worker_left():
    """Fail a test that leaves a worker running: a render or training thread, a torchrun process,
    anything registered in ``explorer.workers.live`` (every worker registers itself). The ones
    found are stopped, so the next test starts clean."""
    yield
    live = sys.modules.get('explorer.workers.live')
    if live is None:
        return
    running = live.running()
    for w in running:
        _stop_worker(w)
    assert not running, f'{len(running)} worker(s) left running: {sorted(type(w).__name__ for w in running)}'


def _stop_worker(w) -> None:
    w.stop()                                    # a thread finishes its step; a process gets SIGTERM
    if hasattr(w, 'wait'):                      # QThread
        w.wait(60000)
    elif getattr(w, 'proc', None) is not None and w.isRunning():  # a QProcess that ignores SIGTERM
        w.proc.kill()
        w.proc.waitForFinished(5000)
