"""QApplication setup and the GUI entry point used by ``python main.py [gui]``."""

from __future__ import annotations

import sys


def make_app(argv=None):
    import pyqtgraph as pg
    from PyQt6.QtWidgets import QApplication
    pg.setConfigOptions(imageAxisOrder='row-major', antialias=False)
    from explorer.ui.settings import APPLICATION, ORGANIZATION
    app = QApplication.instance() or QApplication(list(argv or sys.argv[:1]))
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    return app


def run_app(checkpoint=None, device=None) -> int:
    """Open the explorer window; returns the Qt exit code."""
    from explorer.logs import setup_logging
    setup_logging()
    app = make_app()
    from explorer.ui.main_window import MainWindow
    win = MainWindow(checkpoint=checkpoint, device=device, cpu_threads='auto')
    win.show()
    return app.exec()
