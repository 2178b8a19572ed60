"""StyleGAN3 synthesis speed on the CPU: our reference, our default no-grad path (and bf16),
and optionally NVIDIA's own SynthesisNetwork with the same weights.

    python bench/sg3_speed.py [--cfg t|r] [--res 256] [--cbase 16384] [--cmax 512]
                              [--iters 5] [--threads 1] [--bf16] [--drag]
                              [--nvidia-repo /path/to/NVlabs/stylegan3]

Builds our StyleGAN3 (``--cfg t``: the official stylegan3-t config; ``r``: conv_kernel 1,
channel_base x2, channel_max x2, radial filters, as NVIDIA's train.py sets them) with random
weights, times each variant round-robin (one frame of each per round, batch 1) and prints
the median per frame, its ratio to NVIDIA's (when given) and the PSNR / max abs difference
against our reference on the [-1, 1] output. NVIDIA's network is imported from the path
given (never copied into the project): our state dict is loaded into it by name and its
output is checked against our reference first.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from explorer.engine import cpu_heap  # noqa: E402
from explorer.engine import networks_stylegan3 as sg3  # noqa: E402


def build(cfg, res, cbase, cmax, seed=0):
    kwargs = dict(w_dim=512, img_resolution=res, img_channels=3, channel_base=cbase, channel_max=cmax,
                  magnitude_ema_beta=0.5 ** (32 / (20 * 1e3)))
    if cfg == 'r':
        kwargs.update(conv_kernel=1, channel_base=cbase * 2, channel_max=cmax * 2, use_radial_filters=True)
    torch.manual_seed(seed)
    S = sg3.SynthesisNetwork(**kwargs).eval().requires_grad_(False)
    with torch.no_grad():   # a trained network's magnitude_ema is not 1: exercise input_gain
        for name, b in S.named_buffers():
            if name.endswith('magnitude_ema'):
                b.fill_(0.5 + torch.rand([]).item())
    return S, kwargs


def nvidia_network(repo, kwargs, state):
    sys.path.insert(0, os.path.abspath(repo))
    try:
        import pkg_resources  # noqa: F401, PLC0415 - their conv2d_gradfix imports it
    except ImportError:     # setuptools without pkg_resources: the one name they use
        import types  # noqa: PLC0415

        from packaging.version import parse  # noqa: PLC0415
        sys.modules['pkg_resources'] = types.SimpleNamespace(parse_version=parse)
    from training import networks_stylegan3 as nv  # noqa: PLC0415 - from the user's checkout, on request
    S = nv.SynthesisNetwork(**kwargs).eval().requires_grad_(False)
    missing = set(S.state_dict()) ^ set(state)
    if missing:
        raise SystemExit(f'state dicts differ by name: {sorted(missing)[:5]}')
    S.load_state_dict(state, strict=True)
    return S


def psnr(a, b):
    mse = (a - b).square().mean().item()
    return float('inf') if mse == 0 else 10 * math.log10(4.0 / mse)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--cfg', choices=['t', 'r'], default='t')
    p.add_argument('--res', type=int, default=256)
    p.add_argument('--cbase', type=int, default=16384, help="channel_base (the stylegan3-*-256 models: 16384)")
    p.add_argument('--cmax', type=int, default=512)
    p.add_argument('--iters', type=int, default=5, help='rounds (one frame of each variant per round)')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--bf16', action='store_true', help='also time the bf16 plan (AVX512-BF16 CPUs)')
    p.add_argument('--nvidia-repo', default=None, help="a checkout of NVlabs/stylegan3 to compare with")
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--drag', action='store_true', help="also time the view's resumed drag frames")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    S, kwargs = build(args.cfg, args.res, args.cbase, args.cmax, args.seed)
    ws = torch.randn([1, S.num_ws, 512], generator=torch.Generator().manual_seed(args.seed + 1))
    from explorer.engine.fast_sg3 import plan_for
    variants = {
        'ours ref (impl=ref)': lambda: S(ws, impl='ref'),
        'ours default (no_grad, fp32)': lambda: S(ws),
    }
    if args.bf16:
        variants['ours bf16 plan'] = lambda: plan_for(S, torch.bfloat16).run(ws)
    if args.nvidia_repo:
        nvS = nvidia_network(args.nvidia_repo, kwargs, S.state_dict())
        variants['NVIDIA SynthesisNetwork'] = lambda: nvS(ws, noise_mode='const', force_fp32=True)

    print(f'StyleGAN3-{args.cfg.upper()} {args.res} px, channel_base {kwargs["channel_base"]}, channel_max '
          f'{kwargs["channel_max"]}, batch 1, fp32 unless noted, {args.threads} thread(s), torch {torch.__version__}')
    with torch.no_grad():
        outputs = {name: fn() for name, fn in variants.items()}       # warm-up (plans, allocations)
        ref = outputs['ours ref (impl=ref)']
        times = {name: [] for name in variants}
        for _ in range(args.iters):
            for name, fn in variants.items():
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    base = statistics.median(times['NVIDIA SynthesisNetwork']) if args.nvidia_repo else None
    print(f'CPU heap (process-wide, NVIDIA\'s code runs on it too): {cpu_heap.state()}')
    print(f'{"variant":32s} {"median s":>9s} {"vs NVIDIA":>9s} {"max|diff|":>10s} {"PSNR dB":>8s}')
    for name in variants:
        med = statistics.median(times[name])
        rel = f'{med / base:.2f}x' if base else '-'
        out = outputs[name].to(torch.float32)
        diff = (out - ref).abs().max().item()
        print(f'{name:32s} {med:9.3f} {rel:>9s} {diff:10.2e} {psnr(out, ref):8.1f}')
    print(f'(output range of the reference: max |x| = {ref.abs().max().item():.3f}; '
          f'{args.iters} rounds, medians, round-robin)')
    if args.drag:
        drag_frames(S, ws, args.iters)


def drag_frames(S, ws, iters):
    """The interactive view's resumed frames (FastRenderer -> plan.run(resume=True)): a drag
    that changes the styles from ws index k on re-runs the layers from k only."""
    from explorer.engine.fast_sg3 import plan_for
    plan = plan_for(S)
    ks = [k for k in (1, 4, 8, 10, 12, 14, S.num_ws - 1) if k < S.num_ws]
    times = {k: [] for k in ['full'] + ks}
    with torch.no_grad():
        for it in range(iters + 1):
            for k in ks:
                for step in range(3):       # frames 1-2 learn where the drag acts; frame 3 resumes
                    w = ws.clone()
                    w[:, k:] += 0.01 * (3 * it + step + 1)
                    t0 = time.perf_counter()
                    plan.run(w, resume=True)
                    dt = time.perf_counter() - t0
                if it:
                    assert plan.last_start == k, (plan.last_start, k)
                    times[k].append(dt)
                    t0 = time.perf_counter()
                    plan.run(w)             # a full frame, interleaved
                    times['full'].append(time.perf_counter() - t0)
    print(f'\nresumed drag frames (fp32 plan, {iters} rounds, medians)')
    print(f'{"styles changed from ws index":30s} {"median s":>9s}')
    for k, v in times.items():
        print(f'{str(k):30s} {statistics.median(v):9.3f}')


if __name__ == '__main__':
    main()
