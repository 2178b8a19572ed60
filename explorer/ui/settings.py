"""Persistent GUI preferences (QSettings): favourites, the bf16 view toggle, window geometry,
recent checkpoints and the last folders used.

The organisation and application names are defined here once; ``make_app`` gives them to
the QApplication and ``open_settings`` uses them, so the file is the platform's usual user
settings location (on Linux ``~/.config/stylegan-explorer/StyleGAN Explorer.ini``). Setting
``STYLEGAN_EXPLORER_CONFIG`` to a folder keeps the settings in ``<folder>/gui.ini`` instead
(the tests point it at a temporary folder, so they never touch the user's configuration).
"""

from __future__ import annotations

from PyQt6.QtCore import QSettings

from explorer.paths import cache_dir, config_override

ORGANIZATION = 'stylegan-explorer'
APPLICATION = 'StyleGAN Explorer'


def open_settings() -> QSettings:
    """The GUI's settings store (INI format everywhere, so it is readable and portable)."""
    folder = config_override()
    if folder is not None:
        s = QSettings(str(folder / 'gui.ini'), QSettings.Format.IniFormat)
    else:
        s = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)
    _migrate(s)
    return s


def _migrate(s: QSettings) -> None:
    """Earlier versions kept the recent-checkpoint list in the cache folder's gui.ini."""
    if s.contains('recent'):
        return
    old = cache_dir() / 'gui.ini'
    if old.is_file() and str(old) != s.fileName():
        recent = QSettings(str(old), QSettings.Format.IniFormat).value('recent')
        if recent:
            s.setValue('recent', recent)


def value_bool(s: QSettings, key: str, default: bool = False) -> bool:
    v = s.value(key, default)
    if isinstance(v, str):
        return v.strip().lower() in ('1', 'true', 'yes', 'on')
    return bool(v)
