"""python main.py info: what a checkpoint holds."""

from __future__ import annotations

from explorer.commands import _common as C

NAME = 'info'
HELP = 'print format, family, resolution, num_ws, dims, parameter count and whether D is present'


def add_arguments(p):
    p.add_argument('checkpoint', nargs='?', default=None, help='checkpoint path or URL (default: the shipped model)')
    p.add_argument('--json', action='store_true', help='print JSON')


def describe(data) -> dict:
    G = data['G_ema']
    return {
        'file': str(data['path']),
        'format': data['format'],
        'family': G.family,
        'resolution': G.img_resolution,
        'img_channels': G.img_channels,
        'num_ws': G.num_ws,
        'z_dim': G.z_dim,
        'w_dim': G.w_dim,
        'c_dim': G.c_dim,
        'parameters': sum(p.numel() for p in G.parameters()),
        'has_discriminator': data.get('D') is not None,
        'layers': [l.label for l in G.style_layers()],
    }


def run(args):
    import json

    from explorer.engine.checkpoint import default_checkpoint_path, read_checkpoint
    with C.TextProgress('download') as bar:
        data = read_checkpoint(args.checkpoint or default_checkpoint_path(), progress=bar)
    d = describe(data)
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    for k, v in d.items():
        if k == 'layers':
            v = ', '.join(v)
        print(f'{k:18s} {v}')
    return 0
