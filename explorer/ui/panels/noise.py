"""Noise: mode, noise seed, global strength and one strength slider per style layer.

Per-layer noise strength shows where stochastic detail lives: coarse layers move
larger structures, fine layers (64 px and up) hold hair strands, freckles, pores.
"""

from __future__ import annotations

from PyQt6.QtCore import QSignalBlocker, pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from explorer.engine.view import format_gain
from explorer.ui.widgets import MAX_SEED, FloatSlider, SeedBox

MODES = ('const', 'random', 'none')


class NoisePanel(QWidget):
    changed = pyqtSignal(dict)
    viewChanged = pyqtSignal(str)       # 'image' | 'noise'

    def __init__(self, parent=None):
        super().__init__(parent)
        self.num_ws = 0
        self.rows: list[FloatSlider] = []
        self._layer_noise = None
        lay = QVBoxLayout(self)

        top = QGroupBox('Noise')
        tl = QGridLayout(top)
        self.mode = QComboBox()
        self.mode.addItem('const (fixed noise maps)', 'const')
        self.mode.addItem('random (seeded below)', 'random')
        self.mode.addItem('none (no stochastic detail)', 'none')
        self.noise_seed = SeedBox()     # 0..2^32-1, as the CLI's --noise-seed
        self.reroll = QPushButton('Reroll noise')
        self.reroll.setToolTip('Switch to random noise and draw a new noise seed: only the stochastic detail changes')
        self.strength = FloatSlider(0.0, 2.0, 1.0, step=0.01)
        tl.addWidget(QLabel('Mode'), 0, 0)
        tl.addWidget(self.mode, 0, 1, 1, 2)
        tl.addWidget(QLabel('Noise seed'), 1, 0)
        tl.addWidget(self.noise_seed, 1, 1)
        tl.addWidget(self.reroll, 1, 2)
        tl.addWidget(QLabel('Strength (all)'), 2, 0)
        tl.addWidget(self.strength, 2, 1, 1, 2)
        lay.addWidget(top)

        self.layer_box = QGroupBox('Per-layer noise strength (0 = remove, 1 = as trained, 2 = exaggerate)')
        self.layer_grid = QGridLayout(self.layer_box)
        lay.addWidget(self.layer_box)
        help_ = QLabel('Stochastic detail (hair strands, freckles, skin pores, background texture) comes '
                       'from per-pixel noise. Drag a layer to 0 to see what it contributed; fine layers '
                       '(64 px and up) carry the finest detail. "Reroll noise" keeps the face and redraws '
                       'only that detail.')
        help_.setWordWrap(True)
        lay.addWidget(help_)
        self.zero_warning = QLabel('This model learned no noise (every layer\'s trained noise strength is 0, '
                                   'as in the untrained placeholder), so these sliders change nothing here. '
                                   'Open a trained checkpoint to see stochastic detail.')
        self.zero_warning.setWordWrap(True)
        self.zero_warning.setStyleSheet('color: #b35c00;')
        self.zero_warning.setVisible(False)
        lay.addWidget(self.zero_warning)
        self.show_detail = QCheckBox('Show only what the noise adds (auto-contrast)')
        self.show_detail.setToolTip('The main view shows |image − image without noise|, where stochastic detail '
                                    'lives; drag the sliders to see it move. The difference is often a fraction of a '
                                    'grey level, so it is amplified per frame: the brightest 0.5% of it shows white '
                                    '(the gain is shown below and in the '
                                    'status line)')
        lay.addWidget(self.show_detail)
        self.detail_gain = QLabel()
        self.detail_gain.setWordWrap(True)
        self.detail_gain.setVisible(False)
        lay.addWidget(self.detail_gain)
        btns = QHBoxLayout()
        self.all_one = QPushButton('All layers 1×')
        self.all_zero = QPushButton('All layers 0×')
        self.fine_only = QPushButton('Fine layers only')
        self.coarse_only = QPushButton('Coarse layers only')
        for b in (self.all_one, self.all_zero, self.coarse_only, self.fine_only):
            btns.addWidget(b)
        lay.addLayout(btns)
        lay.addStretch(1)
        self._groups = {}
        self._has_noise = ()

        self.mode.currentIndexChanged.connect(lambda i: self.changed.emit({'noise_mode': self.mode.itemData(i)}))
        self.noise_seed.seedChanged.connect(lambda s: self.changed.emit({'noise_seed': int(s)}))
        self.reroll.clicked.connect(self._reroll)
        self.show_detail.toggled.connect(lambda on: self.viewChanged.emit('noise' if on else 'image'))
        self.show_detail.toggled.connect(lambda on: on or self.set_detail_gain(None))
        self.strength.valueChanged.connect(lambda v: self.changed.emit({'noise_strength': float(v)}))
        self.all_one.clicked.connect(lambda: self._set_all(None))
        self.all_zero.clicked.connect(lambda: self._set_all(tuple(0.0 for _ in range(self.num_ws))))
        self.fine_only.clicked.connect(lambda: self._only('fine'))
        self.coarse_only.clicked.connect(lambda: self._only('coarse'))

    def set_model(self, info):
        for w in self.rows:
            w.setParent(None)
            w.deleteLater()
        while self.layer_grid.count():
            item = self.layer_grid.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        self.rows = []
        self.num_ws = info.num_ws
        self._groups = dict(info.groups)
        self._has_noise = info.layer_has_noise
        learned = [v for v in (info.layer_noise_learned or ()) if v is not None]
        self.zero_warning.setVisible(bool(learned) and all(v == 0 for v in learned))
        names = [f'{i:2d}  {label}' for i, label in enumerate(info.layer_labels)]
        # One label column as wide as the longest name ('17  1024x1024 torgb'), so none is clipped.
        label_width = max((self.fontMetrics().horizontalAdvance(n) for n in names), default=0) + 8
        for i, name in enumerate(names):
            s = FloatSlider(0.0, 2.0, 1.0, step=0.01, label=name, label_width=label_width)
            has = info.layer_has_noise[i]
            s.setEnabled(has)
            learned = (info.layer_noise_learned or [None] * info.num_ws)[i] if has else None
            if not has:
                s.setToolTip('this layer takes no noise input')
            elif learned is not None:
                s.setToolTip(f'learned noise strength of this layer: {learned:.4f} (the slider multiplies it)')
            s.valueChanged.connect(lambda v, i=i: self._layer_changed(i, v))
            self.layer_grid.addWidget(s, i, 0)
            self.rows.append(s)

    def set_detail_gain(self, gain) -> None:
        """The gain of the noise-detail view on screen (None: the view shows the image)."""
        if gain is None:
            self.detail_gain.clear()
            self.detail_gain.setVisible(False)
            return
        if gain <= 1.0:
            text = 'Auto-contrast gain ×1: shown as it is (the noise adds nothing here, or already a lot).'
        else:
            text = (f'Auto-contrast gain {format_gain(gain)}: the difference is amplified so its brightest 0.5% '
                    f'shows white.')
        self.detail_gain.setText(text)
        self.detail_gain.setVisible(True)

    def set_recipe(self, recipe):
        with QSignalBlocker(self.mode):
            self.mode.setCurrentIndex(MODES.index(recipe.noise_mode))
        with QSignalBlocker(self.noise_seed):
            self.noise_seed.setValue(int(recipe.noise_seed) & MAX_SEED)
        self.strength.set_silently(recipe.noise_strength)
        self._layer_noise = recipe.layer_noise
        for i, s in enumerate(self.rows):
            s.set_silently(1.0 if recipe.layer_noise is None else recipe.layer_noise[i])

    def _current(self):
        return [1.0] * self.num_ws if self._layer_noise is None else list(self._layer_noise)

    def _layer_changed(self, i, v):
        vals = self._current()
        vals[i] = float(v)
        self._layer_noise = tuple(vals)
        self.changed.emit({'layer_noise': self._layer_noise})

    def _set_all(self, values):
        self._layer_noise = values
        self.changed.emit({'layer_noise': values})

    def _only(self, group):
        keep = set(self._groups.get(group, ()))
        self._set_all(tuple(1.0 if i in keep else 0.0 for i in range(self.num_ws)))

    def _reroll(self):
        changes = {'noise_seed': (int(self.noise_seed.value()) + 1) & MAX_SEED}    # wraps, as seeds do
        if self.mode.currentData() != 'random':
            changes['noise_mode'] = 'random'
        self.changed.emit(changes)
