"""The Mixing grid tab's controller: which grid to render, its tiles, its cells and its PNG.

The grid panel describes a ``GridSpec`` (rows x columns of seeds or stored latents, the layers
taken from the column face, psi); Explore's noise, cutoff and class go with it. The render worker renders
it one tile at a time (``gridTile``), yielding to the view's renders in between; a newer
grid replaces an older one (tiles carry the grid id, stale ones are dropped). A grid PNG
embeds its spec, so File > Open recipe brings the grid back; the worker composes, upscales,
labels and writes it. The tiles on screen are written when they are the export's pixels; with
File > Reference synthesis for exports on (and a model whose tiles render on the fast path) the
worker renders the grid again with the reference first, with the status bar's progress bar and
Cancel (nothing is written when cancelled). The file records the path ('fast' | 'ref').
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtWidgets import QFileDialog

from explorer.engine.grid_spec import GridSpec, cell_recipe, compose_grid, grid_recipe
from explorer.engine.image_export import EXTENSIONS, format_of
from explorer.errors import ExplorerError
from explorer.ui.export_prefs import file_filter


class GridController:
    """Keeps the grid panel's tiles in step with its spec and Explore's recipe."""

    def __init__(self, window, panel):
        self.win = window           # its recipe, model info, worker, tabs, exporter and status line
        self.panel = panel          # the GridPanel
        self.spec: GridSpec | None = None       # the grid being shown (None: none, or invalid)
        self._cancelled: GridSpec | None = None  # the spec of a grid the user cancelled
        self._id = 0                # the newest grid's id; tiles of older grids are dropped
        window.tabs.currentChanged.connect(lambda _: self.refresh_if_shown())
        panel.specChanged.connect(self.refresh)
        panel.cellClicked.connect(self.open_cell)
        panel.savePressed.connect(self.save_dialog)
        panel.cancelPressed.connect(self.cancel)
        panel.renderPressed.connect(lambda: self.refresh(force=True))
        window.worker.gridTile.connect(self._on_tile)
        window.worker.gridFinished.connect(self._on_finished)
        window.worker.progress.connect(self._on_progress)
        # The window's pngSaved (the exporter re-emits the worker's after its status line), so the
        # bar and Cancel are hidden before anyone else hears of the save (a second queued slot on
        # the worker's signal ran one event later: a test saw 'Saved' with Cancel still shown).
        window.pngSaved.connect(self._on_saved)
        window.cancel_btn.clicked.connect(self.cancel_export)      # the status bar's Cancel
        self._saving = ''           # the grid image being rendered again for an export

    def shown(self) -> bool:
        return self.win.tabs.currentWidget() is self.panel

    def refresh_if_shown(self) -> None:
        """Explore's recipe or the tab changed: render the grid if its tab is showing."""
        if self.shown():
            self.refresh()

    def forget(self) -> None:
        """Another model: the next refresh renders the grid again."""
        self.spec = None

    def refresh(self, force=False) -> None:
        """Render the grid the panel describes, unless it is already shown (or was cancelled
        and ``force`` is False: Render grid or a changed setting renders it)."""
        win = self.win
        if win.info is None:
            return
        try:
            spec = self.panel.spec(win.recipe)
        except ExplorerError as e:
            # No stale tiles next to the error: forget the old grid and stop rendering it.
            self.spec = None
            self._id += 1
            win.worker.cancel_grid()
            self.panel.show_error(str(e))
            return
        if spec == self.spec or (spec == self._cancelled and not force):
            return
        self.spec = spec
        self._cancelled = None
        self._id += 1
        self.panel.clear_tiles()
        self.panel.start_rendering()
        win.worker.render_grid(self._id, spec)

    def cancel(self) -> None:
        """Stop the grid being rendered (the worker stops between tiles); tiles so far stay."""
        if self.spec is None:
            return
        self._cancelled, self.spec = self.spec, None
        self._id += 1          # a tile still in flight is dropped
        self.win.worker.cancel_grid()
        self.panel.show_cancelled()

    def open(self, spec: GridSpec, styles: str = '') -> bool:
        """Show a saved grid (its PNG's recipe) in the Mixing grid tab: rows, columns, layers,
        psi; its noise, cutoff, class and synthesis path become Explore's (one undo step), as
        opening a single image's recipe does."""
        win = self.win
        if win.info is not None and any(i >= win.info.num_ws for i in spec.layers):
            win.show_error('Could not open recipe', f'the grid takes layers {list(spec.layers)} but this model has '
                                                    f'{win.info.num_ws} style layers')
            return False
        for lat in spec.latents:        # its stored latents join the Latents list
            win.latents_panel.add(lat)
        self.panel.set_spec(spec, styles)
        changes = dict(cutoff=spec.cutoff, class_idx=spec.class_idx, noise_mode=spec.noise_mode,
                       noise_strength=spec.noise_strength, synthesis=spec.synthesis)
        if any(getattr(win.recipe, k) != v for k, v in changes.items()):
            win.restore_recipe(win.recipe.replace(**changes))
        win.tabs.setCurrentWidget(self.panel)
        self.refresh(force=True)
        return True

    def _on_tile(self, grid_id, kind, r, c, img) -> None:
        if grid_id == self._id:
            self.panel.set_tile(kind, r, c, img)

    def _on_finished(self, grid_id, error) -> None:
        if grid_id == self._id and error:
            self.panel.show_error(f'Grid failed: {error}')
        elif grid_id == self._id:
            self.panel._stop_progress()

    def open_cell(self, r, c) -> None:
        """A click on a cell: that mix in Explore (one undo step), with the stored latents it uses."""
        spec, win = self.spec, self.win
        if spec is None or win.info is None:
            return
        rec = cell_recipe(spec, win.info.num_ws, spec.rows[r], spec.cols[c])
        rec = rec.replace(noise_seed=win.recipe.noise_seed)
        win.tabs.setCurrentIndex(0)
        win.restore_recipe(rec)

    def image(self):
        """The complete grid as one uint8 image (ExplorerError while there is none)."""
        spec, tiles = self.spec, self.panel.tiles
        if not spec:
            raise ExplorerError('no grid to save: ' + (self.panel.status.text() or 'the grid settings are invalid'))
        if len(tiles) < len(spec.rows) + len(spec.cols) + len(spec.rows) * len(spec.cols):
            raise ExplorerError('the grid is still rendering')
        return compose_grid(spec, tiles, next(iter(tiles.values())).shape)

    def save(self, path, labels=None, upscale=None) -> Path:
        """Write the grid as one image (export preferences; the format from ``path``'s suffix) with
        its spec embedded (File > Open recipe restores it);
        ``labels``: seed numbers around it (default: the panel's Labels box); ``upscale``:
        default File > Export size. The worker writes it; the window's pngSaved follows."""
        self.image()       # raises while there is nothing complete to save
        win = self.win
        labels = self.panel.labels.isChecked() if labels is None else bool(labels)
        upscale = win.exporter.upscale if upscale is None else int(upscale)
        name, sha = (win.info.name, win.info.sha256) if win.info is not None else ('', '')
        path = Path(path)
        exporter = win.exporter
        spec = self.spec.replace(synthesis=exporter.export_synthesis(self.spec.synthesis))
        recorded = exporter.synthesis_recorded(spec.synthesis)
        record = grid_recipe(spec.replace(synthesis=recorded), self.panel.styles_text(), name, sha)
        options = exporter.export_options(path).replace(upscale=1, bits=8)
        if recorded == exporter.synthesis_recorded(self.spec.synthesis):      # the tiles on screen are its pixels
            win._status(f'Saving {path}…')
            win.worker.write_grid_png(path, self.spec, self.panel.tiles, record, upscale=upscale, labels=labels,
                                      options=options)
        else:
            self._saving = str(path)
            win._status(f'Saving {path} (rendering the grid with the reference synthesis)…')
            win.progress_bar.setRange(0, 0)         # busy until the first tile's progress
            win.progress_bar.setVisible(True)
            win.cancel_btn.setVisible(True)
            win.worker.export_grid_png(path, spec, record, upscale=upscale, labels=labels, options=options)
        return path

    @property
    def exporting(self) -> bool:
        """Is a grid image being rendered again for an export (Cancel stops it)?"""
        return bool(self._saving)

    def cancel_export(self) -> None:
        """Stop the grid image being rendered for an export (before its next tile, or between
        layers of one); nothing is written, and pngSaved says 'cancelled'."""
        if self._saving:
            self.win._status(f'Cancelling the grid export to {self._saving}…')
            self.win.worker.cancel_grid_export()

    def _on_progress(self, kind, done, total, text) -> None:
        if kind == 'grid-export' and self._saving:
            self.win._status(f'Saving {self._saving}: tile {done}/{total} (reference synthesis)…')

    def _on_saved(self, path, error) -> None:
        if not self._saving or path != self._saving:
            return
        self._saving = ''
        win = self.win
        win.progress_bar.setVisible(False)
        win.cancel_btn.setVisible(False)
        if error == 'cancelled':
            win._status(f'Grid export cancelled: nothing was written to {path}')

    def save_dialog(self, labels=None) -> None:
        win = self.win
        try:
            self.image()
        except ExplorerError as e:
            win.show_error('Save grid PNG', str(e))
            return
        fmt = win.exporter.export_options().format
        path, _ = QFileDialog.getSaveFileName(win, 'Save grid image' + (' with labels' if labels else ''),
                                              win.exporter.in_save_dir('grid' + EXTENSIONS[fmt]), file_filter(fmt))
        if path:
            if format_of(path) is None:
                path += EXTENSIONS[fmt]
            win.settings.setValue('paths/save_dir', str(Path(path).parent))
            try:
                self.save(path, labels=labels)
            except ExplorerError as e:
                win._status_error(f'Could not save {path}')
                win.show_error('Could not save', str(e))
