"""Latent controls: seed box with previous/next/random, the 2-D latent pad, class picker.

The base may be a stored latent ('latent:<key>', issue #16) instead of seeds: a box above
the seed row names it, the seed box and pad keep the last seed, and any seed control (or
"Back to seeds") makes seeds the base again."""

from __future__ import annotations

import math
import random
from typing import NamedTuple

from PyQt6.QtCore import QPointF, QRectF, QSignalBlocker, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QColor, QFontMetricsF, QPainter, QPen
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
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

STEP_Y = 100                    # pad row stride, as in NVIDIA's visualizer
SEED_MASK = (1 << 32) - 1       # seeds are unsigned 32-bit and wrap around (seed & SEED_MASK)
_TURN_ROWS, _TURN_COLS = divmod(1 << 32, STEP_Y)    # one full turn of seed space, in rows + columns


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
    """Inverse of pad_seeds for recipes it made; other blends map to their first seed (the
    first plain seed when stored latents take part, 0 when there is none)."""
    s0 = first_seed(seeds)
    x0, y0 = s0 % STEP_Y, s0 // STEP_Y
    if len(seeds) == 4 and tuple(seeds[1:]) == tuple((s0 + d) & SEED_MASK for d in (1, STEP_Y, STEP_Y + 1)):
        return x0 + weights[1] + weights[3], y0 + weights[2] + weights[3]
    return float(x0), float(y0)


def pad_seed(x: float, y: float) -> int:
    """The seed nearest to pad position (x, y) (what the seed box shows)."""
    return (round(x) + round(y) * STEP_Y) & SEED_MASK


def wrap_position(x: float, y: float):
    """The same point of seed space (seed = x + STEP_Y * y, modulo 2^32) in canonical
    coordinates, 0 <= x < STEP_Y and 0 <= floor(x) + STEP_Y * floor(y) <= 2^32 - 1, so a
    drag or the animation can run on for ever: past seed 4294967295 comes seed 0, and
    left of seed 0 lies seed 4294967295, as seeds wrap in NVIDIA's tools."""
    x, y = float(x), float(y)
    k = math.floor(x / STEP_Y)
    x, y = x - k * STEP_Y, y + k
    if math.floor(x) + STEP_Y * math.floor(y) > SEED_MASK:
        x, y = x - _TURN_COLS, y - _TURN_ROWS
    elif y < 0:
        x, y = x + _TURN_COLS, y + _TURN_ROWS
    k = math.floor(x / STEP_Y)
    return x - k * STEP_Y, y + k


class PadLabel(NamedTuple):
    point: tuple            # grid point (i, j)
    rect: QRectF            # where its text is drawn (right of the point, below or above it)
    text: str               # the seed (elided to fit), and its weight for the blended seeds
    seed: int
    weight: float | None    # bilinear weight for the four points around the cross, else None


class LatentPad(QWidget):
    """A map of seed space: grid point (i, j) is seed i + 100 j (modulo 2^32), the cross in
    the middle is the current position, and between grid points the four surrounding seeds
    blend bilinearly in W.

    Drag the map like a map: the grid moves with the pointer (the point of seed space under
    the pointer stays under it) and the cross stays put, so dragging right brings the seeds
    on the left (lower seeds) under the cross. Drawing and dragging use the same scale,
    ``PIXELS_PER_SEED``. Every grid point in view is labelled within one cell's width, so no
    labels overlap (see label_layout)."""

    moved = pyqtSignal(float, float)
    released = pyqtSignal()             # the drag ended (the window refines a preview)
    PIXELS_PER_SEED = 96.0              # screen pixels between neighbouring grid points
    LABEL_PAD = 5.0                     # label inset from its grid point and cell edge

    def __init__(self, parent=None):
        super().__init__(parent)
        self.x = 0.0
        self.y = 0.0
        self.inactive = False       # the base is a stored latent: no seed blend to show at the cross
        self._drag = None
        self.setMinimumSize(220, 230)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)     # a click takes focus from a slider: arrows step seeds
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        self.setToolTip('Drag the grid like a map: the cross marks where you are. Between grid points the four '
                        'surrounding seeds blend smoothly in W (bilinear). Right of a seed is seed + 1, '
                        f'below it seed + {STEP_Y}; seeds wrap around after 4294967295.')

    def set_position(self, x, y):
        pos = wrap_position(x, y)
        if pos != (self.x, self.y):     # a psi or style change leaves the pad alone: no repaint (~3 ms)
            self.x, self.y = pos
            self.update()

    # ------------------------------------------------------------------ geometry
    def centre(self) -> QPointF:
        """Where the cross (the current position) is drawn."""
        return QRectF(self.rect()).center()

    def to_screen(self, u, v) -> QPointF:
        """Widget pixel of pad point (u, v) (grid point (i, j) is seed i + 100 j)."""
        c, s = self.centre(), self.PIXELS_PER_SEED
        return QPointF(c.x() + (u - self.x) * s, c.y() + (v - self.y) * s)

    def to_pad(self, point) -> tuple:
        """Pad point (u, v) under widget pixel ``point`` (inverse of to_screen)."""
        c, s = self.centre(), self.PIXELS_PER_SEED
        return self.x + (point.x() - c.x()) / s, self.y + (point.y() - c.y()) / s

    def visible_points(self):
        """Grid points (i, j) whose cell [i, i + 1] x [j, j + 1] overlaps the pad."""
        r = QRectF(self.rect())
        u0, v0 = self.to_pad(r.topLeft())
        u1, v1 = self.to_pad(r.bottomRight())
        return [(i, j) for j in range(math.floor(v0) - 1, math.ceil(v1) + 1)
                for i in range(math.floor(u0) - 1, math.ceil(u1) + 1)
                if self.to_screen(i + 1, j + 1).x() > r.left() and self.to_screen(i, j).x() < r.right()
                and self.to_screen(i + 1, j + 1).y() > r.top() and self.to_screen(i, j).y() < r.bottom()]

    def weight_at(self, i, j) -> float | None:
        """Bilinear weight of grid point (i, j) in the blend at the cross (None: not one of the
        four points around it, or the pad is ``inactive``)."""
        if self.inactive:
            return None
        if i - math.floor(self.x) not in (0, 1) or j - math.floor(self.y) not in (0, 1):
            return None
        return max(0.0, 1 - abs(self.x - i)) * max(0.0, 1 - abs(self.y - j))

    def label_layout(self, fm: QFontMetricsF | None = None):
        """[PadLabel] per grid point whose label is in view: the seed (and, for the four seeds
        around the cross, its weight on a second line) right of the point and below it (above
        it where the bottom edge would cut it), within one cell's width, so no two labels
        overlap whatever the seeds' length; the label of the point whose cell holds the cross steps
        below (or above) the cross. A seed too long for its cell (or cut by the right
        edge of the pad) is elided from the left, keeping the digits that differ between
        neighbours; a label cut by another edge is left out (a clipped number would read as
        another seed)."""
        fm = fm or QFontMetricsF(self.font())
        s, pad = self.PIXELS_PER_SEED, self.LABEL_PAD
        area = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        least = fm.horizontalAdvance('…00')
        c = self.centre()
        cross = QRectF(c.x() - 11, c.y() - 11, 22, 22)      # the cross's arms and a margin
        out = []
        for i, j in self.visible_points():
            seed = (i + j * STEP_Y) & SEED_MASK
            w = self.weight_at(i, j)
            p = self.to_screen(i, j)
            height = (2 if w else 1) * fm.height()
            rect = QRectF(p.x() + pad, p.y() + pad, min(s - 2 * pad, area.right() - (p.x() + pad)), height)
            if rect.bottom() > area.bottom():
                rect.moveBottom(p.y() - pad)        # above the point: the cell above has room below its label
            text = fm.elidedText(str(seed), Qt.TextElideMode.ElideLeft, rect.width())
            if w:
                text += '\n' + fm.elidedText(f'× {w:.2f}', Qt.TextElideMode.ElideRight, rect.width())
            inked = QRectF(rect.left(), rect.top(), max(fm.horizontalAdvance(t) for t in text.split('\n')), height)
            if w and inked.intersects(cross):
                # The cross sits in this point's cell: the label steps below it (or above it),
                # staying in the cell, so the cross does not hide the seed or its weight.
                for moved in (rect.translated(0, cross.bottom() - rect.top()),
                              rect.translated(0, cross.top() - rect.bottom())):
                    if p.y() + pad <= moved.top() and moved.bottom() <= p.y() + s - pad:
                        rect = moved
                        break
            if rect.left() < area.left() or rect.top() < area.top() or rect.bottom() > area.bottom() \
                    or rect.width() < least:
                continue
            out.append(PadLabel((i, j), rect, text, seed, w))
        return out

    # ------------------------------------------------------------------ input
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
        """Move the map by (dx, dy) grid steps (pixels / PIXELS_PER_SEED): the position under
        the cross moves the other way (drag right: lower seeds)."""
        self.x, self.y = wrap_position(self.x - dx, self.y - dy)
        self.update()
        self.moved.emit(self.x, self.y)

    # ------------------------------------------------------------------ drawing
    def paintEvent(self, _):
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        p.fillRect(r, QColor('#2b2d30'))
        p.setClipRect(r)
        points = self.visible_points()
        p.setPen(QPen(QColor('#555')))
        for i in sorted({i for i, _ in points}):
            gx = self.to_screen(i, 0).x()
            p.drawLine(QPointF(gx, r.top()), QPointF(gx, r.bottom()))
        for j in sorted({j for _, j in points}):
            gy = self.to_screen(0, j).y()
            p.drawLine(QPointF(r.left(), gy), QPointF(r.right(), gy))
        p.setPen(Qt.PenStyle.NoPen)
        for i, j in points:
            w = self.weight_at(i, j)
            p.setBrush(QColor('#666') if w is None else QColor(90, 160, 255, int(60 + 195 * w)))
            rad = 2.5 if w is None else 4 + 6 * w
            p.drawEllipse(self.to_screen(i, j), rad, rad)
        for label in self.label_layout(QFontMetricsF(self.font())):
            p.setPen(QColor('#ddd') if label.weight else QColor('#888'))
            p.drawText(label.rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop), label.text)
        c = self.centre()
        p.setPen(QPen(QColor('#888' if self.inactive else '#ffb347'), 2))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawLine(QPointF(c.x() - 9, c.y()), QPointF(c.x() + 9, c.y()))
        p.drawLine(QPointF(c.x(), c.y() - 9), QPointF(c.x(), c.y() + 9))
        p.drawEllipse(c, 5, 5)
        p.end()


class LatentPanel(QWidget):
    changed = pyqtSignal(dict)

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)

        self.stored_box = QGroupBox('Base latent')     # shown while a stored latent is (part of) the base
        sl = QHBoxLayout(self.stored_box)
        self.stored_label = QLabel()
        self.stored_label.setWordWrap(True)
        self.back_btn = QPushButton('Back to seeds')
        self.back_btn.setToolTip('Make the seed in the seed box the base again (so do Prev, Next, Random and the pad)')
        sl.addWidget(self.stored_label, 1)
        sl.addWidget(self.back_btn)
        lay.addWidget(self.stored_box)
        self.stored_box.setVisible(False)

        box = self.seed_group = QGroupBox('Seed')
        row = QHBoxLayout(box)
        self.seed = SeedBox()
        self.seed.setMinimumWidth(110)
        self.prev_btn = QPushButton('◀ Prev')
        self.next_btn = QPushButton('Next ▶')
        self.random_btn = QPushButton('Random')
        self.prev_btn.setToolTip('Previous seed (← or ↓); seed 0 wraps around to 4294967295')
        self.next_btn.setToolTip('Next seed (→ or ↑); seed 4294967295 wraps around to 0')
        self.random_btn.setToolTip('A random seed from 0 to 99999 (R)')
        for w in (self.seed, self.prev_btn, self.next_btn, self.random_btn):
            row.addWidget(w)
        lay.addWidget(box)

        padbox = QGroupBox('Latent pad (drag the grid; the cross blends the 4 nearest seeds)')
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
        self.back_btn.clicked.connect(self.back_to_seeds)
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
        refs = [s for s in recipe.seeds if is_ref(s)]
        self.stored_box.setVisible(bool(refs))
        self.seed_group.setTitle('Seed (last used: a seed control makes seeds the base again)' if refs else 'Seed')
        if self.pad.inactive != bool(refs):
            self.pad.inactive = bool(refs)
            self.pad.update()
        if refs:        # the seed box and pad keep the last seed: a step goes on from there
            if len(recipe.seeds) == 1:
                lat = recipe.latent(refs[0])
                self.stored_label.setText(f'Stored latent: <b>{_html(source_label(refs[0], recipe.latents))}</b> '
                                          f'({lat.space.upper()})')
            else:
                self.stored_label.setText(f'A blend of {len(recipe.seeds)} sources, '
                                          f'{len(refs)} of them stored latents')
        else:
            x, y = pad_position(recipe.seeds, recipe.seed_weights)
            self.pad.set_position(x, y)
            with QSignalBlocker(self.seed):
                self.seed.setValue(int(recipe.seeds[0]) & SEED_MASK if len(recipe.seeds) == 1 else pad_seed(x, y))
        if recipe.class_idx is not None and recipe.class_idx < self.class_combo.count():
            with QSignalBlocker(self.class_combo):
                self.class_combo.setCurrentIndex(recipe.class_idx)
        self._update_label(recipe.seeds, recipe.seed_weights, recipe.latents)
        self.tx.set_silently(recipe.translate[0])
        self.ty.set_silently(recipe.translate[1])
        self.rot.set_silently(recipe.rotate)

    # ------------------------------------------------------------------ actions
    def step_seed(self, delta):
        """The seed ``delta`` away, wrapping around at 0 and 2^32 - 1 (as the pad does)."""
        self.seed.setValue((self.seed.value() + int(delta)) & SEED_MASK)

    def back_to_seeds(self):
        """The seed in the seed box as the whole base (it may equal the box's value: no valueChanged)."""
        self._seed_changed(self.seed.value())

    def random_seed(self):
        self.seed.setValue(random.randint(0, 99999))

    def _seed_changed(self, s):
        s = int(round(s))
        self.pad.set_position(s % STEP_Y, s // STEP_Y)
        self._update_label((s,), (1.0,))
        self.changed.emit({'seeds': (int(s),), 'seed_weights': (1.0,)})

    def _pad_moved(self, x, y):
        seeds, weights = pad_seeds(x, y)
        with QSignalBlocker(self.seed):
            self.seed.setValue(pad_seed(x, y))
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

    def _update_label(self, seeds, weights, latents=()):
        parts = [f'{source_label(s, latents) if is_ref(s) else s} × {w:.2f}' for s, w in zip(seeds, weights) if w > 0]
        self.blend_label.setText('W blend: ' + ',  '.join(parts))


def _html(text: str) -> str:
    return text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
