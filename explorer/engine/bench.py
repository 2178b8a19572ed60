"""Synthesis speed benchmark behind ``python main.py bench``.

For a checkpoint or a named configuration built with random weights (no download):
batch-1 latency (median, p90), throughput at larger batches, peak memory and image
quality (PSNR against the fp32 reference render) for every implementation the
device offers, plus the progressive-preview latency per ``stop_at`` resolution.

Implementations:
- ``ref``          ``G.synthesis(impl='ref')`` with the reference kernels (``EXPLORER_KERNELS=ref``);
- ``default``      ``G.synthesis(ws)`` under ``torch.no_grad()``: what every caller gets by default
                   (StyleGAN2: the fast fp32 plan, ``explorer.engine.fast_synthesis``);
- ``auto``         ``G.synthesis(impl='ref')`` with ``impl='auto'`` kernels (Triton on CUDA; CUDA only);
- ``fast``         ``FastRenderer`` fp32, no graphs;
- ``fast+graphs``  ``FastRenderer`` fp32 with CUDA-graph replay (CUDA only);
- ``bf16`` / ``fp16``  ``FastRenderer`` in that dtype (graphs on CUDA), where supported.

Timings are wall clock; CUDA work is synchronised before the clock stops.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import resource
import statistics
import time

import numpy as np
import torch

from explorer.engine.capabilities import dtype_supported
from explorer.engine.fast_render import FastRenderer
from explorer.engine.quality import psnr
from explorer.errors import UserError
from kernels import forced_ref

# Named configurations (random weights). Channel counts follow the published configs.
CONFIGS = {
    'tiny': dict(family='stylegan2', z_dim=32, w_dim=32, img_resolution=32, img_channels=3,
                 mapping_kwargs=dict(num_layers=2),
                 synthesis_kwargs=dict(channel_base=512, channel_max=32, conv_clamp=256)),
    'paper256': dict(family='stylegan2', z_dim=512, w_dim=512, img_resolution=256, img_channels=3,
                     mapping_kwargs=dict(num_layers=8),
                     synthesis_kwargs=dict(channel_base=16384, channel_max=512, num_fp16_res=4, conv_clamp=256)),
    'paper512': dict(family='stylegan2', z_dim=512, w_dim=512, img_resolution=512, img_channels=3,
                     mapping_kwargs=dict(num_layers=8),
                     synthesis_kwargs=dict(channel_base=32768, channel_max=512, num_fp16_res=4, conv_clamp=256)),
    'config-f-1024': dict(family='stylegan2', z_dim=512, w_dim=512, img_resolution=1024, img_channels=3,
                          mapping_kwargs=dict(num_layers=8),
                          synthesis_kwargs=dict(channel_base=32768, channel_max=512, num_fp16_res=4,
                                                conv_clamp=256)),
    'sg3-t-1024': dict(family='stylegan3', z_dim=512, w_dim=512, img_resolution=1024, img_channels=3,
                       mapping_kwargs=dict(num_layers=2),
                       synthesis_kwargs=dict(channel_base=32768, channel_max=512, num_fp16_res=4,
                                             conv_clamp=256)),
}


def build_config(name: str, seed: int = 0):
    """A generator of a named configuration with random (but non-trivial) weights, eval mode."""
    if name not in CONFIGS:
        raise UserError(f'unknown config {name!r}; choose one of {", ".join(CONFIGS)}')
    from explorer.engine.families import build_generator
    cfg = dict(CONFIGS[name])
    family = cfg.pop('family')
    torch.manual_seed(seed)
    G = build_generator(family, dict(c_dim=0, **cfg))
    return nontrivial(G, noise_strength=0.1, bias_std=0.1)


def nontrivial(G, noise_strength: float, bias_std: float):
    """``G`` with every noise strength set to ``noise_strength`` and the synthesis layers' biases
    drawn from N(0, ``bias_std``) (freshly initialised ones are zero, which would hide whatever
    they feed); eval mode, no grad."""
    with torch.no_grad():
        for n, p in G.named_parameters():
            if n.endswith('noise_strength'):
                p.fill_(noise_strength)
            elif n.endswith('bias') and 'mapping' not in n and 'affine' not in n:
                p.normal_(0, bias_std)
    return G.eval().requires_grad_(False)


@contextlib.contextmanager
def _env(name, value):
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _time(fn, device, iters, warmup=1):
    for _ in range(warmup):
        fn()
    _sync(device)
    out = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def _p90(values):
    return float(np.percentile(values, 90)) if values else None


def _peak_rss_mb():
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024.0  # Linux reports KiB


def available_impls(G, device) -> list:
    device = torch.device(device)
    out = ['ref', 'default']
    if device.type == 'cuda':
        out.append('auto')
    out.append('fast')
    if device.type == 'cuda':
        out.append('fast+graphs')
    low_precision_ok = G.family == 'stylegan2' and not forced_ref()
    for dt in ('bf16', 'fp16'):
        if low_precision_ok and dtype_supported(dt, device):
            out.append(dt)
    return out


class _Impl:
    def __init__(self, name, G, device):
        self.name = name
        self.G = G
        self.device = device
        self.renderer = None
        if name == 'fast':
            self.renderer = FastRenderer(G, device, use_graphs=False)
        elif name == 'fast+graphs':
            self.renderer = FastRenderer(G, device, use_graphs=True)
        elif name in ('bf16', 'fp16'):
            self.renderer = FastRenderer(G, device, dtype=name, use_graphs=device.type == 'cuda')

    @torch.no_grad()
    def __call__(self, ws, stop_at=None):
        if self.renderer is not None:
            return self.renderer.render(ws, noise_mode='const', stop_at=stop_at)
        kw = {'noise_mode': 'const'}
        if stop_at is not None:
            kw['stop_at'] = stop_at
        if self.name == 'ref':
            with _env('EXPLORER_KERNELS', 'ref'):
                return self.G.synthesis(ws, impl='ref', **kw)
        if self.name == 'auto':
            return self.G.synthesis(ws, impl='ref', **kw)
        return self.G.synthesis(ws, **kw)       # default: what callers get


def run_bench(G, device='cpu', impls=None, iters=10, batches=(1, 8), quick=False, max_seconds=120.0,
              preview=True, label='', log=print) -> dict:
    """Measure; returns a JSON-able dict (see module docstring)."""
    device = torch.device(device)
    G = G.to(device).eval().requires_grad_(False)
    impls = list(impls) if impls else available_impls(G, device)
    unknown = set(impls) - set(available_impls(G, device))
    if unknown:
        raise UserError(f'implementation(s) not available on {device}: {", ".join(sorted(unknown))}')
    if quick:
        iters = min(iters, 3)
        batches = tuple(b for b in batches if b <= 2) or (1,)
    gen = torch.Generator().manual_seed(123)
    z = torch.randn([max(batches), G.z_dim], generator=gen).to(device)
    with torch.no_grad():
        ws_all = G.mapping(z, None, truncation_psi=0.7)
    ws1 = ws_all[:1]

    with torch.no_grad(), _env('EXPLORER_KERNELS', 'ref'):
        reference = G.synthesis(ws1, noise_mode='const', impl='ref').float()

    result = {
        'label': label,
        'date': datetime.datetime.now().isoformat(timespec='seconds'),
        'device': device_description(device),
        'torch': torch.__version__,
        'threads': torch.get_num_threads(),
        'resolution': G.img_resolution,
        'family': G.family,
        'iters': iters,
        'impls': {},
    }
    for name in impls:
        impl = _Impl(name, G, device)
        row = {}
        if device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(device)
        t_start = time.perf_counter()
        img = impl(ws1)
        _sync(device)
        first_ms = (time.perf_counter() - t_start) * 1e3
        row['first_call_ms'] = first_ms
        row['psnr_db'] = psnr(img.float(), reference)
        ms = _time(lambda: impl(ws1), device, iters, warmup=1 if quick else 2)
        row['batch1_ms_median'] = statistics.median(ms)
        row['batch1_ms_p90'] = _p90(ms)
        row['batch1_ms_min'] = min(ms)
        row['throughput'] = {}
        for b in batches:
            if b == 1:
                row['throughput']['1'] = 1e3 / row['batch1_ms_median']
                continue
            est_s = row['batch1_ms_median'] * b * (iters + 1) / 1e3
            if est_s > max_seconds:
                row['throughput'][str(b)] = None
                log(f'  {name}: batch {b} skipped (would take ~{est_s:.0f} s > --max-seconds {max_seconds:g})')
                continue
            wsb = ws_all[:b]
            n_it = max(1, min(iters, 3))
            tb = _time(lambda: impl(wsb), device, n_it, warmup=1)
            row['throughput'][str(b)] = b * 1e3 / statistics.median(tb)
        if device.type == 'cuda':
            row['peak_memory_mb'] = torch.cuda.max_memory_allocated(device) / 2 ** 20
        else:
            row['peak_memory_mb'] = _peak_rss_mb()
            row['peak_memory_kind'] = 'process peak RSS'
        result['impls'][name] = row
        log(f'  {name}: batch-1 median {row["batch1_ms_median"]:.1f} ms, PSNR {row["psnr_db"]:.1f} dB')
        impl = None     # free its buffers before the next implementation

    if preview and len(G.preview_resolutions()) > 1:
        result['preview'] = preview_latency(G, device, iters=max(1, min(iters, 5)),
                                            dtype='bf16' if 'bf16' in impls and device.type == 'cpu' else 'fp32')
    return result


def preview_latency(G, device, iters=5, dtype='fp32', budget_ms=50.0) -> dict:
    """Batch-1 latency of ``FastRenderer`` stopping at each preview resolution."""
    fr = FastRenderer(G, device, dtype=dtype, use_graphs=torch.device(device).type == 'cuda')
    ws = G.mapping(torch.randn([1, G.z_dim], generator=torch.Generator().manual_seed(5)).to(device), None)
    per_res = {}
    for r in G.preview_resolutions():
        stop = None if r == G.img_resolution else r
        ms = _time(lambda: fr.render(ws, stop_at=stop), torch.device(device), iters, warmup=1)
        per_res[str(r)] = statistics.median(ms)
    fits = [int(r) for r, ms in per_res.items() if ms <= budget_ms]
    return {'dtype': dtype, 'ms_by_resolution': per_res, 'budget_ms': budget_ms,
            'largest_within_budget': max(fits) if fits else None}


def device_description(device) -> str:
    device = torch.device(device)
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    name = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    return f'{name}, {os.cpu_count()} logical CPUs'


def format_table(result: dict) -> str:
    batches = sorted({int(b) for r in result['impls'].values() for b in r['throughput']})
    head = ['impl', 'b1 median ms', 'b1 p90 ms', 'PSNR dB'] + [f'img/s b{b}' for b in batches] + ['peak MB']
    rows = [head]
    for name, r in result['impls'].items():
        tp = [r['throughput'].get(str(b)) for b in batches]
        rows.append([name, f'{r["batch1_ms_median"]:.1f}', f'{r["batch1_ms_p90"]:.1f}',
                     'inf' if r['psnr_db'] == float('inf') else f'{r["psnr_db"]:.1f}']
                    + ['-' if t is None else f'{t:.2f}' for t in tp] + [f'{r["peak_memory_mb"]:.0f}'])
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [f'{result["label"]} on {result["device"]} ({result["resolution"]}px, torch {result["torch"]}, '
             f'{result["threads"]} threads, {result["iters"]} iters)']
    for i, row in enumerate(rows):
        lines.append('| ' + ' | '.join(c.ljust(w) for c, w in zip(row, widths)) + ' |')
        if i == 0:
            lines.append('|' + '|'.join('-' * (w + 2) for w in widths) + '|')
    if 'preview' in result:
        p = result['preview']
        lines.append(f'preview ({p["dtype"]}, batch 1): ' + ', '.join(
            f'{r}px {ms:.1f} ms' for r, ms in p['ms_by_resolution'].items())
            + f'; largest within {p["budget_ms"]:g} ms: {p["largest_within_budget"]}')
    return '\n'.join(lines)


def to_json(result: dict) -> str:
    def clean(v):
        if isinstance(v, float) and (v != v or v in (float('inf'), float('-inf'))):
            return str(v)
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v
    return json.dumps(clean(result), indent=2)
