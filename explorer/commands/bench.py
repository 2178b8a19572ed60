"""python main.py bench: synthesis speed per implementation on this machine."""

from __future__ import annotations

from explorer.commands import _common as C
from explorer.errors import UserError

NAME = 'bench'
HELP = ('time synthesis (batch-1 latency, throughput, peak memory, PSNR vs reference, preview latency) '
        'for each implementation available on the device')


def _batches(text):
    try:
        out = tuple(int(t) for t in text.split(',') if t.strip())
    except ValueError:
        raise C.argparse.ArgumentTypeError(f'batches must be comma-separated whole numbers, got {text!r}') from None
    if not out or any(b < 1 for b in out):
        raise C.argparse.ArgumentTypeError(f'batches must be >= 1, got {text!r}')
    return out


def add_arguments(p):
    from explorer.engine.bench import CONFIGS
    src = p.add_mutually_exclusive_group()
    src.add_argument('--checkpoint', metavar='P', default=None, help='checkpoint path or URL')
    src.add_argument('--config', choices=sorted(CONFIGS), default=None,
                     help='named configuration with random weights (default: paper256)')
    C.add_device_arg(p)
    p.add_argument('--iters', type=C.nonneg_int, default=10, help='timed iterations at batch 1 (default 10)')
    p.add_argument('--batches', type=_batches, default=None,
                   help='batch sizes, e.g. 1,8,32,64 (default: 1,8,32,64 on CUDA, 1,8 on CPU)')
    p.add_argument('--impls', default=None,
                   help='comma-separated subset of ref,default,auto,fast,fast+graphs,bf16,fp16 (default: all '
                        'available; default = G.synthesis under no_grad, what callers get)')
    p.add_argument('--threads', type=C.nonneg_int, default=None, help='CPU threads (default: torch default)')
    p.add_argument('--max-seconds', type=float, default=120.0,
                   help='skip a batch size whose estimated time exceeds this (default 120)')
    p.add_argument('--no-preview', action='store_true', help='skip the progressive-preview latency')
    p.add_argument('--json', metavar='OUT', default=None, help='also write the results as JSON to OUT')
    p.add_argument('--quick', action='store_true', help='CI-sized run: few iterations, batches <= 2')


def run(args):
    import torch

    from explorer.engine import bench
    if args.iters < 1:
        raise UserError('--iters must be at least 1')
    if args.threads:
        torch.set_num_threads(args.threads)
    json_out = None
    if args.json:  # check the destination before minutes of timing
        from pathlib import Path
        json_out = Path(args.json)
        if json_out.parent and not json_out.parent.exists():
            C.writable_dir(json_out.parent)
        json_out = C.writable_file(json_out)
    device = C.pick_device(args.device)
    if args.checkpoint:
        from explorer.engine.checkpoint import read_checkpoint
        with C.TextProgress('download') as bar:
            G = read_checkpoint(args.checkpoint, progress=bar)['G_ema']
        label = str(args.checkpoint)
    else:
        label = args.config or 'paper256'
        G = bench.build_config(label)
    batches = args.batches or ((1, 8, 32, 64) if device.type == 'cuda' else (1, 8))
    impls = [s.strip() for s in args.impls.split(',')] if args.impls else None
    print(f'bench: {label} on {bench.device_description(device)}', flush=True)
    result = bench.run_bench(G, device, impls=impls, iters=args.iters, batches=batches, quick=args.quick,
                             max_seconds=args.max_seconds, preview=not args.no_preview, label=label,
                             log=lambda m: print(m, flush=True))
    print(bench.format_table(result))
    if json_out:
        json_out.write_text(bench.to_json(result))
        print(f'wrote {json_out}')
    return 0
