"""Side-by-side CPU timing of NVIDIA's StyleGAN2 synthesis network and ours, same weights.

    python bench/vs_nvidia.py --nvidia-repo /path/to/stylegan2-ada-pytorch --config paper256 \\
        --threads 1,2 --rounds 9
    python bench/vs_nvidia.py --config config-f-1024 --threads 1,2 --rounds 3 --batch 8
    python bench/vs_nvidia.py --config paper256 --threads 1,2      # ours only (no NVIDIA code)
    python bench/vs_nvidia.py --config config-f-1024 --device cuda --rounds 20   # ours on a GPU

A named configuration from ``explorer.engine.bench.CONFIGS`` (paper256: 256 px, channel_base
16384, channel_max 512; config-f-1024: 1024 px, channel_base 32768, channel_max 512; both
num_fp16_res 4, conv_clamp 256, as NVIDIA's ``train.py --cfg paper256`` / ``--cfg stylegan2``)
is built with seeded random weights. With ``--nvidia-repo`` the same state dict is loaded into
NVIDIA's ``training.networks.SynthesisNetwork``, imported from that checkout (nothing of it is
in this repository; without the option no NVIDIA code is imported), called with
``force_fp32=True`` (its fp16 blocks would otherwise run in fp16 on the CPU) and
``noise_mode='const'``; its custom ops fall back to their reference implementations on the CPU.
The script first prints the largest difference between our reference output and NVIDIA's (the
two implement the same arithmetic: expect ~1e-6).

Variants, timed round-robin (each round: every thread count, every variant, one call each, so
that load from other processes hits all of them alike):
- ``nvidia``  NVIDIA's ``synthesis(ws, noise_mode='const', force_fp32=True)``;
- ``ref``     our ``G.synthesis`` with the reference ops (``EXPLORER_KERNELS=ref``);
- ``default`` our public path: ``G.synthesis(ws)`` under ``torch.no_grad()`` when it dispatches
  to the fast plan (its output is then bit-identical to ``FastRenderer``'s), else
  ``FastRenderer(G, 'cpu', 'fp32').render`` (the label says which);
- ``bf16``    ``FastRenderer`` bf16, with ``--bf16`` on CPUs that have it.

``--device cuda``: everything on the GPU (CUDA work synchronised before each clock stops);
``--threads`` then only sets the host's intra-op threads, and ``default`` is what the public
path runs there (``G.synthesis`` if it dispatches fast, else ``FastRenderer`` fp32 without
graphs). PSNR against ``ref`` is then the default path's parity check on that device.

Round-robin has a price on a CPU with few cores: after a call that ran OpenMP regions on several
threads (NVIDIA's code, our reference ops), libgomp's worker threads keep spinning for a while
(``GOMP_SPINCOUNT``), on the cores the next call wants (measured, paper256 at 2 threads on 2 cores:
ours 117.7 ms after ours, 126.0 ms after NVIDIA's call, 117.5 ms after it with
``GOMP_SPINCOUNT=0``). ``--settle N`` makes N untimed calls of the same variant before each timed
one, so every variant is timed after itself, as an application rendering frame after frame runs
it; the default (0) times the variants back to back as before.

The CPU fast path sets glibc's heap thresholds for the whole process on first use
(``explorer.engine.cpu_heap``), so NVIDIA's code timed in the same process runs on that heap
too (it then takes fewer page faults as well); ``EXPLORER_MALLOC=system`` times both on glibc's
own thresholds. ``--nvidia-process separate`` runs NVIDIA's network in a child process of
its own instead (glibc's defaults there, as it runs without this project; the same seeded
weights; the calls still alternate, one process waiting while the other runs; the child
times its own calls). The state is printed.

Prints the load average before and after and a markdown table: median / min ms per call,
images/s, median relative to NVIDIA's (or to ``ref`` without NVIDIA), PSNR against NVIDIA's
output (or ``ref``'s). Batches > 1 on the CPU: our fast path renders the samples on concurrent
lanes (one per intra-op thread); NVIDIA's and the reference render the batch as one tensor.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from explorer.engine import cpu_heap  # noqa: E402
from explorer.engine.bench import CONFIGS, build_config, device_description  # noqa: E402
from explorer.engine.capabilities import dtype_supported  # noqa: E402
from explorer.engine.fast_render import FastRenderer  # noqa: E402
from explorer.engine.quality import psnr  # noqa: E402


@contextlib.contextmanager
def forced_reference():
    old = os.environ.get('EXPLORER_KERNELS')
    os.environ['EXPLORER_KERNELS'] = 'ref'
    try:
        yield
    finally:
        if old is None:
            os.environ.pop('EXPLORER_KERNELS', None)
        else:
            os.environ['EXPLORER_KERNELS'] = old


def nvidia_synthesis(repo: str, config: str, state_dict):
    """NVIDIA's SynthesisNetwork for ``config`` from the checkout at ``repo``, our weights loaded."""
    repo = str(Path(repo).resolve())
    if not (Path(repo) / 'training' / 'networks.py').is_file():
        raise SystemExit(f'error: {repo} has no training/networks.py (a stylegan2-ada-pytorch checkout?)')
    sys.path.insert(0, repo)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        from training.networks import SynthesisNetwork
    cfg = CONFIGS[config]
    net = SynthesisNetwork(w_dim=cfg['w_dim'], img_resolution=cfg['img_resolution'],
                           img_channels=cfg['img_channels'], **cfg['synthesis_kwargs'])
    missing = net.load_state_dict(state_dict, strict=True)
    assert not missing.missing_keys and not missing.unexpected_keys, missing
    return net.eval().requires_grad_(False)


def _nvidia_worker(conn, repo, config, seed, device):
    """``--nvidia-process separate``: NVIDIA's network in a process of its own, on glibc's
    default heap (as it runs without this project), same weights (the same seeded build).
    Commands over ``conn``: ('ws', shape, float32 bytes) -> output bytes; ('run', threads) ->
    milliseconds of one call, timed here; ('stop',)."""
    import numpy as np
    torch.set_num_threads(1)
    G = build_config(config, seed=seed)
    net = nvidia_synthesis(repo, config, G.synthesis.state_dict()).to(device)
    del G
    ws = None
    conn.send(('ready', cpu_heap.state()))
    with torch.no_grad():
        while True:
            msg = conn.recv()
            if msg[0] == 'stop':
                return
            if msg[0] == 'ws':
                ws = torch.from_numpy(np.frombuffer(msg[2], dtype=np.float32).reshape(msg[1]).copy()).to(device)
                with warnings.catch_warnings():
                    warnings.simplefilter('ignore')
                    out = net(ws, noise_mode='const', force_fp32=True).float().cpu()
                conn.send((tuple(out.shape), out.numpy().tobytes()))
            elif msg[0] == 'run':
                torch.set_num_threads(msg[1])
                if device != 'cpu':
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter('ignore')
                    net(ws, noise_mode='const', force_fp32=True)
                if device != 'cpu':
                    torch.cuda.synchronize()
                conn.send((time.perf_counter() - t0) * 1e3)


class SeparateNvidia:
    """NVIDIA's network run in a child process (see ``_nvidia_worker``); calls block until the
    child is done, so the two processes never run at the same time."""

    def __init__(self, repo, config, seed, device, ws):
        import multiprocessing as mp

        import numpy as np
        ctx = mp.get_context('spawn')
        self.conn, child = ctx.Pipe()
        old = os.environ.get(cpu_heap.ENV)
        os.environ[cpu_heap.ENV] = 'system'      # the child keeps glibc's heap defaults
        try:
            self.proc = ctx.Process(target=_nvidia_worker, args=(child, repo, config, seed, str(device)), daemon=True)
            self.proc.start()
        finally:
            if old is None:
                os.environ.pop(cpu_heap.ENV, None)
            else:
                os.environ[cpu_heap.ENV] = old
        tag, self.heap = self.conn.recv()
        w = ws.detach().float().cpu().contiguous()
        self.conn.send(('ws', tuple(w.shape), w.numpy().tobytes()))
        shape, data = self.conn.recv()
        self.output = torch.from_numpy(np.frombuffer(data, dtype=np.float32).reshape(shape).copy())

    def timed(self, threads):
        self.conn.send(('run', threads))
        return self.conn.recv()

    def close(self):
        self.conn.send(('stop',))
        self.proc.join(timeout=30)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--config', default='paper256', choices=[c for c, v in CONFIGS.items()
                                                              if v['family'] == 'stylegan2'])
    ap.add_argument('--nvidia-repo', default=None, help="a stylegan2-ada-pytorch checkout (read, imported)")
    ap.add_argument('--threads', default='1,2', help='comma-separated intra-op thread counts')
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--batch', type=int, default=1)
    ap.add_argument('--device', default='cpu', help='cpu or cuda')
    ap.add_argument('--psi', type=float, default=0.7)
    ap.add_argument('--seed', type=int, default=0, help='weights seed')
    ap.add_argument('--bf16', action='store_true', help='also time FastRenderer bf16 (if the CPU has it)')
    ap.add_argument('--skip', default='', help="variants not to time, e.g. 'ref'")
    ap.add_argument('--json', default=None, help='write the raw timings here')
    ap.add_argument('--settle', type=int, default=0,
                    help='untimed calls of the same variant right before each timed one (0: none); see the '
                         "module's docstring")
    ap.add_argument('--nvidia-process', choices=['same', 'separate'], default='same',
                    help="same: NVIDIA's network in this process (on the heap our fast path sets); "
                         "separate: in a child process on glibc's default heap, as it runs on its own")
    args = ap.parse_args(argv)
    threads = [int(t) for t in args.threads.split(',') if t]
    skip = {s for s in args.skip.split(',') if s}

    torch.set_num_threads(threads[0])
    device = torch.device(args.device)
    G = build_config(args.config, seed=args.seed)
    z = torch.randn([args.batch, G.z_dim], generator=torch.Generator().manual_seed(123))
    with torch.no_grad():
        ws = G.mapping(z, None, truncation_psi=args.psi)
    G = G.to(device)
    ws = ws.to(device)

    def sync():
        if device.type == 'cuda':
            torch.cuda.synchronize(device)

    variants = {}
    outputs = {}
    nv = None
    separate = None
    if args.nvidia_repo and args.nvidia_process == 'separate':
        separate = nv = SeparateNvidia(str(Path(args.nvidia_repo).resolve()), args.config, args.seed, device, ws)
        variants['nvidia'] = lambda: separate.output
    elif args.nvidia_repo:
        nv = nvidia_synthesis(args.nvidia_repo, args.config, G.synthesis.state_dict()).to(device)

        def run_nvidia():
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                return nv(ws, noise_mode='const', force_fp32=True)
        variants['nvidia'] = run_nvidia

    def run_ref():
        with forced_reference():
            return G.synthesis(ws, noise_mode='const')
    variants['ref'] = run_ref

    fr = FastRenderer(G, device, dtype='fp32', use_graphs=False)
    with torch.no_grad():
        fast_img = fr.render(ws, noise_mode='const')
        public_img = G.synthesis(ws, noise_mode='const')
        ref_img = run_ref()
    public_is_fast = torch.equal(public_img, fast_img) and not torch.equal(public_img, ref_img)
    if public_is_fast:
        default_label = 'default (G.synthesis, no_grad)'

        def run_default():
            return G.synthesis(ws, noise_mode='const')
    else:
        default_label = 'default (FastRenderer fp32)'

        def run_default():
            return fr.render(ws, noise_mode='const')
    variants['default'] = run_default
    if args.bf16 and dtype_supported('bf16', device):
        fr16 = FastRenderer(G, device, dtype='bf16', use_graphs=False)
        variants['bf16'] = lambda: fr16.render(ws, noise_mode='const')
    variants = {k: v for k, v in variants.items() if k not in skip or k == 'nvidia'}

    with torch.no_grad():
        for name, fn in variants.items():
            outputs[name] = fn().float()
    base = 'nvidia' if nv is not None else ('ref' if 'ref' in variants else 'default')
    if nv is not None:
        diff = (ref_img.float() - outputs['nvidia']).abs().max().item()
        print(f'check: max |ours (reference ops) - NVIDIA| = {diff:.3g}'
              + ('' if diff < 1e-4 else '  <-- NOT the same network'))
    print(f'public G.synthesis under no_grad dispatches to the fast plan: {public_is_fast}')

    load0 = os.getloadavg()
    times = {(t, k): [] for t in threads for k in variants}
    t_start = time.perf_counter()
    with torch.no_grad():
        for t in threads:               # warm-up at each thread count
            torch.set_num_threads(t)
            for name, fn in variants.items():
                if name == 'nvidia' and separate is not None:
                    separate.timed(t)
                else:
                    fn()
        for r in range(args.rounds):
            for t in threads:
                torch.set_num_threads(t)
                for name, fn in variants.items():
                    if name == 'nvidia' and separate is not None:
                        for _ in range(args.settle):
                            separate.timed(t)
                        times[(t, name)].append(separate.timed(t))
                        continue
                    for _ in range(args.settle):
                        fn()
                    sync()
                    t0 = time.perf_counter()
                    fn()
                    sync()
                    times[(t, name)].append((time.perf_counter() - t0) * 1e3)
            print(f'round {r + 1}/{args.rounds} done ({time.perf_counter() - t_start:.0f} s)', flush=True)
    load1 = os.getloadavg()

    label = {'nvidia': 'NVIDIA synthesis (force_fp32)', 'ref': 'ours, reference ops',
             'default': f'ours, {default_label}', 'bf16': 'ours, FastRenderer bf16'}
    print()
    print(f'{args.config}, batch {args.batch}, psi {args.psi}, {args.rounds} rounds, '
          f'{device_description(device)}, torch {torch.__version__}')
    if separate is not None:
        separate.close()
        print(f'CPU heap: ours {cpu_heap.state()}; NVIDIA in a separate process: {separate.heap}')
    else:
        print(f'CPU heap (explorer.engine.cpu_heap, process-wide: NVIDIA\'s code runs on it too): {cpu_heap.state()}')
    print(f'load average before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, '
          f'after {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}')
    print()
    print(f'| threads | variant | median ms | min ms | img/s | vs {base} (median) | PSNR vs {base} dB |')
    print('|---|---|---|---|---|---|---|')
    rows = []
    for t in threads:
        base_med = statistics.median(times[(t, base)])
        for name in variants:
            v = times[(t, name)]
            med = statistics.median(v)
            p = psnr(outputs[name], outputs[base])
            rows.append(dict(threads=t, variant=name, median_ms=med, min_ms=min(v), images_per_s=args.batch * 1e3 / med,
                             ratio=med / base_med, psnr_db=p, times_ms=v))
            print(f'| {t} | {label[name]} | {med:.1f} | {min(v):.1f} | {args.batch * 1e3 / med:.2f} | '
                  f'{med / base_med:.2f} | {"inf" if p == float("inf") else f"{p:.1f}"} |')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(config=args.config, batch=args.batch, rounds=args.rounds, load_before=load0,
                           load_after=load1, public_is_fast=public_is_fast,
                           rows=[{k: (str(v) if v == float('inf') else v) for k, v in r.items()} for r in rows]),
                      f, indent=1)


if __name__ == '__main__':
    main()
