"""Where the explorer keeps its files: cache, configuration, state and logs (no Qt, no torch).

The platform's usual per-user folders (``platformdirs``; on Linux ``~/.cache``,
``~/.config`` and ``~/.local/state`` under ``stylegan-explorer``), each with an
environment override that the tests use to keep everything in temporary folders:

- ``STYLEGAN_EXPLORER_CACHE``: downloads, the random placeholder model, default run folders;
- ``STYLEGAN_EXPLORER_CONFIG``: GUI settings (``gui.ini``);
- ``STYLEGAN_EXPLORER_STATE``: the log file (``<state>/log/explorer.log``).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = 'stylegan-explorer'
CACHE_ENV = 'STYLEGAN_EXPLORER_CACHE'
CONFIG_ENV = 'STYLEGAN_EXPLORER_CONFIG'
STATE_ENV = 'STYLEGAN_EXPLORER_STATE'


def _made(path) -> Path:
    d = Path(path)
    d.mkdir(parents=True, exist_ok=True)
    return d


def cache_dir() -> Path:
    return _made(os.environ.get(CACHE_ENV) or platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def config_override() -> Path | None:
    """The settings folder ``STYLEGAN_EXPLORER_CONFIG`` names (created), or None: then the GUI
    keeps its settings where QSettings puts them (the same user config folder on Linux)."""
    folder = os.environ.get(CONFIG_ENV)
    return _made(folder) if folder else None


def state_dir() -> Path:
    return _made(os.environ.get(STATE_ENV) or platformdirs.user_state_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
    base = os.environ.get(STATE_ENV)
    return _made(Path(base) / 'log' if base else platformdirs.user_log_dir(APP_NAME, appauthor=False))
