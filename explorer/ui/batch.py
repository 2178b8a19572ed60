"""Batch export: images of many seeds with the current settings, in the render worker (the format,
metadata and watermark of File > Export preferences).

``BatchDialog`` asks for the seeds (N from the current one, or a range), or every stored latent
in the Latents list (each as the base, one image per latent), and the folder; ``BatchExport``
runs the export with the status bar's progress bar and Cancel button. With seeds, each seed
replaces the base (a stored-latent base too: the dialog says so); mix sources and edits stay.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
)

from explorer.engine.png import UPSCALES
from explorer.engine.seeds import MAX_SEED, parse_seeds
from explorer.engine.stored_latents import first_seed, fits_model, is_ref
from explorer.errors import ExplorerError


class BatchExport:
    """File > Batch export: the dialog, the worker job, its progress and its end."""

    def __init__(self, window):
        self.win = window       # its recipe, worker, exporter, progress bar, Cancel button and status line
        window.cancel_btn.clicked.connect(self.cancel)
        window.worker.batchFinished.connect(self._on_finished)

    def export(self, seeds, outdir, upscale=1, recipe=None) -> None:
        """``seeds`` (or stored-latent refs that ``recipe``, default the current one, holds) with
        the current settings."""
        win = self.win
        recipe = win.exporter.for_export(win.recipe if recipe is None else recipe)
        win.progress_bar.setRange(0, max(1, len(seeds)))
        win.progress_bar.setValue(0)
        win.progress_bar.setVisible(True)
        win.cancel_btn.setVisible(True)
        options = win.exporter.export_options().replace(upscale=1)   # format, metadata, watermark; upscale below
        win.worker.batch_export(seeds, outdir, recipe, upscale=upscale, options=options)

    def stored_latents(self) -> list:
        """The Latents list's latents that fit the loaded model."""
        info = self.win.info
        if info is None:
            return []
        return [lat for lat in self.win.latents_panel.latents if not fits_model(lat, info.w_dim, info.num_ws)]

    def export_latents(self, outdir, upscale=1) -> int:
        """One image per stored latent in the Latents list (that fits the model), each as the base
        of the current recipe (mix sources and edits kept) -> how many."""
        lats = self.stored_latents()
        if not lats:
            return 0
        recipe = self.win.recipe
        for lat in lats:
            recipe = recipe.with_latent(lat)
        self.export([lat.ref for lat in lats], outdir, upscale, recipe=recipe)
        return len(lats)

    def cancel(self) -> None:
        self.win.worker.cancel_batch()

    def dialog(self) -> None:
        win = self.win
        if win.info is None:
            return
        dlg = BatchDialog(win, first_seed(win.recipe.seeds, win.latent_panel.seed.value()), win.exporter.upscale,
                          n_latents=len(self.stored_latents()), base_is_latent=any(map(is_ref, win.recipe.seeds)))
        if dlg.exec() == QDialog.DialogCode.Accepted:     # the dialog checked its input (BatchDialog.accept)
            if dlg.use_latents.isChecked():
                self.export_latents(dlg.outdir.text().strip(), dlg.size.currentData())
            else:
                self.export(dlg.seeds(), dlg.outdir.text().strip(), dlg.size.currentData())

    def _on_finished(self, paths, error) -> None:
        win = self.win
        win.progress_bar.setVisible(False)
        win.cancel_btn.setVisible(False)
        if error == 'cancelled':
            win._status('Batch export cancelled')
        elif error:
            win.show_error('Batch export failed', error)
        else:
            win._status(f'Batch export: wrote {len(paths)} images' + (f' to {Path(paths[0]).parent}' if paths else ''))


class BatchDialog(QDialog):
    """N seeds from the current one, an explicit seed range, or every stored latent in the
    Latents list (``n_latents`` of them); output folder. ``base_is_latent``: the current base is
    a stored latent, which each seed replaces (said in the dialog)."""

    def __init__(self, parent, seed, upscale=1, n_latents=0, base_is_latent=False):
        super().__init__(parent)
        self.setWindowTitle('Batch export')
        lay = QFormLayout(self)
        self.use_count = QRadioButton('Number of seeds from the current seed')
        self.use_count.setChecked(True)
        self.count = QSpinBox()
        self.count.setRange(1, min(100000, MAX_SEED - seed + 1))     # no seed past 2^32 - 1
        self.count.setValue(16)
        self.use_range = QRadioButton('Seed range')
        self.range = QLineEdit(f'{seed}-{min(seed + 15, MAX_SEED)}')
        self.start = seed
        lay.addRow(self.use_count, self.count)
        lay.addRow(self.use_range, self.range)
        self.use_latents = QRadioButton(f'Every stored latent in the Saved tab ({n_latents}), each as the base')
        self.use_latents.setEnabled(n_latents > 0)
        self.use_latents.setToolTip('One image per stored latent (file latent_<name>_<key>): the current settings, '
                                    'mix sources and edits, with that latent as the base')
        lay.addRow(self.use_latents)
        self.base_note = QLabel('The base is a stored latent: with seeds, each seed replaces the base latent; '
                                'mix sources and edits are kept.')
        self.base_note.setWordWrap(True)
        self.base_note.setVisible(bool(base_is_latent))
        lay.addRow(self.base_note)
        row = QHBoxLayout()
        self.outdir = QLineEdit(str(Path.cwd() / 'out'))
        browse = QPushButton('Browse…')
        browse.clicked.connect(self._browse)
        row.addWidget(self.outdir, 1)
        row.addWidget(browse)
        lay.addRow('Output folder', row)
        self.size = QComboBox()
        for f in UPSCALES:
            self.size.addItem('Native resolution' if f == 1 else f'×{f} (Lanczos)', f)
        self.size.setCurrentIndex(max(0, self.size.findData(int(upscale))))
        lay.addRow('Size', self.size)
        lay.addRow(QLabel('Each image uses the current settings and the export preferences (format, metadata).'))
        self.error = QLabel('')
        self.error.setStyleSheet('color: #d33;')
        self.error.setWordWrap(True)
        self.error.setVisible(False)
        lay.addRow(self.error)
        self.range.textEdited.connect(lambda _: self.use_range.setChecked(True))
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        bb.accepted.connect(self.accept)
        bb.rejected.connect(self.reject)
        lay.addRow(bb)

    def _browse(self):
        d = QFileDialog.getExistingDirectory(self, 'Output folder', self.outdir.text())
        if d:
            self.outdir.setText(d)

    def accept(self):
        """OK: check the input here; a mistake is shown in the dialog, which stays open with it."""
        try:
            seeds = [0] if self.use_latents.isChecked() else self.seeds()
            if not seeds:
                raise ExplorerError('the seed range is empty')
            if not self.outdir.text().strip():
                raise ExplorerError('choose an output folder')
        except ExplorerError as e:
            self.error.setText(str(e))
            self.error.setVisible(True)
            (self.range if self.use_range.isChecked() else self.outdir).setFocus()
            return
        self.error.setVisible(False)
        super().accept()

    def seeds(self):
        if self.use_range.isChecked():
            return parse_seeds(self.range.text())
        return list(range(self.start, self.start + self.count.value()))
