"""The Help menu: keyboard shortcuts (read from the window's own actions and shortcuts, so
the list is always the real one), About (versions, device) and the shipped model card."""

from __future__ import annotations

import platform
from importlib import metadata

from PyQt6.QtCore import PYQT_VERSION_STR, QT_VERSION_STR, Qt
from PyQt6.QtGui import QAction, QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
)

from explorer.paths import CHECKPOINT_DIR, shipped_checkpoint
from explorer.version import __version__

MODEL_CARD = shipped_checkpoint('README.md') or CHECKPOINT_DIR / 'README.md'   # the default model's card
ARROW_SYMBOLS = {'Left': '←', 'Right': '→', 'Up': '↑', 'Down': '↓'}


def _keys(seqs) -> str:
    return ', '.join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in seqs if not s.isEmpty())


def _menu_actions(menu, path=()):
    for a in menu.actions():
        if a.menu() is not None:
            yield from _menu_actions(a.menu(), path + (a.text().replace('&', ''),))
        elif not a.isSeparator():
            yield path, a


def shortcut_rows(window) -> list[tuple[str, str]]:
    """(keys, what they do) for every shortcut the window has: menu actions and window shortcuts
    (a QShortcut says what it does in its whatsThis)."""
    rows = []
    for menu_action in window.menuBar().actions():
        if menu_action.menu() is None:
            continue
        for path, a in _menu_actions(menu_action.menu(), (menu_action.text().replace('&', ''),)):
            keys = _keys(a.shortcuts())
            if keys:
                rows.append((keys, f'{" › ".join(path)} › {a.text().replace("&", "")}'))
    for sc in window.findChildren(QShortcut):
        if sc.parent() is not window or not sc.isEnabled():
            continue
        key = _keys([sc.key()])
        if key:
            shown = f'{ARROW_SYMBOLS[key]} {key}' if key in ARROW_SYMBOLS else key
            rows.append((shown, sc.whatsThis() or 'Shortcut'))
    return rows


def about_text(window) -> str:
    def version(pkg):
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return 'not installed'
    info = getattr(window, 'info', None)
    device = info.device if info is not None else 'no model loaded'
    model = info.name if info is not None else 'none'
    return (f'StyleGAN Explorer {__version__}\n\n'
            f'Device: {device}\nModel: {model}\n\n'
            f'torch {version("torch")}  ·  PyQt6 {PYQT_VERSION_STR} (Qt {QT_VERSION_STR})  ·  '
            f'Python {platform.python_version()}')


class ShortcutsDialog(QDialog):
    def __init__(self, window):
        super().__init__(window)
        self.setWindowTitle('Keyboard shortcuts')
        lay = QVBoxLayout(self)
        rows = shortcut_rows(window)
        self.table = QTableWidget(len(rows), 2)
        self.table.setHorizontalHeaderLabels(['Keys', 'Action'])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for i, (keys, what) in enumerate(rows):
            self.table.setItem(i, 0, QTableWidgetItem(keys))
            self.table.setItem(i, 1, QTableWidgetItem(what))
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        lay.addWidget(self.table)
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        bb.rejected.connect(self.reject)
        lay.addWidget(bb)
        self.resize(560, 480)


class ModelCardDialog(QDialog):
    def __init__(self, window, text: str):
        super().__init__(window)
        self.setWindowTitle(f'Model card: {MODEL_CARD}')
        lay = QVBoxLayout(self)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setSearchPaths([str(MODEL_CARD.parent)])
        self.browser.setMarkdown(text)
        lay.addWidget(self.browser)
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        bb.rejected.connect(self.reject)
        lay.addWidget(bb)
        self.resize(760, 600)


def add_help_menu(window):
    """Add the Help menu to ``window`` (a MainWindow); returns the menu. Dialogs open
    non-blocking (``open``), the newest in ``window.help_dialog``."""
    menu = window.menuBar().addMenu('&Help')

    def show(dlg):
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.help_dialog = dlg
        dlg.open()

    def shortcuts():
        show(ShortcutsDialog(window))

    def model_card():
        try:
            text = MODEL_CARD.read_text(encoding='utf-8')
        except OSError as e:
            window.show_error('Model card', f'Cannot read {MODEL_CARD}: {e.strerror or e}')
            return
        show(ModelCardDialog(window, text))

    def about():
        show(QMessageBox(QMessageBox.Icon.Information, 'About StyleGAN Explorer', about_text(window),
                         QMessageBox.StandardButton.Ok, window))

    for text, slot, key in (('Keyboard shortcuts', shortcuts, QKeySequence('F1')),
                            ('Model card (checkpoints/README.md)', model_card, None),
                            ('About StyleGAN Explorer', about, None)):
        a = QAction(text, window)
        if key is not None:
            a.setShortcut(key)
        a.triggered.connect(lambda _=False, slot=slot: slot())
        menu.addAction(a)
    window.help_dialog = None
    return menu
