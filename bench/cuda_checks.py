"""GPU checks that the CPU interpreter cannot make; run by ``bench/device_suite.sh``.

1. Triton kernels compiled for CUDA on tensors past 2**31 elements (int64 offsets): bias_act,
   the fused synthesis epilogue and upfirdn2d (up, with bias + lrelu as filtered_lrelu uses it,
   and down) at config-f-1024's last-layer size with batch 66 (66 x 32 x 1024 x 1024 fp16 =
   2.2e9 elements, 4.4 GB per tensor). The last sample, which lies past 2**31, is compared with
   the fp32 reference run on that sample alone.
2. CUDA-graph capture while another thread allocates fresh GPU memory (the GUI renders while a
   training thread runs): every capture must succeed (no fall-back to eager) and match eager.

    python bench/cuda_checks.py                    # on the GPU machine
    TRITON_INTERPRET=1 python bench/cuda_checks.py --device cpu --small   # CPU smoke of the script

One line per check; exit status 1 when any check fails.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import threading
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

FAILED = []


def report(name, ok, detail=''):
    print(f'{"PASS" if ok else "FAIL"} {name} {detail}', flush=True)
    if not ok:
        FAILED.append(name)


def close(name, got, ref, rel_tol):
    scale = max(1.0, ref.abs().max().item())
    err = (got.float() - ref.float()).abs().max().item()
    report(name, err <= rel_tol * scale, f'max err {err:.3g} (allowed {rel_tol * scale:.3g})')


def large_tensor_checks(dev, small):
    from kernels import triton_bias_act, triton_modconv, triton_upfirdn2d
    from kernels.bias_act import bias_act_ref
    from kernels.upfirdn2d import setup_filter, upfirdn2d_ref
    N, C, H = (3, 4, 8) if small else (66, 32, 1024)
    dt = torch.float32 if dev == 'cpu' else torch.float16
    tol = 1e-5 if dt == torch.float32 else 1e-2
    i = N - 1
    print(f'large tensors: [{N}, {C}, {H}, {H}] {dt} = {N * C * H * H / 2 ** 31:.2f} x 2**31 elements', flush=True)
    gen = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(N, C, H, H, device=dev, dtype=dt, generator=gen)
    b = torch.randn(C, device=dev, dtype=dt, generator=gen)
    xs, bs = x[i:i + 1].float(), b.float()

    y = triton_bias_act.bias_act_triton(x, b, act='lrelu', clamp=256.0)
    close('bias_act last sample', y[i:i + 1], bias_act_ref(xs, bs, act='lrelu', clamp=256.0), tol)
    del y

    noise = torch.randn(N, 1, H, H, device=dev, dtype=dt, generator=gen)
    y = triton_modconv.epilogue(x, noise=noise, bias=b, act='lrelu', gain=math.sqrt(2), clamp=256.0)
    ref = bias_act_ref(xs + noise[i:i + 1].float(), bs, act='lrelu', gain=math.sqrt(2), clamp=256.0)
    close('epilogue last sample', y[i:i + 1], ref, tol)
    del y, noise

    f = setup_filter([1, 3, 3, 1], device=dev)
    y = triton_upfirdn2d.launch(x, f, down=2, padding=1)                      # input past 2**31
    close('upfirdn2d down last sample', y[i:i + 1], upfirdn2d_ref(xs, f, down=2, padding=1), tol)
    del y

    x2 = x[:, :, :H // 2, :H // 2].contiguous()
    del x
    y = triton_upfirdn2d.launch(x2, f, up=2, padding=[2, 1, 2, 1], gain=4, bias=b, act='lrelu',
                                act_gain=math.sqrt(2), clamp=256.0)            # output past 2**31
    ref = upfirdn2d_ref(x2[i:i + 1].float() + bs.reshape(1, -1, 1, 1), f, up=2, padding=[2, 1, 2, 1], gain=4)
    ref = bias_act_ref(ref, None, act='lrelu', gain=math.sqrt(2), clamp=256.0)
    close('upfirdn2d up+bias+lrelu last sample', y[i:i + 1], ref, tol)
    del y, x2
    if dev == 'cuda':
        torch.cuda.empty_cache()


def concurrent_capture_check(dev):
    """Graph captures while another thread keeps allocating fresh device memory."""
    from explorer.engine.bench import build_config
    from explorer.engine.cuda_graphs import cuda_graph_capture
    from explorer.engine.fast_render import FastRenderer
    G = build_config('tiny').to(dev)
    capturing = threading.Event()
    stop = threading.Event()
    errors = []

    def churn():  # new 12 MB blocks each time: cudaMalloc while the renderer captures
        hold = []
        capturing.wait(60)
        try:
            while not stop.is_set() and len(hold) < 1000:
                hold.append(torch.empty(12 * 2 ** 20, dtype=torch.uint8, device=dev))
                time.sleep(0.002)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    def capture(fn, static):  # the real capture; re-raises instead of falling back to eager
        capturing.set()
        time.sleep(0.05)
        return cuda_graph_capture(fn, static)

    fr = FastRenderer(G, dev, use_graphs=True, graph_capture=capture)
    eager = FastRenderer(G, dev, use_graphs=False)
    th = threading.Thread(target=churn, daemon=True)
    th.start()
    try:
        for n in (1, 2, 4):
            ws = G.mapping(torch.randn(n, G.z_dim, device=dev), None)
            close(f'graph capture under allocation churn, batch {n}', fr.render(ws), eager.render(ws), 1e-3)
    except Exception as e:  # noqa: BLE001
        report('graph capture under allocation churn', False, f'{type(e).__name__}: {e}')
    finally:
        stop.set()
        th.join(30)
    report('allocating thread unaffected by capture', not errors, '; '.join(map(str, errors))[:300])
    report('captures', fr.graphs.captures == 3, f'{fr.graphs.captures}')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cuda', choices=['cuda', 'cpu'])
    p.add_argument('--small', action='store_true', help='tiny sizes (CPU smoke test of this script)')
    args = p.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        print('no CUDA device', flush=True)
        return 2
    if args.device == 'cpu' and os.environ.get('TRITON_INTERPRET') != '1':
        print('--device cpu needs TRITON_INTERPRET=1', flush=True)
        return 2
    t0 = time.perf_counter()
    for name, fn in [('large tensors', lambda: large_tensor_checks(args.device, args.small)),
                     ('concurrent capture', lambda: concurrent_capture_check(args.device))]:
        if name == 'concurrent capture' and args.device != 'cuda':
            continue
        try:
            fn()
        except Exception:  # noqa: BLE001 - report and go on with the next check
            traceback.print_exc()
            report(name, False, 'raised')
    print(f'{len(FAILED)} failed: {FAILED} ({time.perf_counter() - t0:.1f} s)', flush=True)
    return 1 if FAILED else 0


if __name__ == '__main__':
    sys.exit(main())
