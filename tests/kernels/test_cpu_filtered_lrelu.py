"""The CPU fast filtered leaky ReLU (kernels/cpu_filtered_lrelu.py) against the reference.

Random odd sizes, 1-D (separable) and 2-D filters of any length or none, up/down factors
1, 2, 3, 4, positive and negative (cropping) padding, flip_filter, gain, slope (0, 0.2,
linear) and clamp (none, 0, small), batches; and the StyleGAN3 layers' own settings.
Bound (fp32): max abs difference <= 1e-5 x max(1, |output|) (float rounding: only the
summation order and where the gain is applied differ).
"""

import math
import random

import pytest
import torch

from explorer.engine.networks_stylegan3 import design_lowpass_filter
from kernels.cpu_filtered_lrelu import FilteredLReLUPlan, filtered_lrelu_cpu
from kernels.filtered_lrelu import filtered_lrelu, filtered_lrelu_ref, output_size

REL_BOUND = 1e-5


def _check(x, strip=16, **kw):
    ref = filtered_lrelu_ref(x, **kw)
    fast = filtered_lrelu_cpu(x, strip=strip, **kw)
    assert fast.shape == ref.shape and fast.dtype == ref.dtype
    scale = max(1.0, ref.abs().max().item())
    err = (fast - ref).abs().max().item() if ref.numel() else 0.0
    assert err <= REL_BOUND * scale, (err, scale, {k: (tuple(v.shape) if torch.is_tensor(v) else v)
                                                   for k, v in kw.items()})


def _random_case(rng):
    up, down = rng.choice([1, 2, 3, 4]), rng.choice([1, 2, 3, 4])

    def filt():
        kind = rng.random()
        if kind < 0.15:
            return None
        if kind < 0.35:
            return torch.rand(rng.randint(1, 7), rng.randint(1, 7)) + 0.1
        return torch.rand(rng.randint(1, 13)) + 0.1

    fu, fd = filt(), filt()
    C, N = rng.randint(1, 5), rng.randint(1, 3)
    H, W = rng.randint(3, 15), rng.randint(3, 15)
    pad = [rng.randint(-3, 12) for _ in range(4)]
    x = torch.randn(N, C, H, W) * 3
    kw = dict(fu=fu, fd=fd, b=torch.randn(C), up=up, down=down, padding=pad,
              gain=rng.choice([1.0, math.sqrt(2), 0.7]), slope=rng.choice([0.0, 0.2, 1.0]),
              clamp=rng.choice([None, 0.0, 0.8, 256.0]), flip_filter=rng.random() < 0.3)
    return x, kw


@pytest.mark.parametrize('seed,strip', [(0, 16), (1, 16), (2, 3), (3, 0)])
def test_random_settings_match_the_reference(seed, strip):
    """strip: output rows per cache strip (16 the default, 3 many strips, 0 the whole image)."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    done = 0
    while done < 25:
        x, kw = _random_case(rng)
        try:
            ref = filtered_lrelu_ref(x, **kw)
        except (RuntimeError, AssertionError):   # an empty or negative size: not a case
            continue
        if ref.numel() == 0:
            continue
        _check(x, strip=strip, **kw)
        done += 1


def _sg3_filters(up, down, radial):
    fu = design_lowpass_filter(numtaps=6 * up, cutoff=8, width=6, fs=16 * up)
    fd = design_lowpass_filter(numtaps=6 * down, cutoff=5, width=7, fs=16 * up, radial=radial)
    return fu, fd


@pytest.mark.parametrize('up,down,pad,radial', [
    (2, 2, [9, 8, 9, 8], False),          # a layer at a constant rate
    (4, 2, [-6, -9, -6, -9], False),      # a layer doubling the rate (cropping padding)
    (2, 2, [-11, -12, -11, -12], False),  # the last critically sampled layer (crops the margin)
    (2, 2, [9, 8, 9, 8], True),           # config R: radial (2-D) down filter
    (4, 2, [-6, -9, -6, -9], True),
])
@pytest.mark.parametrize('strip', [16, 5, 0])
def test_stylegan3_layer_settings(up, down, pad, radial, strip):
    torch.manual_seed(up + down)
    fu, fd = _sg3_filters(up, down, radial)
    x = torch.randn(2, 6, 29, 31)
    _check(x, strip=strip, fu=fu, fd=fd, b=torch.randn(6), up=up, down=down, padding=pad, gain=math.sqrt(2),
           slope=0.2, clamp=256)


def test_clamp_is_applied_after_the_gain():
    fu, fd = _sg3_filters(2, 2, False)
    x = torch.randn(1, 3, 12, 12) * 50
    _check(x, fu=fu, fd=fd, up=2, down=2, padding=[9, 8, 9, 8], gain=math.sqrt(2), slope=0.2, clamp=1.0)
    out = filtered_lrelu_cpu(x, fu=fd.new_ones(1), fd=None, up=1, down=1, gain=3.0, slope=0.2, clamp=1.0)
    assert out.max().item() == 1.0 and out.min().item() == pytest.approx(-1.0)


def test_same_bits_whatever_the_batch_position():
    fu, fd = _sg3_filters(2, 2, False)
    x = torch.randn(4, 5, 17, 17)
    kw = dict(fu=fu, fd=fd, b=torch.randn(5), up=2, down=2, padding=[9, 8, 9, 8], clamp=256)
    whole = filtered_lrelu_cpu(x, **kw)
    for i in range(4):
        assert torch.equal(filtered_lrelu_cpu(x[i:i + 1], **kw), whole[i:i + 1])


def test_public_op_takes_impl_cpu():
    fu, fd = _sg3_filters(2, 2, False)
    x = torch.randn(1, 3, 11, 11)
    kw = dict(fu=fu, fd=fd, up=2, down=2, padding=[9, 8, 9, 8])
    assert torch.equal(filtered_lrelu(x, impl='cpu', **kw), filtered_lrelu_cpu(x, **kw))
    assert torch.equal(filtered_lrelu(x, impl='ref', **kw), filtered_lrelu_ref(x, **kw))


def test_plan_output_size_and_bf16():
    fu, fd = _sg3_filters(4, 2, False)
    plan = FilteredLReLUPlan(fu, fd, 4, 2, [-6, -9, -6, -9], math.sqrt(2), 0.2, 256, 4)
    for h, w in [(20, 20), (21, 26), (33, 17)]:
        assert plan.output_size(h, w) == output_size(h, w, fu, fd, 4, 2, [-6, -9, -6, -9])
    x = torch.randn(1, 4, 20, 20)
    ref = filtered_lrelu_ref(x, fu=fu, fd=fd, up=4, down=2, padding=[-6, -9, -6, -9], clamp=256)
    low = FilteredLReLUPlan(fu, fd, 4, 2, [-6, -9, -6, -9], math.sqrt(2), 0.2, 256, 4, dtype=torch.bfloat16)
    out = low(x)
    assert out.dtype == torch.bfloat16
    assert (out.float() - ref).abs().max().item() <= 0.03 * ref.abs().max().item()
