"""The Help menu: the keyboard shortcuts the window really has, About (versions, device)
and the shipped model card."""

from __future__ import annotations

from importlib import metadata

import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

from PyQt6.QtGui import QAction, QKeySequence, QShortcut  # noqa: E402


@pytest.fixture
def win(fake_win):
    return fake_win


def help_action(win, words):
    menus = {a.text().replace('&', ''): a.menu() for a in win.menuBar().actions()}
    assert 'Help' in menus
    for a in menus['Help'].actions():
        if words in a.text():
            return a
    raise AssertionError(f'no Help action with {words!r}')


def native(seq) -> str:
    return seq.toString(QKeySequence.SequenceFormat.NativeText)


def test_shortcuts_dialog_lists_the_real_shortcuts(qtbot, win):
    help_action(win, 'Keyboard shortcuts').trigger()
    dlg = win.help_dialog
    assert dlg is not None and dlg.isVisible()
    table = dlg.table
    rows = [(table.item(i, 0).text(), table.item(i, 1).text()) for i in range(table.rowCount())]
    listed = ' | '.join(k for k, _ in rows)
    expected = [native(s) for a in win.findChildren(QAction) for s in a.shortcuts() if not s.isEmpty()]
    expected += [native(sc.key()) for sc in win.findChildren(QShortcut) if sc.parent() is win]
    assert len(expected) >= 10
    for key in expected:
        assert key in listed, key
    assert any('Undo' in what for _, what in rows) and any('Open checkpoint' in what for _, what in rows)
    assert any(k == 'R' and 'Random seed' in what for k, what in rows)
    assert any('←' in k and 'Previous seed' in what for k, what in rows)
    dlg.close()


def test_about_names_version_torch_and_device(qtbot, win):
    import explorer
    help_action(win, 'About').trigger()
    text = win.help_dialog.text()
    assert explorer.__version__ in text and f'torch {metadata.version("torch")}' in text
    assert win.info.device in text
    win.help_dialog.close()


def test_model_card_opens_the_shipped_readme(qtbot, win):
    from explorer.ui.help import MODEL_CARD
    assert MODEL_CARD.is_file()
    help_action(win, 'Model card').trigger()
    first = next(line for line in MODEL_CARD.read_text().splitlines() if line.strip())
    first = first.lstrip('# ').replace('`', '').strip()
    assert first in win.help_dialog.browser.toPlainText()
    win.help_dialog.close()
