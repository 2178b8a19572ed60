"""Where the explorer keeps its files: cache, configuration, state and logs (no Qt, no torch).

The platform's usual per-user folders (``platformdirs``; on Linux ``~/.cache``,
``~/.config`` and ``~/.local/state`` under ``stylegan-explorer``), each with an
environment override that the tests use to keep everything in temporary folders:

- ``STYLEGAN_EXPLORER_CACHE``: downloads, the random placeholder model, default run folders;
- ``STYLEGAN_EXPLORER_CONFIG``: GUI settings (``gui.ini``);
- ``STYLEGAN_EXPLORER_STATE``: the log file (``<state>/log/explorer.log``).

``shipped_checkpoint`` finds the files shipped with the project (the default model, its
model card and named directions) in a source checkout or a regular ``pip install``.
"""

from __future__ import annotations

import importlib.metadata
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


# ----------------------------------------------------------------------------- shipped files
PROJECT_ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT_DIR = PROJECT_ROOT / 'checkpoints'          # a source checkout (or an editable install)
DEFAULT_CHECKPOINT_NAME = 'portraits64.pt'
DISTRIBUTION = 'stylegan-explorer'
# `pip install .` copies checkpoints/ here, under the install prefix (pyproject: tool.setuptools.data-files)
INSTALLED_CHECKPOINT_DIR = 'share/stylegan-explorer/checkpoints'


def shipped_checkpoint(name: str = DEFAULT_CHECKPOINT_NAME) -> Path | None:
    """A checkpoint shipped with the project: ``checkpoints/<name>`` of the source checkout, else
    the copy a regular ``pip install`` put under its prefix (found through the installed
    distribution's file list, so venv, --user and system installs all work); None if neither."""
    local = CHECKPOINT_DIR / name
    if local.is_file():
        return local
    try:
        files = importlib.metadata.distribution(DISTRIBUTION).files or ()
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name == name and f.as_posix().endswith(f'{INSTALLED_CHECKPOINT_DIR}/{name}'):
            path = Path(f.locate()).resolve()
            if path.is_file():
                return path
    return None
