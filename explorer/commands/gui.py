"""python main.py gui: the desktop explorer window."""

from __future__ import annotations

from explorer.commands import _common as C

NAME = 'gui'
HELP = 'open the explorer window (the default with no command)'


def add_arguments(p):
    C.add_checkpoint_arg(p)
    C.add_device_arg(p)


def run(args):
    try:
        from explorer.ui.app import run_app
    except ImportError as e:
        from explorer.errors import UserError
        raise UserError(f'the GUI cannot start: {e}') from None
    return run_app(checkpoint=args.checkpoint, device=args.device)
