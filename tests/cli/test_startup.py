"""Starting the GUI: no display -> one line and exit 2 (not Qt's abort); a checkpoint that
cannot be opened -> the error is shown and the window falls back to the default model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

MAIN = Path(__file__).resolve().parents[2] / 'main.py'


def _no_display_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ('DISPLAY', 'WAYLAND_DISPLAY', 'QT_QPA_PLATFORM')}
    env['STYLEGAN_EXPLORER_CACHE'] = str(tmp_path / 'cache')
    env['STYLEGAN_EXPLORER_CONFIG'] = str(tmp_path / 'config')
    return env


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='X11/Wayland displays are a Linux matter')
@pytest.mark.parametrize('argv', [[], ['gui'], ['gui', '--checkpoint', 'x.pt']])
def test_no_display_says_what_to_do_and_exits_2(tmp_path, argv):
    proc = subprocess.run([sys.executable, str(MAIN), *argv], env=_no_display_env(tmp_path), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert 'no display' in lines[0] and 'xvfb-run python main.py' in lines[0]
    assert 'QT_QPA_PLATFORM=offscreen' in lines[0]
    assert 'libxcb' not in proc.stderr and 'Traceback' not in proc.stderr


def test_display_problem_rules():
    from explorer.commands.gui import display_problem
    assert display_problem({}, 'linux')
    assert display_problem({'DISPLAY': ''}, 'linux')
    assert display_problem({'DISPLAY': ':0'}, 'linux') is None
    assert display_problem({'WAYLAND_DISPLAY': 'wayland-0'}, 'linux') is None
    assert display_problem({'QT_QPA_PLATFORM': 'offscreen'}, 'linux') is None
    assert display_problem({}, 'darwin') is None and display_problem({}, 'win32') is None


def test_a_checkpoint_that_cannot_be_opened_falls_back_to_the_default(qtbot, tmp_path):
    pytest.importorskip('pytestqt')
    from explorer.engine.checkpoint import default_checkpoint_path
    from explorer.ui.app import make_app
    make_app()
    from explorer.ui.main_window import MainWindow
    missing = str(tmp_path / 'nope.pt')
    errors = []
    w = MainWindow(checkpoint=missing, device='cpu', load_default=False)
    w.errorShown.connect(errors.append)
    qtbot.addWidget(w)
    try:
        with qtbot.waitSignal(w.modelLoaded, timeout=60000) as blocker:
            pass
        assert blocker.args[0].path == str(default_checkpoint_path())
        assert errors and missing in errors[0] and 'default model' in errors[0]
        box = w.last_error_box
        assert box is not None and 'nope.pt' in box.text() and 'default model' in box.text()
        qtbot.waitUntil(lambda: w.frame is not None, timeout=30000)
    finally:
        w.shutdown()
