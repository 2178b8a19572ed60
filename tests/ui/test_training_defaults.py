"""The Training tab's defaults agree with each other: the run length follows the network
preset (tiny finishes in minutes) until the user picks one, "Explore this snapshot" is only
enabled when there is a snapshot, and long paths stay readable (elided in the middle, the
full path in the tooltip)."""

from __future__ import annotations

import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

TINY = 'tiny (CPU, minutes)'


@pytest.fixture
def panel(qtbot):
    from explorer.ui.app import make_app
    make_app()
    from explorer.ui.training_panel import TrainingPanel
    p = TrainingPanel()
    qtbot.addWidget(p)
    return p


def test_run_length_follows_the_preset_until_edited(panel):
    from explorer.training.jobs import DEFAULT_KIMG, NETWORK_PRESETS
    assert set(DEFAULT_KIMG) == set(NETWORK_PRESETS)
    assert panel.network.currentText() == TINY
    # "minutes" on a CPU: at ~10 img/s, 10 kimg would already take 17 minutes.
    assert panel.kimg.value() == DEFAULT_KIMG[TINY] <= 10
    assert panel.job().kimg == DEFAULT_KIMG[TINY]
    for name in NETWORK_PRESETS:
        panel.network.setCurrentText(name)
        assert panel.kimg.value() == DEFAULT_KIMG[name]
    assert DEFAULT_KIMG['small'] > DEFAULT_KIMG[TINY]
    panel.kimg.setValue(7.0)                    # the user's choice stays
    panel.network.setCurrentText(TINY)
    panel.network.setCurrentText('small')
    assert panel.kimg.value() == 7.0 and panel.job().kimg == 7.0


def test_explore_snapshot_only_when_one_exists(panel, tmp_path):
    assert not panel.explore_btn.isEnabled() and 'No snapshot yet' in panel.explore_btn.toolTip()
    run = tmp_path / 'run'
    run.mkdir()
    panel.outdir_edit.setText(str(run))
    assert not panel.explore_btn.isEnabled()
    (run / 'network-snapshot-000004.pt').write_bytes(b'x')
    panel.outdir_edit.setText(str(run) + '/')
    assert panel.explore_btn.isEnabled()
    panel.outdir_edit.setText(str(tmp_path / 'other'))
    assert not panel.explore_btn.isEnabled()
    panel.on_snapshot(str(run / 'network-snapshot-000004.pt'))
    assert panel.explore_btn.isEnabled()


def test_long_run_folder_is_elided_in_the_middle(qtbot, panel):
    long = '/home/someone/.cache/stylegan-explorer/runs/a-rather-long-folder-name/run-20250101-120000'
    edit = panel.outdir_edit
    edit.setText(long)
    edit.setFixedWidth(200)
    panel.show()
    qtbot.waitExposed(panel)
    panel.setFocus()
    shown = edit.display_text()
    assert '…' in shown and shown != long
    head, tail = shown.split('…')
    assert long.startswith(head) and long.endswith(tail) and tail.endswith('120000') and head.startswith('/home')
    assert edit.text() == long and edit.toolTip() == long
    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus, timeout=2000)
    assert edit.display_text() == long          # editing shows (and edits) the whole path
    edit.grab()                                 # both paint paths run without errors
