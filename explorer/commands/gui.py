"""python main.py gui: the desktop explorer window."""

from __future__ import annotations

import os
import sys

from explorer.commands import _common as C

NAME = 'gui'
HELP = 'open the explorer window (the default with no command)'


def add_arguments(p):
    C.add_checkpoint_arg(p)
    C.add_device_arg(p)


NO_DISPLAY = ('no display to open the window on (DISPLAY and WAYLAND_DISPLAY are not set): run it from a '
              'desktop session, or under a virtual display with `xvfb-run python main.py`; for headless checks '
              'set QT_QPA_PLATFORM=offscreen')


def display_problem(environ=None, platform=None) -> str | None:
    """Why Qt cannot open a window here, or None. On Linux and the BSDs Qt needs an X11 or
    Wayland display unless QT_QPA_PLATFORM picks another platform; without one it aborts the
    process (a core dump and a misleading message about libxcb-cursor0)."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if platform.startswith(('win', 'cygwin', 'darwin')):
        return None
    if any(environ.get(k) for k in ('DISPLAY', 'WAYLAND_DISPLAY', 'QT_QPA_PLATFORM')):
        return None
    return NO_DISPLAY


def run(args):
    problem = display_problem()
    if problem:
        from explorer.errors import UserError
        raise UserError(problem)
    try:
        from explorer.ui.app import run_app
    except ImportError as e:
        from explorer.errors import UserError
        raise UserError(f'the GUI cannot start: {e}') from None
    return run_app(checkpoint=args.checkpoint, device=args.device)
