"""Latent controls: seed box with previous/next/random, the 2-D latent pad, class picker."""

from __future__ import annotations

import math
import random

from PyQt6.QtCore import QPointF, QRectF, QSignalBlocker, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QColor, QPainter, QPen
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from explorer.ui.widgets import FloatSlider

STEP_Y = 100                    # pad row stride, as in NVIDIA's visualizer
SEED_MASK = (1 << 32) - 1
MAX_SPIN_SEED = 2 ** 31 - 1


def pad_seeds(x: float, y: float):
    """Bilinear blend of the four seeds around (x, y): (seeds, weights)."""
    x, y = round(float(x), 4), round(float(y), 4)
    x0, y0 = math.floor(x), math.floor(y)
    fx, fy = round(x - x0, 4), round(y - y0, 4)
    if fx == 0 and fy == 0:
        return ((x0 + y0 * STEP_Y) & SEED_MASK,), (1.0,)
    seeds, weights = [], []
    for ox, oy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        seeds.append((x0 + ox + (y0 + oy) * STEP_Y) & SEED_MASK)
        weights.append(round((1 - abs(fx - ox)) * (1 - abs(fy - oy)), 6))
    return tuple(seeds), tuple(weights)


def pad_position(seeds, weights):
    """Inverse of pad_seeds for recipes it made; other blends map to their first seed."""
    s0 = int(seeds[0])
    x0, y0 = s0 % STEP_Y, s0 // STEP_Y
    if len(seeds) == 4 and tuple(seeds[1:]) == tuple((s0 + d) & SEED_MASK for d in (1, STEP_Y, STEP_Y + 1)):
        return x0 + weights[1] + weights[3], y0 + weights[2] + weights[3]
    return float(x0), float(y0)


class LatentPad(QWidget):
    """Drag to move through seed space; the four surrounding seeds blend bilinearly."""

    moved = pyqtSignal(float, float)
    released = pyqtSignal()             # the drag ended (the window refines a preview)
    PIXELS_PER_SEED = 160.0

    def __init__(self, parent=None):
        super().__init__(parent)
        self.x = 0.0
        self.y = 0.0
        self._drag = None
        self.setMinimumSize(220, 230)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        self.setToolTip('Drag to blend smoothly between neighbouring seeds (W space, bilinear)')

    def set_position(self, x, y):
        self.x, self.y = float(x), float(y)
        self.update()

    def mousePressEvent(self, e):
        self._drag = e.position()
        self.setCursor(Qt.CursorShape.ClosedHandCursor)

    def mouseMoveEvent(self, e):
        if self._drag is None:
            return
        d = e.position() - self._drag
        self._drag = e.position()
        self.drag_by(d.x() / self.PIXELS_PER_SEED, d.y() / self.PIXELS_PER_SEED)

    def mouseReleaseEvent(self, e):
        held = self._drag is not None
        self._drag = None
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        if held:
            self.released.emit()

    @property
    def held(self) -> bool:
        """Is the pad being dragged (mouse button down)?"""
        return self._drag is not None

    def drag_by(self, dx, dy):
        self.x = max(0.0, self.x - dx)
        self.y = max(0.0, self.y - dy)
        self.update()
        self.moved.emit(self.x, self.y)

    def paintEvent(self, _):
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        p.fillRect(r, QColor('#2b2d30'))
        # The unit cell around the position, centred; grid lines at integer seeds.
        s = min(r.width(), r.height()) * 0.42      # pixels per seed step on screen
        # Keep the whole current cell in view: its centre sits at the middle of the pad.
        cx = r.center().x() - (0.5 - (self.x - math.floor(self.x))) * s
        cy = r.center().y() - (0.5 - (self.y - math.floor(self.y))) * s
        pen = QPen(QColor('#555'))
        p.setPen(pen)
        for k in range(-3, 4):
            gx = cx + (math.floor(self.x) + k - self.x) * s
            gy = cy + (math.floor(self.y) + k - self.y) * s
            p.drawLine(QPointF(gx, r.top()), QPointF(gx, r.bottom()))
            p.drawLine(QPointF(r.left(), gy), QPointF(r.right(), gy))
        seeds, weights = pad_seeds(self.x, self.y)
        p.setPen(QColor('#ddd'))
        x0, y0 = math.floor(self.x), math.floor(self.y)
        for ox in (0, 1):
            for oy in (0, 1):
                px = cx + (x0 + ox - self.x) * s
                py = cy + (y0 + oy - self.y) * s
                seed = (x0 + ox + (y0 + oy) * STEP_Y) & SEED_MASK
                w = (1 - abs(self.x - x0 - ox)) * (1 - abs(self.y - y0 - oy))
                p.setBrush(QColor(90, 160, 255, int(60 + 195 * w)))
                p.drawEllipse(QPointF(px, py), 4 + 6 * w, 4 + 6 * w)
                p.drawText(QPointF(px + 8, py - 6), f'{seed}  {w:.2f}')
        p.setPen(QPen(QColor('#ffb347'), 2))
        p.drawLine(QPointF(cx - 8, cy), QPointF(cx + 8, cy))
        p.drawLine(QPointF(cx, cy - 8), QPointF(cx, cy + 8))
        p.end()


class LatentPanel(QWidget):
    changed = pyqtSignal(dict)

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)

        box = QGroupBox('Seed')
        row = QHBoxLayout(box)
        self.seed = QSpinBox()
        self.seed.setRange(0, MAX_SPIN_SEED)
        self.seed.setKeyboardTracking(False)
        self.seed.setMinimumWidth(110)
        self.prev_btn = QPushButton('◀ Prev')
        self.next_btn = QPushButton('Next ▶')
        self.random_btn = QPushButton('Random')
        for w in (self.seed, self.prev_btn, self.next_btn, self.random_btn):
            row.addWidget(w)
        lay.addWidget(box)

        padbox = QGroupBox('Latent pad (drag to blend the 4 nearest seeds)')
        pl = QVBoxLayout(padbox)
        self.pad = LatentPad()
        pl.addWidget(self.pad)
        self.blend_label = QLabel()
        self.blend_label.setWordWrap(True)
        pl.addWidget(self.blend_label)
        anim = QHBoxLayout()
        self.animate = QCheckBox('Animate')
        self.speed = FloatSlider(0.05, 3.0, 0.5, step=0.05, label='Speed (seeds/s)')
        anim.addWidget(self.animate)
        anim.addWidget(self.speed, 1)
        pl.addLayout(anim)
        lay.addWidget(padbox)

        self.class_box = QGroupBox('Class (conditional model)')
        cl = QFormLayout(self.class_box)
        self.class_combo = QComboBox()
        cl.addRow('Class', self.class_combo)
        lay.addWidget(self.class_box)
        self.class_box.setVisible(False)

        self.transform_box = QGroupBox('StyleGAN3 input transform')
        tl = QVBoxLayout(self.transform_box)
        self.tx = FloatSlider(-1.0, 1.0, 0.0, step=0.01, label='Translate x', label_width=90)
        self.ty = FloatSlider(-1.0, 1.0, 0.0, step=0.01, label='Translate y', label_width=90)
        self.rot = FloatSlider(-180.0, 180.0, 0.0, step=1.0, decimals=0, label='Rotate (°)', label_width=90)
        for w in (self.tx, self.ty, self.rot):
            tl.addWidget(w)
        lay.addWidget(self.transform_box)
        self.transform_box.setVisible(False)
        self.tx.valueChanged.connect(lambda v: self.changed.emit({'translate': (float(v), self.ty.value())}))
        self.ty.valueChanged.connect(lambda v: self.changed.emit({'translate': (self.tx.value(), float(v))}))
        self.rot.valueChanged.connect(lambda v: self.changed.emit({'rotate': float(v)}))
        lay.addStretch(1)

        self._timer = QTimer(self)
        self._timer.setInterval(33)
        self._timer.timeout.connect(self._tick)

        self.seed.valueChanged.connect(self._seed_changed)
        self.prev_btn.clicked.connect(lambda: self.step_seed(-1))
        self.next_btn.clicked.connect(lambda: self.step_seed(+1))
        self.random_btn.clicked.connect(self.random_seed)
        self.pad.moved.connect(self._pad_moved)
        self.animate.toggled.connect(self._animate_toggled)
        self.class_combo.currentIndexChanged.connect(self._class_changed)
        self._update_label((0,), (1.0,))

    # ------------------------------------------------------------------ model
    def set_model(self, info):
        with QSignalBlocker(self.class_combo):
            self.class_combo.clear()
            for k in range(info.c_dim):
                self.class_combo.addItem(f'class {k}', k)
        self.class_box.setVisible(info.c_dim > 0)
        self.transform_box.setVisible(bool(getattr(info, 'is_stylegan3', False)))

    def set_recipe(self, recipe):
        x, y = pad_position(recipe.seeds, recipe.seed_weights)
        self.pad.set_position(x, y)
        with QSignalBlocker(self.seed):
            self.seed.setValue(min(int(recipe.seeds[0]) if len(recipe.seeds) == 1
                                   else round(x) + round(y) * STEP_Y, MAX_SPIN_SEED))
        if recipe.class_idx is not None and recipe.class_idx < self.class_combo.count():
            with QSignalBlocker(self.class_combo):
                self.class_combo.setCurrentIndex(recipe.class_idx)
        self._update_label(recipe.seeds, recipe.seed_weights)
        self.tx.set_silently(recipe.translate[0])
        self.ty.set_silently(recipe.translate[1])
        self.rot.set_silently(recipe.rotate)

    # ------------------------------------------------------------------ actions
    def step_seed(self, delta):
        self.seed.setValue(max(0, self.seed.value() + delta))

    def random_seed(self):
        self.seed.setValue(random.randint(0, 99999))

    def _seed_changed(self, s):
        self.pad.set_position(s % STEP_Y, s // STEP_Y)
        self._update_label((s,), (1.0,))
        self.changed.emit({'seeds': (int(s),), 'seed_weights': (1.0,)})

    def _pad_moved(self, x, y):
        seeds, weights = pad_seeds(x, y)
        with QSignalBlocker(self.seed):
            self.seed.setValue(min(round(x) + round(y) * STEP_Y, MAX_SPIN_SEED))
        self._update_label(seeds, weights)
        self.changed.emit({'seeds': seeds, 'seed_weights': weights})

    def _animate_toggled(self, on):
        if on:
            self._timer.start()
        else:
            self._timer.stop()

    def _tick(self):
        dt = self._timer.interval() / 1000.0
        self.pad.drag_by(-self.speed.value() * dt, 0.0)

    def _class_changed(self, i):
        if i >= 0:
            self.changed.emit({'class_idx': int(self.class_combo.itemData(i))})

    def _update_label(self, seeds, weights):
        parts = [f'{s} × {w:.2f}' for s, w in zip(seeds, weights) if w > 0]
        self.blend_label.setText('W blend: ' + ',  '.join(parts))
