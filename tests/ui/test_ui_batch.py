"""Batch export dialog: seed choices."""

import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')


def test_batch_dialog_seed_choices(qtbot, win):
    from explorer.errors import UserError
    from explorer.ui.batch import BatchDialog
    d = BatchDialog(win, 7)
    qtbot.addWidget(d)
    d.count.setValue(3)
    assert d.seeds() == [7, 8, 9]
    d.use_range.setChecked(True)
    d.range.setText('2-4,10')
    assert d.seeds() == [2, 3, 4, 10]
    d.range.setText('4-2')
    with pytest.raises(UserError):
        d.seeds()
