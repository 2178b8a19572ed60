"""Preferences that persist across sessions (QSettings): favourites with their thumbnails, the
bf16 view toggle, the window geometry, recent checkpoints. Every test writes its settings to
its own temporary folder (conftest sets STYLEGAN_EXPLORER_CONFIG and QSettings' user path),
never to the user's configuration."""

import dataclasses
import os

import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

from ui_helpers import FakeEngine, fake_info  # noqa: E402


class Bf16Engine(FakeEngine):
    """A fake engine whose model offers the bf16 view path."""

    def load(self, path, progress=None, sha256=None):
        return dataclasses.replace(super().load(path, progress), fast_dtypes=('fp32', 'bf16'))


def open_window(qtbot, engine):
    from explorer.ui.main_window import MainWindow
    w = MainWindow(engine=engine)
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: w.frame is not None, timeout=15000)
    return w


def test_settings_live_in_the_test_folder():
    from explorer.ui.settings import open_settings
    s = open_settings()
    assert s.fileName().startswith(os.environ['STYLEGAN_EXPLORER_CONFIG'])


def test_favourites_bf16_and_geometry_persist(qtbot):
    w = open_window(qtbot, Bf16Engine())
    try:
        assert w.act_bf16.isEnabled() and not w.act_bf16.isChecked()
        w.act_bf16.setChecked(True)
        w.latent_panel.seed.setValue(21)
        qtbot.waitUntil(lambda: w._shown_id == w.last_request.request_id, timeout=15000)
        w.exporter.star_current()
        qtbot.waitUntil(lambda: w.favourites_panel.list.count() == 1, timeout=15000)
        starred = w.favourites_panel.recipes[0]
        w.resize(701, 503)          # within the offscreen screen (restoreGeometry keeps windows on it)
    finally:
        w.close()                       # closeEvent: shutdown + save the geometry
    assert not w.worker.isRunning()

    w2 = open_window(qtbot, Bf16Engine())
    try:
        assert w2.act_bf16.isChecked() and w2.last_request.option('dtype') == 'bf16'
        assert w2.favourites_panel.recipes == [starred]
        assert not w2.favourites_panel.list.item(0).icon().isNull()
        assert (w2.width(), w2.height()) == (701, 503)
        # Removing a favourite persists too.
        w2.favourites_panel.list.item(0).setSelected(True)
        w2.favourites_panel.remove_btn.click()
        assert w2.favourites_panel.list.count() == 0
    finally:
        w2.close()

    # A model without bf16: the toggle is off and disabled, but the preference is kept ...
    w3 = open_window(qtbot, FakeEngine())
    try:
        assert not w3.act_bf16.isEnabled() and not w3.act_bf16.isChecked()
        assert w3.last_request.option('dtype') is None
        assert w3.favourites_panel.list.count() == 0
    finally:
        w3.close()
    # ... for the next model that has it.
    w4 = open_window(qtbot, Bf16Engine())
    try:
        assert w4.act_bf16.isChecked() and w4.last_request.option('dtype') == 'bf16'
        w4.act_bf16.setChecked(False)
    finally:
        w4.close()
    w5 = open_window(qtbot, Bf16Engine())
    try:
        assert not w5.act_bf16.isChecked() and w5.last_request.option('dtype') is None
    finally:
        w5.close()


def test_corrupt_favourites_setting_is_ignored(qtbot):
    from explorer.ui.settings import open_settings
    s = open_settings()
    s.setValue('favourites', '{not json')
    s.sync()
    w = open_window(qtbot, FakeEngine())
    try:
        assert w.favourites_panel.list.count() == 0
    finally:
        w.close()


def test_recent_checkpoints_persist_and_open_dialog_starts_there(qtbot, tmp_path, monkeypatch):
    from PyQt6.QtWidgets import QFileDialog

    class Eng(FakeEngine):
        def load(self, path, progress=None, sha256=None):
            return dataclasses.replace(fake_info('model.pt'), path=str(tmp_path / 'models' / 'model.pt'))
    w = open_window(qtbot, Eng())
    w.close()
    w2 = open_window(qtbot, FakeEngine())
    try:
        recent = [a.text() for a in w2.opener.recent_menu.actions()][:2]
        assert recent == ['/tmp/fake.pt', str(tmp_path / 'models' / 'model.pt')]
        seen = {}

        def fake_dialog(parent, title, directory, *a):
            seen['dir'] = directory
            return '', ''
        monkeypatch.setattr(QFileDialog, 'getOpenFileName', fake_dialog)
        w2.opener.open_checkpoint_dialog()
        assert seen['dir'] == '/tmp'        # the folder of the last checkpoint opened
    finally:
        w2.close()
