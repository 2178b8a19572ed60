"""StyleGAN3's CPU inference plan (engine/fast_sg3.py) against the reference network.

Bound (fp32): max abs difference on the output <= 1e-5 x max(1, |output|) and PSNR (on the
[-1, 1] scale) >= 100 dB, on small T and R networks with trained-looking buffers
(magnitude_ema != 1), batches, and the user's translate/rotate input transform.
"""

import math

import numpy as np
import pytest
import torch

from explorer.engine import fast_sg3
from explorer.engine import networks_stylegan3 as sg3
from explorer.engine.interrupt import interruptible
from explorer.engine.progress import Cancelled
from tests.engine.test_stylegan3 import CFG_R, CFG_T, fill_by_name

CFG_T32 = dict(CFG_T, img_resolution=32, num_layers=6, channel_base=512, channel_max=24)


def make(cfg, seed=3):
    torch.manual_seed(seed)
    G = sg3.Generator(**cfg).eval().requires_grad_(False)
    fill_by_name(G, seed)
    return G


def ws_for(G, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    c = torch.eye(G.c_dim)[:n] if G.c_dim else None
    with torch.no_grad():
        return G.mapping(torch.randn(n, G.z_dim, generator=g), c, truncation_psi=0.7)


def psnr(a, b):
    mse = (a - b).square().mean().item()
    return float('inf') if mse == 0 else 10 * math.log10(4.0 / mse)


def check_close(fast, ref):
    assert fast.shape == ref.shape and fast.dtype == torch.float32
    assert (fast - ref).abs().max().item() <= 1e-5 * max(1.0, ref.abs().max().item())
    assert psnr(fast, ref) >= 100


@pytest.mark.parametrize('cfg', [CFG_T, CFG_R, CFG_T32], ids=['T16', 'R16', 'T32'])
def test_default_no_grad_path_matches_the_reference(cfg):
    G = make(cfg)
    ws = ws_for(G, 3)
    with torch.no_grad():
        assert G.synthesis.use_fast(ws)
        ref = G.synthesis(ws, impl='ref')
        fast = G.synthesis(ws)
    check_close(fast, ref)


@pytest.mark.parametrize('cfg', [CFG_T, CFG_R], ids=['T', 'R'])
def test_input_transform_is_honoured(cfg):
    G = make(cfg)
    ws = ws_for(G, 2)
    G.set_input_transform(translate=(0.13, -0.3), rotate_deg=33.0)
    with torch.no_grad():
        moved = G.synthesis(ws)
        check_close(moved, G.synthesis(ws, impl='ref'))
        G.set_input_transform()
        assert not torch.allclose(G.synthesis(ws), moved)


@pytest.mark.parametrize('cfg', [dict(CFG_T32, channel_base=4096, channel_max=128),
                                 dict(CFG_R, channel_base=4096, channel_max=128)], ids=['T32', 'R16'])
def test_same_bits_at_any_thread_count(cfg):
    """With two or more threads the plan spreads each conv (NNPACK 3x3 for T, oneDNN 1x1 for R;
    by output channels here) and the filtered leaky ReLU's strips over the CPU lanes, each at one
    intra-op thread: the bits of one thread."""
    G = make(cfg, seed=5)
    ws = ws_for(G, 2)
    old = torch.get_num_threads()
    try:
        out = {}
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            with torch.no_grad():
                out[n] = G.synthesis(ws)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(old)
    assert torch.equal(out[1], out[2]) and torch.equal(out[1], out[3])
    with torch.no_grad():
        check_close(out[2], G.synthesis(ws, impl='ref'))


def test_same_bits_whatever_the_batch_position():
    G = make(CFG_T)
    ws = ws_for(G, 4)
    with torch.no_grad():
        whole = G.synthesis(ws)
        for i in range(4):
            assert torch.equal(G.synthesis(ws[i:i + 1]), whole[i:i + 1])
        assert torch.equal(G.synthesis(ws[[2, 0]]), whole[[2, 0]])


def test_reference_with_gradients_forced_ref_or_update_emas(monkeypatch):
    G = make(CFG_T)
    ws = ws_for(G, 1)
    assert not G.synthesis.use_fast(ws)                      # gradients enabled: differentiable reference
    with torch.no_grad():
        assert not G.synthesis.use_fast(ws, impl='ref')
        assert not G.synthesis.use_fast(ws, update_emas=True)
        with pytest.raises(ValueError):
            G.synthesis(ws, impl='triton')
        with pytest.raises(ValueError):
            G.synthesis(ws, noise_mode='sometimes')
        monkeypatch.setenv('EXPLORER_KERNELS', 'ref')
        assert not G.synthesis.use_fast(ws)
        assert torch.equal(G.synthesis(ws), G.synthesis(ws, impl='ref'))
    ws.requires_grad_(True)
    G.synthesis(ws).sum().backward()
    assert ws.grad is not None and ws.grad.abs().sum() > 0


def test_plan_is_rebuilt_when_weights_change():
    G = make(CFG_T)
    ws = ws_for(G, 1)
    with torch.no_grad():
        before = G.synthesis(ws)
        plan = fast_sg3.plan_for(G.synthesis)
        assert fast_sg3.plan_for(G.synthesis) is plan          # cached
        layer = getattr(G.synthesis, G.synthesis.layer_names[2])
        layer.weight.mul_(1.5)                                 # in place, as a training snapshot copy
        layer.magnitude_ema.fill_(3.0)
        after = G.synthesis(ws)
        assert fast_sg3.plan_for(G.synthesis) is not plan
        check_close(after, G.synthesis(ws, impl='ref'))
        assert not torch.allclose(before, after)


def test_interrupt_hooks_stop_the_fast_path_and_output_hooks_take_the_reference():
    G = make(CFG_T)
    ws = ws_for(G, 1)
    calls = []

    def interrupt():
        calls.append(1)
        return len(calls) >= 3
    with torch.no_grad(), interruptible(G.synthesis, interrupt):
        assert G.synthesis.use_fast(ws)
        with pytest.raises(Cancelled):
            G.synthesis(ws)
    assert len(calls) == 3
    layer = getattr(G.synthesis, G.synthesis.layer_names[1])
    handle = layer.register_forward_hook(lambda m, a, out: None)
    try:
        with torch.no_grad():
            assert not G.synthesis.use_fast(ws)
    finally:
        handle.remove()


def test_bf16_plan_is_a_close_preview():
    G = make(CFG_T32)
    ws = ws_for(G, 2)
    with torch.no_grad():
        ref = G.synthesis(ws, impl='ref')
        low = fast_sg3.plan_for(G.synthesis, torch.bfloat16).run(ws)
    assert low.dtype == torch.float32 and low.shape == ref.shape
    assert psnr(low, ref) >= 30


def test_resumed_frames_start_at_the_first_changed_layer_with_the_same_bits():
    G = make(CFG_T)
    plan = fast_sg3.plan_for(G.synthesis)
    base = ws_for(G, 1)
    k = 4
    starts = []
    with torch.no_grad():
        for step in range(4):                       # a drag on the styles from ws index k on
            ws = base.clone()
            ws[:, k:] += 0.1 * (step + 1)
            img = plan.run(ws, resume=True)
            starts.append(plan.last_start)
            assert torch.equal(img, plan.run(ws))   # a full render: the same bits
        assert starts == [0, 0, k, k]               # (frame 2 learns where the drag acts)
        ws[:, 2] += 1.0                             # an earlier layer changes: from there
        plan.run(ws, resume=True)
        assert plan.last_start == 0
        img = plan.run(ws, resume=True)             # the same ws again: resumes and keeps
        assert plan.last_start == 2 and torch.equal(img, plan.run(ws))
        G.set_input_transform(translate=(0.1, 0.0))  # the input transform: from the start
        img = plan.run(ws, resume=True)
        assert plan.last_start == 0
        check_close(img, G.synthesis(ws, impl='ref'))


def test_session_view_uses_the_plan_and_says_when_it_resumes(tmp_path):
    from explorer.engine.checkpoint import save_generator
    from explorer.engine.recipe import Recipe
    from explorer.engine.session import Session
    G = make(CFG_T)
    eng = Session('cpu')
    info = eng.load(save_generator(G, tmp_path / 'g3.pt'))
    assert info.fast_dtypes[0] == 'fp32'
    n = info.num_ws
    paths = []
    for blend in (0.3, 0.5, 0.7):                   # blending a style source into the last two layers
        recipe = Recipe(seeds=(5,), psi=0.7, mix_seeds=(9,), layer_source=(-1,) * (n - 2) + (0, 0),
                        layer_blend=(0.0,) * (n - 2) + (blend, blend), translate=(0.05, 0.0))
        frame, t = eng.render(recipe)
        paths.append(t['path'])
        exact, te = eng.render_exact(recipe)
        assert te['path'] == 'exact' and np.array_equal(frame, exact)
    assert paths[:2] == ['fast fp32', 'fast fp32']
    assert paths[2] == f'fast fp32 · from layer {n - 2} (earlier layers kept)'


def test_fast_renderer_runs_the_plan_in_fp32_and_bf16():
    from explorer.engine.capabilities import dtype_supported
    from explorer.engine.fast_render import FastRenderer
    G = make(CFG_T32)
    ws = ws_for(G, 2)
    with torch.no_grad():
        ref = G.synthesis(ws, impl='ref')
    fr = FastRenderer(G, 'cpu')
    assert fr.sg3_plan
    check_close(fr.render(ws), ref)
    with pytest.raises(ValueError, match='no reduced-resolution'):
        fr.render(ws, stop_at=8)
    if dtype_supported('bf16', 'cpu'):
        low = FastRenderer(G, 'cpu', dtype='bf16').render(ws)
        assert low.dtype == torch.float32 and psnr(low, ref) >= 30
