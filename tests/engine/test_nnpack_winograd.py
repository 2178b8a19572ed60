"""NNPACK's Winograd convolution with cached kernel transforms (``nnpack_winograd``) and the CPU
plan's use of it: ATen's bits, validated calls, the fallback, and the plan's images."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from sg2_nets import make_sg2

from explorer.engine import nnpack_winograd
from explorer.engine.capabilities import nnpack_available
from explorer.engine.fast_render import FastRenderer

needs_cache = pytest.mark.skipif(not nnpack_winograd.available(),
                                 reason=f'NNPACK cache: {nnpack_winograd.state()}')


def _data(O, I, H, W, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, I, H, W, generator=g), torch.randn(O, I, 3, 3, generator=g), torch.randn(O, generator=g)


@needs_cache
@pytest.mark.parametrize('O,I,H,W', [(7, 5, 13, 11), (64, 48, 32, 32), (40, 96, 16, 20), (3, 8, 6, 6)])
def test_cached_transform_gives_atens_bits(O, I, H, W):
    """Whole maps (padding 1 and 0), a row slice with asymmetric padding, into a given output."""
    x, w, b = _data(O, I, H, W)
    kernel = nnpack_winograd.WinogradKernel(w)
    assert kernel.nbytes >= O * I * 64 * 4
    for p in (1, 0):
        ref = torch._nnpack_spatial_convolution(x, w, b, [p, p])
        assert torch.equal(kernel.conv(x, b, (p, p, p, p)), ref), p
    ref = torch._nnpack_spatial_convolution(x, w, None, [1, 1])
    assert torch.equal(kernel.conv(x, None, (1, 1, 1, 1)), ref)
    out = torch.full([1, O + 2, H, W], float('nan'))
    kernel.conv(x, None, (1, 1, 1, 1), out[:, 1:O + 1])
    assert torch.equal(out[:, 1:O + 1], ref) and out[:, 0].isnan().all() and out[:, -1].isnan().all()
    if H > 6:     # output rows 6.. from input rows 5.. (NNPACK's tiles start on multiples of 6)
        assert torch.equal(kernel.conv(x[:, :, 5:].contiguous(), None, (0, 1, 1, 1)), ref[:, :, 6:])


@needs_cache
def test_slices_of_output_channels_give_the_whole_calls_bits():
    x, w, b = _data(96, 64, 24, 24)
    whole = nnpack_winograd.WinogradKernel(w).conv(x, b, (1, 1, 1, 1))
    parts = [nnpack_winograd.WinogradKernel(w[a:c]).conv(x, b[a:c], (1, 1, 1, 1)) for a, c in ((0, 32), (32, 96))]
    assert torch.equal(torch.cat(parts, 1), whole)


@needs_cache
def test_bad_calls_raise_before_reaching_nnpack():
    x, w, b = _data(8, 4, 10, 10)
    kernel = nnpack_winograd.WinogradKernel(w)
    bad = [
        dict(x=x.double()), dict(x=torch.randn(1, 5, 10, 10)), dict(x=torch.randn(2, 4, 10, 10)),
        dict(x=torch.randn(1, 4, 10, 20)[..., ::2]), dict(padding=(3, 1, 1, 1)), dict(padding=(-1, 1, 1, 1)),
        dict(x=torch.randn(1, 4, 1, 1), padding=(0, 0, 0, 0)), dict(bias=torch.randn(7)),
        dict(bias=b.double()), dict(out=torch.empty(1, 8, 9, 10)), dict(out=torch.empty(1, 8, 10, 20)[..., ::2]),
    ]
    for kw in bad:
        args = dict(x=x, bias=b, padding=(1, 1, 1, 1), out=None) | kw
        with pytest.raises(ValueError):
            kernel.conv(args['x'], args['bias'], args['padding'], args['out'])
    for w_bad in (w.double(), torch.randn(8, 4, 5, 5), torch.randn(8, 4, 3)):
        with pytest.raises(ValueError):
            nnpack_winograd.WinogradKernel(w_bad)


def test_turned_off_or_failing_self_test_means_not_available(monkeypatch):
    monkeypatch.setattr(nnpack_winograd, '_state', None)
    monkeypatch.setattr(nnpack_winograd, '_fn', None)
    monkeypatch.setenv('EXPLORER_NNPACK_CACHE', '0')
    assert not nnpack_winograd.available()
    assert 'EXPLORER_NNPACK_CACHE=0' in nnpack_winograd.state()
    with pytest.raises(RuntimeError):
        nnpack_winograd.WinogradKernel(torch.zeros(1, 1, 3, 3))
    if not nnpack_available():
        return
    monkeypatch.setattr(nnpack_winograd, '_state', None)
    monkeypatch.delenv('EXPLORER_NNPACK_CACHE')
    monkeypatch.setattr(nnpack_winograd, '_self_test', lambda: 'differs from torch._nnpack_spatial_convolution')
    assert not nnpack_winograd.available()
    assert nnpack_winograd.state() == 'not available (differs from torch._nnpack_spatial_convolution)'
    assert nnpack_winograd._fn is None


# ---------------------------------------------------------------- the CPU plan

def make_G():
    """64 channels at every resolution up to 128 px: the 16 px conv modulates its input (cached
    transforms), the 64 -> 128 up layer runs folded on cached transforms (input under 128 rows)."""
    return make_sg2(res=128, base_per_px=64, cmax=64, clamp=0.5)


def _ws(G, seed=1):
    with torch.no_grad():
        return G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(seed)), None)


@pytest.fixture
def threads():
    old = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(old)


def _cached_layers(plan):
    return {(lp.kind, lp.resolution, key) for e in plan.blocks for lp in e['layers']
            for key in ('wino', 'wino_fold') if key in lp.extra}


@needs_cache
def test_plan_uses_cached_transforms_with_the_same_bits_at_any_thread_count(threads):
    G = make_G()
    ws = _ws(G)
    fr = FastRenderer(G, 'cpu')
    threads(1)
    one = fr.render(ws, noise_mode='const')
    assert _cached_layers(fr._plan) == {('conv', 16, 'wino'), ('up', 128, 'wino_fold')}
    assert 0 < fr._plan._wino_bytes <= fr._plan.wino_budget
    with torch.no_grad():
        ref = G.synthesis(ws, noise_mode='const', impl='ref')
    torch.testing.assert_close(one, ref, atol=5e-5, rtol=1e-4)
    for n in (2, 3, 1):             # 2 and 3 lanes rebuild the slices; 1 runs them in turn
        threads(n)
        assert torch.equal(fr.render(ws, noise_mode='const'), one), n
    cuts, kernels = fr._plan.blocks[2]['layers'][1].extra['wino']
    assert len(kernels) == 2 == len(cuts) - 1          # 64 channels: at most two 32-channel slices


@needs_cache
@pytest.mark.parametrize('setup', ['budget 0', 'cache off'])
def test_plan_over_budget_or_without_the_cache_renders_the_image_on_atens_convs(setup):
    G = make_G()
    ws = _ws(G)
    with torch.no_grad():
        ref = G.synthesis(ws, noise_mode='const', impl='ref')
    fr = FastRenderer(G, 'cpu')
    fr._refresh()                                         # builds the plan
    if setup == 'budget 0':
        fr._plan.wino_budget = 0
    else:
        fr._plan.use_wino = False
    img = fr.render(ws, noise_mode='const')
    assert fr._plan is not None and _cached_layers(fr._plan) == set() and fr._plan._wino_bytes == 0
    torch.testing.assert_close(img, ref, atol=5e-5, rtol=1e-4)


@needs_cache
def test_a_failing_cached_conv_falls_back_for_the_plan(monkeypatch):
    G = make_G()
    ws = _ws(G)
    with torch.no_grad():
        ref = G.synthesis(ws, noise_mode='const', impl='ref')

    def broken(self, *a, **k):
        raise RuntimeError('NNPACK convolution failed (nnp_status 51)')
    monkeypatch.setattr(nnpack_winograd.WinogradKernel, 'conv', broken)
    fr = FastRenderer(G, 'cpu')
    img = fr.render(ws, noise_mode='const')
    assert fr._plan.use_wino is False
    torch.testing.assert_close(img, ref, atol=5e-5, rtol=1e-4)


_QTHREAD_SCRIPT = """
import sys, torch
sys.path.insert(0, sys.argv[1])
from PyQt6.QtCore import QThread, QCoreApplication
from explorer.engine import nnpack_winograd as nw
app = QCoreApplication([])
w = torch.randn(64, 32, 3, 3); x = torch.randn(1, 32, 20, 20)
class T(QThread):
    def run(self):
        assert nw.available(), nw.state()      # first use (and self-test) on this thread
        self.out = nw.WinogradKernel(w).conv(x, None, (1, 1, 1, 1))
for i in range(4):
    t = T(); t.start(); t.wait()
    assert torch.equal(t.out, torch._nnpack_spatial_convolution(x, w, None, [1, 1]))
print('ok')
"""


@needs_cache
def test_threads_that_ran_cached_convs_end_cleanly():
    """Regression: the workspace was a thread-local tensor, and a QThread (the window's render
    thread) that had run a cached conv crashed the process as it ended (SIGSEGV)."""
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, QT_QPA_PLATFORM='offscreen')
    r = subprocess.run([sys.executable, '-c', _QTHREAD_SCRIPT, str(root)], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == 'ok', (r.returncode, r.stderr[-2000:])
