"""The window's status bar: the status line, a progress bar with Cancel, the pixel under the
pointer, the zoom box and the model line."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QLabel, QProgressBar, QPushButton

from explorer.ui.zoom_view import zoom_combo


def build_status_bar(win) -> None:
    """Sets ``win.status_label``, ``progress_bar``, ``cancel_btn``, ``credentials_label``, ``pixel_label``,
    ``zoom_box`` and ``info_label`` (``win.view`` must exist)."""
    sb = win.statusBar()
    win.status_label = QLabel('Starting…')
    win.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    sb.addWidget(win.status_label, 1)
    win.progress_bar = QProgressBar()
    win.progress_bar.setMaximumWidth(240)
    win.progress_bar.setVisible(False)
    win.cancel_btn = QPushButton('Cancel')
    win.cancel_btn.setVisible(False)
    sb.addPermanentWidget(win.progress_bar)
    sb.addPermanentWidget(win.cancel_btn)
    win.credentials_label = QLabel('')    # C2PA content credentials of the image last opened (ui/opener.py)
    win.credentials_label.setVisible(False)
    sb.addPermanentWidget(win.credentials_label)
    win.pixel_label = QLabel('')          # the pixel under the pointer (issue #20)
    win.pixel_label.setToolTip('The full-resolution pixel under the pointer and its value')
    sb.addPermanentWidget(win.pixel_label)
    win.view.hovered.connect(lambda x, y: win.pixel_label.setText(win.view.readout_text(x, y)))
    win.zoom_box = zoom_combo(win.view)
    win.zoom_box.setToolTip('Zoom of the image (or the mouse wheel over it; drag with the middle '
                            'button, or the left one outside Drag mode, to pan; double-click fits). '
                            'Whole zooms show each pixel as a sharp square.')
    sb.addPermanentWidget(win.zoom_box)
    win.info_label = QLabel('')
    sb.addPermanentWidget(win.info_label)
