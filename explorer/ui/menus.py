"""The window's menu bar and window-wide keyboard shortcuts (Help > Keyboard shortcuts lists them)."""

from __future__ import annotations

from PyQt6.QtGui import QAction, QKeySequence, QShortcut

from explorer.ui.help import add_help_menu


def build_menus(win) -> None:
    """File, Edit, Seed, View and Help on ``win`` (a MainWindow: its controllers must exist);
    sets ``win.act_open``, ``act_undo``, ``act_redo``, ``act_bf16`` and ``help_menu``."""
    mb = win.menuBar()
    f = mb.addMenu('&File')
    f.setToolTipsVisible(True)          # e.g. what Reference synthesis for exports covers
    win.act_open = _action(win, f, 'Open checkpoint…', win.opener.open_checkpoint_dialog, QKeySequence('Ctrl+O'))
    _action(win, f, 'Open checkpoint URL…', win.opener.open_url_dialog)
    win.opener.build_recent_menu(f.addMenu('Recent checkpoints'))
    _action(win, f, 'Checkpoint info', win.opener.show_checkpoint_info)
    f.addSeparator()
    _action(win, f, 'Open recipe (image)…', win.opener.open_recipe_dialog, QKeySequence('Ctrl+Shift+O'))
    _action(win, f, 'Save image…', win.exporter.save_png_dialog, QKeySequence('Ctrl+S'))
    _action(win, f, 'Save grid image…', win.grid.save_dialog)
    _action(win, f, 'Save grid image with labels…', lambda: win.grid.save_dialog(labels=True))
    _action(win, f, 'Copy image to clipboard', win.exporter.copy_to_clipboard, QKeySequence('Ctrl+C'))
    _action(win, f, 'Batch export…', win.batch.dialog, QKeySequence('Ctrl+B'))
    _action(win, f, 'Import latent…', win.latents.import_dialog, QKeySequence('Ctrl+I'))
    _action(win, f, 'Export latent…', win.latents.export_dialog)
    _action(win, f, 'Project a photo…', win.projection.open_dialog, QKeySequence('Ctrl+P'))
    win.exporter.build_size_menu(f.addMenu('Export size'))
    win.exporter.build_reference_action(f)
    _action(win, f, 'Export preferences…', win.exporter.preferences_dialog)
    f.addSeparator()
    _action(win, f, 'Quit', win.close, QKeySequence('Ctrl+Q'))
    e = mb.addMenu('&Edit')
    win.act_undo = _action(win, e, 'Undo', win.undo, QKeySequence('Ctrl+Z'))
    win.act_redo = _action(win, e, 'Redo', win.redo, QKeySequence('Ctrl+Shift+Z'))
    win.act_redo.setShortcuts([QKeySequence('Ctrl+Shift+Z'), QKeySequence('Ctrl+Y')])
    _action(win, e, '★ Star current state', win.exporter.star_current, QKeySequence('Ctrl+D'))
    win.act_keep_latent = _action(win, e, 'Keep this latent', win.latents.keep_current, QKeySequence('Ctrl+K'))
    v = mb.addMenu('&Seed')
    _action(win, v, 'Previous seed (←)', lambda: win.latent_panel.step_seed(-1))
    _action(win, v, 'Next seed (→)', lambda: win.latent_panel.step_seed(+1))
    _action(win, v, 'Random seed (R)', win.latent_panel.random_seed)
    view = mb.addMenu('&View')
    view.setToolTipsVisible(True)
    win.act_bf16 = QAction('Use bf16 (faster, approximate)', win)
    win.act_bf16.setCheckable(True)
    win.act_bf16.setEnabled(False)
    win.act_bf16.setToolTip('Render the view in bfloat16 (about 44 dB from the exact image); '
                            'saved PNGs always use the exact path')
    win.act_bf16.toggled.connect(win.set_bf16)
    view.addAction(win.act_bf16)
    win.help_menu = add_help_menu(win)


def _action(win, menu, text, slot, shortcut=None):
    a = QAction(text, win)
    if shortcut is not None:
        a.setShortcut(shortcut)
    a.triggered.connect(lambda _=False: slot())
    menu.addAction(a)
    return a


def build_shortcuts(win) -> None:
    """Window shortcuts (``win.shortcuts``), so they work after a click on a button too; a
    focused text field or spin box keeps all of these keys, a focused slider, combo box or
    list its arrows (see explorer.ui.keys and MainWindow.event). The seed keys act on the
    Explore tab only."""
    step = win.latent_panel.step_seed
    keys = {'Left': lambda: step(-1), 'Down': lambda: step(-1), 'Right': lambda: step(+1), 'Up': lambda: step(+1),
            'R': win.latent_panel.random_seed, 'S': win.exporter.save_png_dialog, 'Escape': win.view.setFocus}
    words = {'Left': 'Previous seed', 'Down': 'Previous seed', 'Right': 'Next seed', 'Up': 'Next seed',
             'R': 'Random seed', 'S': 'Save image…', 'Escape': 'Give the arrow keys back to the seed'}
    win.shortcuts = {}
    for key, slot in keys.items():
        sc = QShortcut(QKeySequence(key), win)
        sc.activated.connect(slot)
        sc.setWhatsThis(words[key])       # the Help > Keyboard shortcuts text
        win.shortcuts[key] = sc
    seed_keys = [win.shortcuts[k] for k in ('Left', 'Down', 'Right', 'Up', 'R', 'Escape')]
    win.tabs.currentChanged.connect(lambda i: [sc.setEnabled(i == 0) for sc in seed_keys])
