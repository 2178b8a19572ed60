"""Headless command line: ``python main.py <command> ...``.

Each command lives in its own module under ``explorer/commands`` exposing
``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``. Adding a
command means adding a module and listing it in ``COMMANDS`` below.
User mistakes raise ``explorer.errors.ExplorerError`` (or ``OSError``) and become
one line on stderr with exit code 2, never a traceback; any other exception is a bug:
one line "internal error: ... (details in the log: PATH)" and exit code 1, the stack
trace in the log file.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMANDS = [
    'explorer.commands.gui',
    'explorer.commands.render',
    'explorer.commands.mix',
    'explorer.commands.info',
    'explorer.commands.train',
    'explorer.commands.metrics',
    'explorer.commands.bench',
    'explorer.commands.directions',
    'explorer.commands.video',
    'explorer.commands.drag',
    'explorer.commands.project',
    'explorer.commands.doctor',
]


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line + exit code 2 (argparse's own code)."""

    def error(self, message):
        sys.stderr.write(f'{self.prog}: error: {message}\n')
        raise SystemExit(2)


def _load_commands():
    mods = []
    for name in COMMANDS:
        try:
            mods.append(importlib.import_module(name))
        except ModuleNotFoundError as e:
            if e.name == name:  # command not written yet: skip it, keep the rest usable
                continue
            raise
    return mods


def build_parser():
    parser = _Parser(prog='main.py', description='StyleGAN Explorer: latent-space explorer for style-based GANs. '
                                                 'With no command, opens the GUI.')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND', parser_class=_Parser)
    for mod in _load_commands():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv=None) -> int:
    from explorer.errors import ExplorerError
    from explorer.logs import setup_logging
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:
        argv = ['gui']
    args = parser.parse_args(argv)
    log_path = setup_logging()
    log = logging.getLogger('explorer.cli')
    try:
        return int(args._run(args) or 0)
    except ExplorerError as e:
        log.exception('%s failed', args.command)
        sys.stderr.write(f'error: {e}\n')
        return 2
    except OSError as e:
        log.exception('%s failed', args.command)
        where = f' {e.filename}' if getattr(e, 'filename', None) else ''
        sys.stderr.write(f'error:{where}: {e.strerror or e}\n')
        return 2
    except KeyboardInterrupt:
        log.info('%s interrupted', args.command)
        sys.stderr.write('interrupted\n')
        return 130
    except Exception as e:  # a bug, not bad input: one line here, the trace in the log
        log.exception('%s failed with an internal error', args.command)
        where = f'details in the log: {log_path}' if log_path is not None else 'no log file could be written'
        sys.stderr.write(f'internal error: {_one_line(e)} ({where})\n')
        return 1


def _one_line(e: BaseException, limit: int = 300) -> str:
    text = ' '.join(str(e).split())
    text = f'{type(e).__name__}: {text}' if text else type(e).__name__
    return text if len(text) <= limit else text[:limit] + '...'
