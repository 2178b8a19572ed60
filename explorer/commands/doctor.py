"""python main.py doctor: the devices, the versions, and each fast path's state."""

from __future__ import annotations

from explorer.commands import _common as C

NAME = 'doctor'
HELP = ("print the devices, versions (Python, torch, CUDA, cuDNN, Triton, PyQt6), threads and each "
        "fast path's state on the device (ok / fell back, why / not available, why)")


def add_arguments(p):
    C.add_device_arg(p)
    p.add_argument('--json', action='store_true', help='print JSON')


def _device_line(d: dict) -> str:
    extra = []
    if 'memory_gb' in d:
        extra.append(f'{d["memory_gb"]} GB')
    if 'capability' in d:
        extra.append(f'compute {d["capability"]}')
    if 'threads' in d:
        extra.append(f'{d["threads"]} torch threads, {d["cores"]} cores')
    return f'  {d["device"]:8s} {d["name"] or "?"}' + (f' ({", ".join(extra)})' if extra else '')


def format_report(r: dict) -> str:
    lines = ['Devices:']
    lines += [_device_line(d) for d in r['devices']]
    if not any(d['device'] == 'mps' for d in r['devices']):
        lines.append('  mps      not available')
    lines.append('Versions:')
    lines += [f'  {k:8s} {v if v is not None else "not installed"}' for k, v in r['versions'].items()]
    t = r['threads']
    lines.append(f'Threads: {t["intra_op"]} intra-op, {t["inter_op"]} inter-op')
    if 'cpu_heap' in r:
        lines.append(f'CPU heap: {r["cpu_heap"]}')
    if 'nnpack_cache' in r:
        lines.append(f'NNPACK cached Winograd transforms (CPU): {r["nnpack_cache"]}')
    forced = '  (EXPLORER_KERNELS=ref: reference everywhere)' if r['kernels_forced_ref'] else ''
    lines.append(f'Fast paths on {r["device"]} (self-checked on first use on '
                 f'{", ".join(r["checked_on_first_use"])}):{forced}')
    width = max(len(p['name']) for p in r['fast_paths'])
    for p in r['fast_paths']:
        state = p['state'] + (f': {p["reason"]}' if p['reason'] else '')
        if p['state'] == 'ok' and p['error'] is not None:
            state += f' (max error {p["error"]:.2g}, {p["ms"]:.0f} ms)'
        lines.append(f'  {p["name"]:{width}s}  {state}')
    return '\n'.join(lines)


def run(args):
    import json

    from explorer.engine.selfcheck import report
    r = report(args.device)
    print(json.dumps(r, indent=2) if args.json else format_report(r))
    return 0
