"""Per-layer styles: one row per style input with a source selector and a blend slider.

Sources are the base latent or one of the mix sources: a seed (a seed box) or a stored
latent ('latent:<key>', issue #16: its name instead of a seed box; added from the Latents
tab). Presets Coarse / Middle / Fine / All set the rows of a group (paper grouping:
coarse 4-8 px, middle 16-32, fine 64+) to the preset source at full blend; None puts
every row back on the base.

The panel fits the controls column at 1280x800 for 1 to 18 (and more) style layers: the
presets take two rows, the source combos elide long names instead of widening, and the
blend sliders may shrink (``MIN_PANEL_WIDTH`` is the narrowest it lays out).
"""

from __future__ import annotations

from PyQt6.QtCore import QSignalBlocker, Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from explorer.engine.stored_latents import first_seed, is_ref, source_label
from explorer.ui.widgets import FloatSlider, SeedBox

PRESETS = ('coarse', 'middle', 'fine', 'all')
COMBO_CHARS = 12        # source combos are this many characters wide ('source 10'; full names in tooltips)


def _narrow_combo() -> QComboBox:
    """A combo whose width does not follow its longest item (a 10-digit seed would widen it)."""
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(COMBO_CHARS)
    return combo


def _elide(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[:n - 1] + '…'


class LayersPanel(QWidget):
    changed = pyqtSignal(dict)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.num_ws = 0
        self._groups = {}
        self._recipe = None
        self.source_combos: list[QComboBox] = []
        self.blend_sliders: list[FloatSlider] = []
        self.mix_spins: list[SeedBox] = []
        self.mix_labels: list[QLabel] = []     # per source row: 'Source k seed' or the stored latent's name
        lay = QVBoxLayout(self)

        self.src_box = QGroupBox('Style sources (mix seeds)')
        self.src_lay = QVBoxLayout(self.src_box)
        self.src_rows = QVBoxLayout()
        self.src_lay.addLayout(self.src_rows)
        self.add_src = QPushButton('+ Add source seed')
        self.src_lay.addWidget(self.add_src)
        lay.addWidget(self.src_box)

        pbox = QGroupBox('Quick presets: take a layer group from a source')
        pv = QVBoxLayout(pbox)
        pl = QHBoxLayout()
        pl.addWidget(QLabel('from'))
        self.preset_source = _narrow_combo()
        pl.addWidget(self.preset_source, 1)
        pv.addLayout(pl)
        bl = QHBoxLayout()      # the buttons get their own row: five in one with the combo overflow
        self.preset_buttons = {}
        for name in PRESETS + ('none',):
            b = QPushButton(name.capitalize())
            b.setMinimumWidth(0)
            b.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)   # share the row
            b.clicked.connect(lambda _=False, n=name: self.apply_preset(n))
            self.preset_buttons[name] = b
            bl.addWidget(b)
        pv.addLayout(bl)
        lay.addWidget(pbox)

        self.rows_box = QGroupBox('Per-layer style: source and blend (0 = base, 1 = source)')
        self.grid = QGridLayout(self.rows_box)
        self.grid.setColumnStretch(2, 1)
        lay.addWidget(self.rows_box)
        lay.addStretch(1)
        self.add_src.clicked.connect(self._add_source)

    # ------------------------------------------------------------------ model
    def set_model(self, info):
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        self.num_ws = info.num_ws
        self._groups = dict(info.groups)
        self.source_combos, self.blend_sliders = [], []
        for name, b in self.preset_buttons.items():
            if name in self._groups:
                idx = self._groups[name]
                b.setEnabled(bool(idx))
                b.setToolTip(f'layers {", ".join(map(str, idx))}' if idx else 'this model has no such layers')
        hdr = [QLabel('<b>Layer</b>'), QLabel('<b>Source</b>'), QLabel('<b>Blend</b>')]
        for c, w in enumerate(hdr):
            self.grid.addWidget(w, 0, c)
        for i, label in enumerate(info.layer_labels):
            name = QLabel(f'{i:2d}  {label}')
            combo = _narrow_combo()
            slider = FloatSlider(0.0, 1.0, 1.0, step=0.01)
            slider.slider.setMinimumWidth(50)
            combo.currentIndexChanged.connect(lambda _i, i=i: self._row_source_changed(i))
            slider.valueChanged.connect(lambda v, i=i: self._row_blend_changed(i, v))
            self.grid.addWidget(name, i + 1, 0)
            self.grid.addWidget(combo, i + 1, 1)
            self.grid.addWidget(slider, i + 1, 2)
            self.source_combos.append(combo)
            self.blend_sliders.append(slider)

    def set_recipe(self, recipe):
        self._recipe = recipe
        mix = list(recipe.mix_seeds)
        # Source seed spin boxes.
        while len(self.mix_spins) > len(mix):
            self._remove_src_row()
        while len(self.mix_spins) < len(mix):
            self._add_src_row()
        for k, s in enumerate(mix):
            stored = is_ref(s)
            self.mix_spins[k].setVisible(not stored)
            self.mix_labels[k].setText(f'Source {k + 1}: {_elide(source_label(s, recipe.latents))}' if stored
                                       else f'Source {k + 1} seed')
            if not stored:
                with QSignalBlocker(self.mix_spins[k]):
                    self.mix_spins[k].setValue(int(s))
        names = ['base'] + [f'source {k + 1} ({source_label(s, recipe.latents)})' for k, s in enumerate(mix)]
        with QSignalBlocker(self.preset_source):
            cur = self.preset_source.currentIndex()
            self.preset_source.clear()
            for k, s in enumerate(mix):
                self.preset_source.addItem(names[k + 1], k)
            if mix:
                self.preset_source.setCurrentIndex(min(max(cur, 0), len(mix) - 1))
            else:
                self.preset_source.addItem('new source (seed + 1)', -1)
        src = self._sources()
        blend = self._blends()
        for i, (combo, slider) in enumerate(zip(self.source_combos, self.blend_sliders)):
            with QSignalBlocker(combo):
                combo.clear()
                # The rows say 'source k' (the seeds are in the source rows above; a combo clips
                # rather than elides 'source 1 (seed 1208)'); the full name is the item's tooltip.
                for k, n in enumerate(names):
                    combo.addItem(n if k == 0 else f'source {k}')
                    combo.setItemData(k, n, Qt.ItemDataRole.ToolTipRole)
                combo.setCurrentIndex(src[i] + 1)
                combo.setToolTip(names[src[i] + 1])
            slider.set_silently(blend[i])
            slider.setEnabled(src[i] >= 0)

    # ------------------------------------------------------------------ helpers
    def _sources(self):
        r = self._recipe
        if r is None or r.layer_source is None:
            return [-1] * self.num_ws
        return [(-1 if s is None else int(s)) for s in r.layer_source]

    def _blends(self):
        r = self._recipe
        if r is None or r.layer_blend is None:
            return [1.0] * self.num_ws
        return [float(b) for b in r.layer_blend]

    def _emit(self, mix, src, blend):
        if not mix:
            self.changed.emit({'mix_seeds': (), 'layer_source': None, 'layer_blend': None})
        else:
            self.changed.emit({'mix_seeds': tuple(s if is_ref(s) else int(s) for s in mix), 'layer_source': tuple(src),
                               'layer_blend': tuple(float(b) for b in blend)})

    def _row_source_changed(self, i):
        src, blend = self._sources(), self._blends()
        src[i] = self.source_combos[i].currentIndex() - 1
        self._emit(self._recipe.mix_seeds, src, blend)

    def _row_blend_changed(self, i, v):
        src, blend = self._sources(), self._blends()
        blend[i] = float(v)
        self._emit(self._recipe.mix_seeds, src, blend)

    def apply_preset(self, name):
        mix = list(self._recipe.mix_seeds)
        src, blend = self._sources(), self._blends()
        if name == 'none':
            self._emit(mix, [-1] * self.num_ws, [1.0] * self.num_ws)
            return
        k = self.preset_source.currentData()
        if k is None or k < 0:
            mix.append(first_seed(self._recipe.seeds) + 1)
            k = len(mix) - 1
        for i in self._groups.get(name, ()):
            src[i] = k
            blend[i] = 1.0
        self._emit(mix, src, blend)

    def _add_source(self):
        mix = list(self._recipe.mix_seeds) + [first_seed(self._recipe.seeds) + len(self._recipe.mix_seeds) + 1]
        self._emit(mix, self._sources(), self._blends())

    def remove_source(self, k):
        mix = list(self._recipe.mix_seeds)
        del mix[k]
        src = [(-1 if s == k else (s - 1 if s > k else s)) for s in self._sources()]
        self._emit(mix, src, self._blends())

    def _source_seed_changed(self, k, v):
        mix = list(self._recipe.mix_seeds)
        mix[k] = int(v)
        self._emit(mix, self._sources(), self._blends())

    def _add_src_row(self):
        k = len(self.mix_spins)
        row = QWidget()
        rl = QHBoxLayout(row)
        rl.setContentsMargins(0, 0, 0, 0)
        label = QLabel(f'Source {k + 1} seed')
        rl.addWidget(label)
        spin = SeedBox()                # 0..2^32-1 (a QSpinBox stops at 2^31-1)
        spin.valueChanged.connect(lambda v, k=k: self._source_seed_changed(k, v))
        rl.addWidget(spin, 1)
        rm = QPushButton('Remove')
        rm.clicked.connect(lambda _=False, k=k: self.remove_source(k))
        rl.addWidget(rm)
        self.src_rows.addWidget(row)
        self.mix_spins.append(spin)
        self.mix_labels.append(label)

    def _remove_src_row(self):
        spin = self.mix_spins.pop()
        self.mix_labels.pop()
        row = spin.parentWidget()
        self.src_rows.removeWidget(row)
        row.setParent(None)
        row.deleteLater()
