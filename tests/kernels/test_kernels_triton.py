"""Parity of the Triton kernels with their plain-torch reference twins.

Outputs and gradients (first and second order) for several shapes and dtypes. On
a machine without CUDA they run on CPU tensors under the Triton interpreter
(``TRITON_INTERPRET=1``, set here before Triton is imported); where Triton is not
installed the whole module is skipped.
"""

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

if not torch.cuda.is_available():
    os.environ['TRITON_INTERPRET'] = '1'
pytest.importorskip('triton')

from kernels.bias_act import bias_act  # noqa: E402
from kernels.filtered_lrelu import filtered_lrelu  # noqa: E402
from kernels.modulated_conv2d import modulated_conv2d  # noqa: E402
from kernels.upfirdn2d import setup_filter, upfirdn2d  # noqa: E402

DEV = 'cuda' if torch.cuda.is_available() else 'cpu'
TOL = {torch.float32: 2e-5, torch.float16: 3e-3, torch.bfloat16: 3e-2}


@pytest.fixture(autouse=True)
def _not_forced_ref(monkeypatch, fp32_math):
    # On CUDA, fp32 parity needs real fp32 convs (fp32_math turns TF32 off).
    monkeypatch.delenv('EXPLORER_KERNELS', raising=False)


def _randn(*shape, dtype=torch.float32, grad=False):
    t = torch.randn(*shape, device=DEV).to(dtype)
    return t.requires_grad_(grad)


def _grads(y, inputs, second_of=0):
    """First-order grads of a nonlinear loss, then grads of a function of the first grad."""
    g = torch.autograd.grad(y.square().sum(), inputs, create_graph=True)
    h = torch.autograd.grad(g[second_of].square().sum() + sum(gi.sum() for gi in g), inputs, allow_unused=True)
    return list(g) + [torch.zeros_like(i) if hi is None else hi for i, hi in zip(inputs, h)]


def _close(a, b, tol):
    scale = max(1.0, b.abs().max().item())
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    err = (a.float() - b.float()).abs().max().item()
    assert err <= tol * scale, f'max error {err} > {tol * scale}'


# ---------------------------------------------------------------------------- bias_act

@pytest.mark.parametrize('act,clamp,shape,dim', [
    ('lrelu', None, (2, 5, 4, 3), 1),
    ('lrelu', 0.5, (3, 7), 1),
    ('linear', 0.3, (2, 3, 5, 5), 1),
    ('relu', None, (4, 6, 2), 2),
])
def test_bias_act_matches_reference_with_grads(act, clamp, shape, dim):
    x = _randn(*shape, grad=True)
    b = _randn(shape[dim], grad=True)
    kw = dict(dim=dim, act=act, clamp=clamp)
    y1, y0 = bias_act(x, b, impl='triton', **kw), bias_act(x, b, impl='ref', **kw)
    _close(y1, y0, TOL[torch.float32])
    for a, c in zip(_grads(y1, [x, b]), _grads(y0, [x, b])):
        _close(a, c, 1e-5)


def test_bias_act_linear_output_may_be_modified_in_place():
    """The resnet blocks (StyleGAN2 G and D) do ``y = skip(x); y.add_(x)`` on a linear, unclamped
    bias_act output while training; the fast path must not save that output for backward."""
    x = _randn(2, 3, 4, 4, grad=True)
    y = bias_act(x, None, act='linear', gain=0.5, impl='triton')
    y.add_(1.0)
    y.square().sum().backward()
    torch.testing.assert_close(x.grad, 0.5 * 2 * (0.5 * x.detach() + 1.0))


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_bias_act_low_precision(dtype):
    x, b = _randn(2, 4, 3, 3, dtype=dtype), _randn(4, dtype=dtype)
    kw = dict(act='lrelu', gain=math.sqrt(2), clamp=1.0)
    _close(bias_act(x, b, impl='triton', **kw), bias_act(x, b, impl='ref', **kw), TOL[dtype])


# ---------------------------------------------------------------------------- upfirdn2d

@pytest.mark.parametrize('taps,up,down,pad,flip,gain', [
    ([1, 3, 3, 1], 2, 1, [2, 1, 2, 1], False, 4),         # StyleGAN2 upsample2d
    ([1, 3, 3, 1], 1, 2, [1, 1, 1, 1], False, 1),         # downsample2d
    ([1, 2, 3, 4, 5, 6, 7, 8], 2, 2, [3, -1, 2, 4], True, 2),  # separable, negative pad (crop)
    ([1, 3, 2], 3, 1, [1, 2, 3, 0], False, 1),            # odd taps, up 3
])
def test_upfirdn2d_matches_reference_with_grads(taps, up, down, pad, flip, gain):
    f = setup_filter(taps, device=DEV)
    x = _randn(2, 3, 6, 5, grad=True)
    kw = dict(up=up, down=down, padding=pad, flip_filter=flip, gain=gain)
    y1, y0 = upfirdn2d(x, f, impl='triton', **kw), upfirdn2d(x, f, impl='ref', **kw)
    _close(y1, y0, TOL[torch.float32])
    for a, c in zip(_grads(y1, [x]), _grads(y0, [x])):
        _close(a, c, 1e-5)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_upfirdn2d_low_precision(dtype):
    f = setup_filter([1, 3, 3, 1], device=DEV)
    x = _randn(1, 2, 5, 5, dtype=dtype)
    _close(upfirdn2d(x, f, up=2, padding=2, gain=4, impl='triton'),
           upfirdn2d(x, f, up=2, padding=2, gain=4, impl='ref'), TOL[dtype])


# ---------------------------------------------------------------------------- modulated conv

@pytest.mark.parametrize('up,demod,k,fused', [(1, True, 3, True), (2, True, 3, True), (1, False, 1, False)])
def test_modulated_conv2d_matches_reference_with_grads(up, demod, k, fused):
    f = setup_filter([1, 3, 3, 1], device=DEV)
    x, w, s = _randn(2, 4, 5, 5, grad=True), _randn(3, 4, k, k, grad=True), _randn(2, 4, grad=True)
    noise = 0.1 * _randn(5 * up, 5 * up)
    kw = dict(noise=noise, up=up, padding=k // 2, resample_filter=f, demodulate=demod, flip_weight=(up == 1),
              fused_modconv=fused)
    y1, y0 = modulated_conv2d(x, w, s, impl='triton', **kw), modulated_conv2d(x, w, s, impl='ref', **kw)
    _close(y1, y0, 1e-5)
    # Second order through the (nonlinear) demodulation: d/dw of |dL/dw|^2.
    for a, c in zip(_grads(y1, [x, w, s], second_of=1), _grads(y0, [x, w, s], second_of=1)):
        _close(a, c, 1e-4)


def test_modulated_conv2d_fp16_and_fused_epilogue():
    from kernels import triton_modconv as tm
    from kernels.bias_act import bias_act_ref
    f = setup_filter([1, 3, 3, 1], device=DEV)
    x, w, s = _randn(2, 4, 4, 4), _randn(3, 4, 3, 3), _randn(2, 4)
    noise, b = 0.2 * _randn(2, 1, 8, 8), _randn(3)
    y16 = modulated_conv2d(x.half(), w, s, up=2, padding=1, resample_filter=f, flip_weight=False, impl='triton')
    y0 = modulated_conv2d(x, w, s, up=2, padding=1, resample_filter=f, flip_weight=False, impl='ref')
    _close(y16.float(), y0, 1e-2)
    with torch.no_grad():
        fused = tm.synthesis_layer_triton(x, w, s, noise=noise, bias=b, up=2, padding=1, resample_filter=f,
                                          flip_weight=False, gain=math.sqrt(2), clamp=0.5)
        ref = bias_act_ref(modulated_conv2d(x, w, s, noise=noise, up=2, padding=1, resample_filter=f,
                                            flip_weight=False, impl='ref'), b, act='lrelu', gain=math.sqrt(2),
                           clamp=0.5)
    _close(fused, ref, 1e-5)
    assert (fused.abs() <= 0.5 + 1e-6).all() and (fused.abs() == 0.5).any()


def test_epilogue_in_place_into_channels_last_output():
    """``epilogue(y, out=y)`` with a channels_last ``y`` (cuDNN's output for channels_last input)."""
    from kernels import triton_modconv as tm
    from kernels.bias_act import bias_act_ref
    x = _randn(2, 5, 4, 3).contiguous(memory_format=torch.channels_last)
    noise, b = _randn(2, 1, 4, 3), _randn(5)
    ref = bias_act_ref(x + noise, b, act='lrelu', gain=1.5, clamp=0.7)
    with torch.no_grad():
        y = tm.epilogue(x, noise=noise, bias=b, act='lrelu', gain=1.5, clamp=0.7, out=x)
    assert y is x
    _close(x, ref, 1e-5)


# ---------------------------------------------------------------------------- filtered lrelu

def _sg3_filters():
    from explorer.engine.networks_stylegan3 import design_lowpass_filter
    fu = design_lowpass_filter(12, 2.0, 2.0, 8.0).to(DEV)
    fd = design_lowpass_filter(12, 2.0, 2.0, 8.0, radial=True).to(DEV)
    return fu, fd


@pytest.mark.parametrize('case', ['separable', 'radial', 'identity'])
def test_filtered_lrelu_matches_reference_with_grads(case):
    fu, fd = _sg3_filters()
    args = {'separable': (fu, fu, 2, 2, [5, 5, 5, 5], 1.0), 'radial': (fu, fd, 2, 2, [4, 6, 5, 3], None),
            'identity': (None, None, 1, 1, 0, 0.8)}[case]
    fu_, fd_, up, down, pad, clamp = args
    x, b = _randn(1, 3, 9, 9, grad=True), _randn(3, grad=True)
    kw = dict(fu=fu_, fd=fd_, b=b, up=up, down=down, padding=pad, gain=math.sqrt(2), slope=0.2, clamp=clamp)
    y1, y0 = filtered_lrelu(x, impl='triton', **kw), filtered_lrelu(x, impl='ref', **kw)
    _close(y1, y0, 1e-5)
    for a, c in zip(_grads(y1, [x, b]), _grads(y0, [x, b])):
        _close(a, c, 1e-4)


def test_filtered_lrelu_fp16():
    fu, _ = _sg3_filters()
    x, b = _randn(1, 2, 8, 8, dtype=torch.float16), _randn(2, dtype=torch.float16)
    kw = dict(fu=fu, fd=fu, b=b, up=2, down=2, padding=5, clamp=256)
    _close(filtered_lrelu(x, impl='triton', **kw), filtered_lrelu(x, impl='ref', **kw), 5e-3)


# ---------------------------------------------------------------------------- dispatch

def test_forced_reference_never_calls_triton(monkeypatch):
    from kernels import triton_bias_act, triton_upfirdn2d
    def boom(*a, **k):
        raise AssertionError('Triton path used although EXPLORER_KERNELS=ref')
    monkeypatch.setattr(triton_bias_act, 'bias_act_triton', boom)
    monkeypatch.setattr(triton_upfirdn2d, 'upfirdn2d_triton', boom)
    monkeypatch.setenv('EXPLORER_KERNELS', 'ref')
    x = _randn(1, 2, 4, 4)
    bias_act(x, None, act='lrelu', impl='triton')
    upfirdn2d(x, setup_filter([1, 3, 3, 1], device=DEV), up=2, padding=2, impl='triton')
    monkeypatch.delenv('EXPLORER_KERNELS')
    with pytest.raises(AssertionError, match='Triton path used'):
        bias_act(x, None, act='lrelu', impl='triton')


def test_importing_kernels_and_networks_does_not_import_triton():
    code = ('import sys, kernels, explorer.engine.networks_stylegan2, explorer.engine.networks_stylegan3, '
            'explorer.engine.fast_render\n'
            'sys.exit(1 if "triton" in sys.modules else 0)')
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120,
                       cwd=str(Path(__file__).resolve().parents[2]))      # the repository root
    assert r.returncode == 0, r.stdout + r.stderr
