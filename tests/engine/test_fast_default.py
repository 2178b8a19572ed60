"""G.synthesis is fast by default (DESIGN.md: "Under torch.no_grad() synthesis takes the fastest
path that matches the reference to float rounding; EXPLORER_KERNELS=ref (or impl='ref') forces
the reference. With gradients enabled it is always differentiable.").

The bound (``fast_synthesis.BOUND_MAX_ABS``): max |default - reference| <= 1e-4 on images in about
[-1, 1] (CPU fp32), at most one uint8 level after rounding. Measured: 0.7e-5 .. 1.5e-5 on the tiny
nets here and on the shipped default checkpoint.
"""

import copy

import numpy as np
import pytest
import torch

from explorer.engine import fast_synthesis
from explorer.engine.export import batch_to_uint8
from explorer.engine.fast_render import FastRenderer
from explorer.engine.networks_stylegan2 import Generator

BOUND = fast_synthesis.BOUND_MAX_ABS


def _G(architecture='skip', res=64, activation='lrelu', seed=0):
    torch.manual_seed(seed)
    G = Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=res, img_channels=3,
                  mapping_kwargs=dict(num_layers=2),
                  synthesis_kwargs=dict(channel_base=256, channel_max=16, architecture=architecture,
                                        activation=activation))
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith('noise_strength'):
                p.fill_(0.4)
            elif name.endswith('bias'):
                p.normal_(0, 0.2)
    return G.eval().requires_grad_(False)


def _ws(G, n=1, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return G.mapping(torch.randn(n, G.z_dim, generator=g), None, truncation_psi=0.8)


def _used_plan(monkeypatch):
    """Record every FastRenderer.render call."""
    calls = []
    real = FastRenderer.render

    def spy(self, *a, **k):
        calls.append(1)
        return real(self, *a, **k)
    monkeypatch.setattr(FastRenderer, 'render', spy)
    return calls


def _levels(a, b):
    return int(np.abs(batch_to_uint8(a).astype(np.int16) - batch_to_uint8(b).astype(np.int16)).max())


@pytest.mark.parametrize('architecture', ['skip', 'resnet', 'orig'])
@pytest.mark.parametrize('noise_mode', ['const', 'random', 'none'])
def test_default_matches_the_reference_to_rounding(one_thread, monkeypatch, architecture, noise_mode):
    G = _G(architecture)
    ws = _ws(G, 2)
    calls = _used_plan(monkeypatch)
    kw = dict(noise_mode=noise_mode, noise_scale=[0.5 + 0.1 * i for i in range(G.num_ws)])
    with torch.no_grad():
        fast = G.synthesis(ws, noise_generator=torch.Generator().manual_seed(3), **kw)
        ref = G.synthesis(ws, noise_generator=torch.Generator().manual_seed(3), impl='ref', **kw)
    assert calls, 'the default path did not use the plan'
    err = (fast - ref).abs().max().item()
    assert 0 <= err <= BOUND, err
    assert _levels(fast, ref) <= 1
    assert fast.dtype == ref.dtype == torch.float32 and fast.shape == ref.shape and fast.is_contiguous()


def test_default_random_noise_draws_the_reference_values(one_thread):
    """No generator: the global RNG, drawn in the reference's order and shapes."""
    G = _G()
    ws = _ws(G)
    with torch.no_grad():
        torch.manual_seed(5)
        fast = G.synthesis(ws)                  # noise_mode defaults to 'random', as in the reference
        torch.manual_seed(5)
        ref = G.synthesis(ws, impl='ref')
    assert (fast - ref).abs().max() <= BOUND


@pytest.mark.parametrize('stop_at', [4, 8, 16, 32])
def test_default_stop_at_matches(one_thread, monkeypatch, stop_at):
    G = _G()
    ws = _ws(G)
    calls = _used_plan(monkeypatch)
    with torch.no_grad():
        fast = G.synthesis(ws, noise_mode='const', stop_at=stop_at)
        ref = G.synthesis(ws, noise_mode='const', stop_at=stop_at, impl='ref')
    assert calls and fast.shape == ref.shape == (1, 3, stop_at, stop_at)
    assert (fast - ref).abs().max() <= BOUND


@pytest.mark.parametrize('architecture', ['resnet', 'orig'])
def test_stop_at_without_an_intermediate_image_is_the_reference_error(monkeypatch, architecture):
    G = _G(architecture, res=16)
    calls = _used_plan(monkeypatch)
    with torch.no_grad(), pytest.raises(ValueError, match='no image before the last block'):
        G.synthesis(_ws(G), noise_mode='const', stop_at=8)
    assert not calls


def test_shipped_default_checkpoint_within_the_bound(one_thread):
    import explorer
    G = explorer.load_generator()
    assert G.family == 'stylegan2'
    ws = _ws(G, 4, seed=7)
    with torch.no_grad():
        fast = G.synthesis(ws, noise_mode='const')
        ref = G.synthesis(ws, noise_mode='const', impl='ref')
    err = (fast - ref).abs().max().item()
    assert err <= BOUND, err
    assert _levels(fast, ref) <= 1


# ------------------------------------------------------------------ the reference, when asked or needed

def test_impl_ref_and_the_env_switch_take_the_reference(monkeypatch):
    G = _G(res=32)
    ws = _ws(G)
    with torch.enable_grad():
        grad_path = G.synthesis(ws, noise_mode='const').detach()
    calls = _used_plan(monkeypatch)
    with torch.no_grad():
        ref = G.synthesis(ws, noise_mode='const', impl='ref')
        monkeypatch.setenv('EXPLORER_KERNELS', 'ref')
        env = G.synthesis(ws, noise_mode='const')
    assert not calls
    assert torch.equal(ref, grad_path) and torch.equal(env, grad_path)
    monkeypatch.delenv('EXPLORER_KERNELS')
    with torch.no_grad():
        G.synthesis(ws, noise_mode='const')
    assert calls


def test_gradients_enabled_is_the_differentiable_reference(monkeypatch):
    G = _G(res=32).requires_grad_(True)
    ws = _ws(G).requires_grad_(True)
    calls = _used_plan(monkeypatch)
    img = G.synthesis(ws, noise_mode='const')
    assert img.grad_fn is not None and not calls
    img.square().mean().backward()
    assert ws.grad is not None and ws.grad.abs().sum() > 0
    with torch.no_grad():
        assert torch.equal(img.detach(), G.synthesis(ws.detach(), noise_mode='const', impl='ref'))


def test_train_mode_update_emas_and_unknown_arguments_take_the_reference(monkeypatch):
    G = _G(res=16)
    ws = _ws(G)
    calls = _used_plan(monkeypatch)
    with torch.no_grad():
        ref = G.synthesis(ws, noise_mode='const', impl='ref')
        assert torch.equal(G.synthesis(ws, noise_mode='const', update_emas=True), ref)
        G.train()
        assert torch.equal(G.synthesis(ws, noise_mode='const'), ref)
        G.eval()
        with pytest.raises(ValueError, match='noise_mode'):
            G.synthesis(ws, noise_mode='bogus')
        with pytest.raises(ValueError, match='impl must be'):
            G.synthesis(ws, impl='fast')
    assert not calls


def test_forward_hooks_inside_the_network_take_the_reference(monkeypatch):
    """The layer inspector, drag's feature hook and interruptible rely on the layers running."""
    G = _G(res=16)
    ws = _ws(G)
    seen = []
    h = G.synthesis.b8.conv1.register_forward_hook(lambda m, a, out: seen.append(out.shape))
    calls = _used_plan(monkeypatch)
    with torch.no_grad():
        img = G.synthesis(ws, noise_mode='const')
    h.remove()
    assert seen and not calls
    with torch.no_grad():
        assert torch.equal(img, G.synthesis(ws, noise_mode='const', impl='ref'))


def test_an_unsupported_layer_falls_back_for_good(monkeypatch):
    G = _G(res=16, activation='relu')
    ws = _ws(G)
    builds = []
    real = FastRenderer._refresh

    def spy(self):
        builds.append(1)
        return real(self)
    monkeypatch.setattr(FastRenderer, '_refresh', spy)
    with torch.no_grad():
        ref = G.synthesis(ws, noise_mode='const', impl='ref')
        assert torch.equal(G.synthesis(ws, noise_mode='const'), ref)
        assert torch.equal(G.synthesis(ws, noise_mode='const'), ref)
    assert len(builds) == 1                                        # remembered: not retried
    assert 'lrelu' in fast_synthesis.why_reference(G.synthesis)
    assert not fast_synthesis.available(G.synthesis)


def test_a_failed_selfcheck_falls_back(monkeypatch):
    from kernels import selfcheck
    monkeypatch.setattr(selfcheck, 'CHECKED_DEVICE_TYPES', frozenset({'cpu', 'cuda', 'mps'}))
    monkeypatch.setattr(selfcheck, '_results', {('render.fp32', 'cpu'): selfcheck.Result(
        'render.fp32', 'cpu', selfcheck.FAILED, reason='injected')})
    G = _G(res=16)
    ws = _ws(G)
    calls = _used_plan(monkeypatch)
    with torch.no_grad():
        assert torch.equal(G.synthesis(ws, noise_mode='const'), G.synthesis(ws, noise_mode='const', impl='ref'))
    assert not calls and 'injected' in fast_synthesis.why_reference(G.synthesis)


# ------------------------------------------------------------------ caching and determinism

def test_the_cache_is_not_state_and_follows_the_weights(one_thread):
    G = _G(res=32)
    keys = set(G.state_dict())
    modules = len(list(G.modules()))
    ws = _ws(G)
    with torch.no_grad():
        before = G.synthesis(ws, noise_mode='const')
        assert set(G.state_dict()) == keys and len(list(G.modules())) == modules
        G2 = copy.deepcopy(G)
        assert fast_synthesis._cache(G2.synthesis).renderer is None        # a copy builds its own
        G.synthesis.b16.conv1.weight.mul_(1.5)                                # weights changed in place
        after = G.synthesis(ws, noise_mode='const')
        ref = G.synthesis(ws, noise_mode='const', impl='ref')
        assert not torch.equal(before, after) and (after - ref).abs().max() <= BOUND
        assert torch.equal(G2.synthesis(ws, noise_mode='const'), before)


@pytest.mark.parametrize('threads', [1, 2])
def test_bits_do_not_depend_on_batch_size_or_position(threads):
    n = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        G = _G()
        ws = _ws(G, 3)
        with torch.no_grad():
            batch = G.synthesis(ws, noise_mode='const')
            singles = [G.synthesis(ws[i:i + 1], noise_mode='const') for i in range(3)]
            again = G.synthesis(ws.flip(0), noise_mode='const').flip(0)
    finally:
        torch.set_num_threads(n)
    for i in range(3):
        assert torch.equal(batch[i:i + 1], singles[i])
    assert torch.equal(batch, again)


# ------------------------------------------------------------------ StyleGAN1

def _G1(res=64):
    from explorer.engine.networks_stylegan1 import Generator as G1
    torch.manual_seed(0)
    G = G1(z_dim=16, w_dim=16, img_resolution=res, img_channels=3, fmap_base=256, fmap_max=16,
           mapping_layers=2).eval().requires_grad_(False)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith('noise_strength'):
                p.fill_(0.3)
    return G


@pytest.mark.parametrize('noise_mode', ['const', 'random', 'none'])
def test_stylegan1_default_matches_its_reference(one_thread, noise_mode):
    G = _G1()
    ws = _ws(G, 2)
    kw = dict(noise_mode=noise_mode, noise_scale=0.7)
    with torch.no_grad():
        fast = G.synthesis(ws, noise_generator=torch.Generator().manual_seed(2), **kw)
        ref = G.synthesis(ws, noise_generator=torch.Generator().manual_seed(2), impl='ref', **kw)
        preview = G.synthesis(ws, stop_at=32, **kw)
    assert not torch.equal(fast, ref), 'the 32x32 and 64x64 convolutions should have taken NNPACK'
    assert (fast - ref).abs().max() <= BOUND and _levels(fast, ref) <= 1
    assert preview.shape == (2, 3, 32, 32)
    assert G.synthesis.fast_available()


def test_stylegan1_reference_when_asked_or_with_gradients(monkeypatch):
    G = _G1()
    ws = _ws(G).requires_grad_(True)
    with torch.enable_grad():
        grad_path = G.synthesis(ws, noise_mode='const')
    assert grad_path.grad_fn is not None
    grad_path = grad_path.detach()
    with torch.no_grad():
        assert torch.equal(G.synthesis(ws, noise_mode='const', impl='ref'), grad_path)
        monkeypatch.setenv('EXPLORER_KERNELS', 'ref')
        assert torch.equal(G.synthesis(ws, noise_mode='const'), grad_path)
        assert not G.synthesis.fast_available()
    with pytest.raises(ValueError, match='impl must be'):
        G.synthesis(ws, impl='fast')


def test_stylegan1_convs_take_the_lanes_with_the_one_call_bits(monkeypatch):
    """At two threads StyleGAN1's NNPACK convs are split over the CPU lanes (ATen's NNPACK pool
    runs on one thread): each sample's output equals its single NNPACK call."""
    from explorer.engine import fast_plan
    from explorer.engine.capabilities import nnpack_available
    from explorer.engine.networks_stylegan1 import conv3x3
    if not nnpack_available():
        pytest.skip('NNPACK not in this torch build')
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 64, 32, 32, generator=g)
    w = torch.randn(96, 64, 3, 3, generator=g)
    splits = []
    real = fast_plan.run_split
    monkeypatch.setattr(fast_plan, 'run_split', lambda fn, cuts, lanes: splits.append(cuts) or real(fn, cuts, lanes))
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        y = conv3x3(x, w, fast=True)
    finally:
        torch.set_num_threads(old)
    assert splits == [[0, 64, 96], [0, 64, 96]]            # by output channels, one split per sample
    for i in range(2):
        assert torch.equal(y[i:i + 1], torch._nnpack_spatial_convolution(x[i:i + 1].contiguous(), w, None, [1, 1]))


def test_stylegan1_bits_do_not_depend_on_batch():
    G = _G1()
    ws = _ws(G, 3)
    with torch.no_grad():
        batch = G.synthesis(ws, noise_mode='const')
        for i in range(3):
            assert torch.equal(batch[i:i + 1], G.synthesis(ws[i:i + 1], noise_mode='const'))
