"""The Animation tab: a timeline of keyframes, the moves between them, Play and Export.

Keyframes are whole recipes (the current state, a favourite, a stored latent as the base of
the current settings), shown left to right as thumbnails. The selected keyframe's hold and
the duration and easing of its move to the next keyframe are edited below the timeline, in
seconds: the animation's length is the sum of the pieces it plays (holds and moves; a loop
also plays the last keyframe's move back to the first), so the panel's ``animation()`` is
exactly what ``main.py video --keyframes`` renders from the saved JSON.

This widget only holds and edits the list (plain ``animation_spec`` data, no torch);
``explorer.ui.animation_controller`` adds keyframes, plays, exports and saves.
"""

from __future__ import annotations

import itertools

from PyQt6.QtCore import QSignalBlocker, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QIcon, QPixmap
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from explorer.engine.animation_spec import EASINGS, INTERPOLATIONS, MAX_FPS, Animation, Keyframe
from explorer.engine.recipe import Recipe
from explorer.engine.stored_latents import is_ref, source_label
from explorer.errors import UserError
from explorer.ui.qimage import to_pixmap

THUMB = 80


def keyframe_title(recipe: Recipe) -> str:
    """'seed 5  ψ 0.7' or '<latent name>  ψ 1'."""
    if any(is_ref(s) for s in recipe.seeds):
        what = source_label(recipe.seeds[0], recipe.latents)
    else:
        what = 'seed ' + ','.join(str(s) for s in recipe.seeds[:2]) + ('…' if len(recipe.seeds) > 2 else '')
    extra = f' +{len(recipe.edits)} edit' + ('s' if len(recipe.edits) > 1 else '') if recipe.edits else ''
    return f'{what}  ψ {recipe.psi:g}{extra}'


def _blank() -> QPixmap:
    pm = QPixmap(THUMB, THUMB)
    pm.fill(Qt.GlobalColor.darkGray)
    return pm


class AnimationPanel(QWidget):
    addCurrent = pyqtSignal()
    favouritesMenu = pyqtSignal(object)     # QMenu about to show: the controller fills it
    latentsMenu = pyqtSignal(object)        # QMenu about to show: the controller fills it
    restoreRequested = pyqtSignal(object)   # Recipe of a double-clicked keyframe
    edited = pyqtSignal()                   # keyframes, timing or playback settings changed
    playToggled = pyqtSignal(bool)
    exportRequested = pyqtSignal()
    saveRequested = pyqtSignal()
    openRequested = pyqtSignal()
    cancelRequested = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.keyframes: list[Keyframe] = []
        self.uids: list[int] = []           # one id per keyframe: thumbnails arrive by id
        self.exporting = False
        self._uid = itertools.count(1)
        lay = QVBoxLayout(self)

        add = QHBoxLayout()
        self.add_btn = QPushButton('Add current state')
        self.add_btn.setToolTip('Add the image on screen (every setting that made it) as the next keyframe')
        self.fav_btn = QToolButton()
        self.fav_btn.setText('Add favourite')
        self.lat_btn = QToolButton()
        self.lat_btn.setText('Add stored latent')
        for btn, sig in ((self.fav_btn, self.favouritesMenu), (self.lat_btn, self.latentsMenu)):
            menu = QMenu(btn)
            menu.aboutToShow.connect(lambda m=menu, s=sig: s.emit(m))
            btn.setMenu(menu)
            btn.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.lat_btn.setToolTip('A stored latent as the base, with the current truncation, noise and edits')
        add.addWidget(self.add_btn)
        add.addWidget(self.fav_btn)
        add.addWidget(self.lat_btn)
        add.addStretch(1)
        lay.addLayout(add)

        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setFlow(QListView.Flow.LeftToRight)
        self.list.setWrapping(True)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setSpacing(4)
        self.list.setMinimumHeight(THUMB + 60)
        self.list.setMaximumHeight(2 * (THUMB + 60))     # two rows show; more scroll
        self.list.setToolTip('The timeline, left to right. Double-click a keyframe to show it.')
        lay.addWidget(self.list)

        order = QHBoxLayout()
        self.left_btn = QPushButton('◀ Earlier')
        self.right_btn = QPushButton('Later ▶')
        self.remove_btn = QPushButton('Remove')
        self.clear_btn = QPushButton('Clear')
        for b in (self.left_btn, self.right_btn, self.remove_btn, self.clear_btn):
            order.addWidget(b)
        order.addStretch(1)
        lay.addLayout(order)

        seg = QGroupBox('Selected keyframe')
        form = QFormLayout(seg)
        self.hold = QDoubleSpinBox()
        self.hold.setRange(0.0, 600.0)
        self.hold.setSingleStep(0.25)
        self.hold.setSuffix(' s')
        self.duration = QDoubleSpinBox()
        self.duration.setRange(0.0, 600.0)
        self.duration.setSingleStep(0.25)
        self.duration.setSuffix(' s')
        self.duration.setValue(1.0)
        self.easing = QComboBox()
        self.easing.addItems(list(EASINGS))
        form.addRow('Hold on it', self.hold)
        form.addRow('Move to the next', self.duration)
        form.addRow('Easing of the move', self.easing)
        lay.addWidget(seg)
        self.segment_box = seg

        play = QGroupBox('Playback')
        grid = QGridLayout(play)
        self.fps = QDoubleSpinBox()
        self.fps.setRange(1.0, MAX_FPS)
        self.fps.setDecimals(2)
        self.fps.setValue(30.0)
        self.fps.setSuffix(' fps')
        self.loop = QCheckBox('Loop (the last keyframe moves back to the first)')
        self.interp = QComboBox()
        self.interp.addItems(list(INTERPOLATIONS))
        self.interp.setToolTip('w+: blend the final styles of the keyframes; z: slerp the seeds\' z '
                               '(plain seed keyframes only)')
        self.length = QLabel('')
        grid.addWidget(QLabel('Frame rate'), 0, 0)
        grid.addWidget(self.fps, 0, 1)
        grid.addWidget(QLabel('Interpolation'), 0, 2)
        grid.addWidget(self.interp, 0, 3)
        grid.addWidget(self.loop, 1, 0, 1, 4)
        grid.addWidget(self.length, 2, 0, 1, 4)
        self.play_btn = QPushButton('▶ Play')
        self.play_btn.setCheckable(True)
        self.play_status = QLabel('')
        self.play_status.setWordWrap(True)
        grid.addWidget(self.play_btn, 3, 0)
        grid.addWidget(self.play_status, 3, 1, 1, 3)
        lay.addWidget(play)

        files = QHBoxLayout()
        self.export_btn = QPushButton('Export video…')
        self.save_btn = QPushButton('Save animation…')
        self.open_btn = QPushButton('Open animation…')
        self.save_btn.setToolTip('The animation JSON: python main.py video --keyframes FILE --out F.mp4 renders it')
        for b in (self.export_btn, self.save_btn, self.open_btn):
            files.addWidget(b)
        files.addStretch(1)
        lay.addLayout(files)
        prog = QHBoxLayout()
        self.progress = QProgressBar()
        self.eta = QLabel('')
        self.cancel_btn = QPushButton('Cancel')
        prog.addWidget(self.progress, 1)
        prog.addWidget(self.eta)
        prog.addWidget(self.cancel_btn)
        lay.addLayout(prog)
        lay.addStretch(1)
        for w in (self.progress, self.eta, self.cancel_btn):
            w.setVisible(False)

        self.add_btn.clicked.connect(self.addCurrent)
        self.left_btn.clicked.connect(lambda: self.move_selected(-1))
        self.right_btn.clicked.connect(lambda: self.move_selected(1))
        self.remove_btn.clicked.connect(self.remove_selected)
        self.clear_btn.clicked.connect(self.clear)
        self.list.currentRowChanged.connect(self._show_segment)
        self.list.currentRowChanged.connect(lambda _: self._refresh())
        self.list.itemDoubleClicked.connect(
            lambda it: self.restoreRequested.emit(self.keyframes[self.list.row(it)].recipe))
        self.hold.valueChanged.connect(self._segment_edited)
        self.duration.valueChanged.connect(self._segment_edited)
        self.easing.currentTextChanged.connect(self._segment_edited)
        for w in (self.fps.valueChanged, self.loop.toggled, self.interp.currentTextChanged):
            w.connect(self._changed)
        self.play_btn.toggled.connect(self._play_toggled)
        self.export_btn.clicked.connect(self.exportRequested)
        self.save_btn.clicked.connect(self.saveRequested)
        self.open_btn.clicked.connect(self.openRequested)
        self.cancel_btn.clicked.connect(self.cancelRequested)
        self._refresh()

    # ------------------------------------------------------------------ window panel protocol
    def set_model(self, info) -> None:
        """Keyframes stay (an animation made on another model is refused when it plays)."""

    def set_recipe(self, recipe) -> None:
        """The window's recipe changed (a control moved, undo, a restore): stop playing."""
        self.set_playing(False)

    # ------------------------------------------------------------------ the keyframe list
    def add_keyframe(self, recipe: Recipe, thumb=None, hold: float = 0.0, duration: float = 1.0,
                     easing: str = 'linear') -> int:
        """Append a keyframe; ``thumb``: uint8 HWC frame or QPixmap (None: grey until ``set_thumb``).
        -> its id."""
        kf = Keyframe(recipe.replace(checkpoint='', checkpoint_sha256=''), hold, duration, easing)
        uid = next(self._uid)
        self.keyframes.append(kf)
        self.uids.append(uid)
        item = QListWidgetItem(QIcon(_blank()), '')
        self.list.addItem(item)
        if thumb is not None:
            self.set_thumb(uid, thumb)
        self._refresh()
        self.list.setCurrentRow(len(self.keyframes) - 1)
        self._changed()
        return uid

    def set_thumb(self, uid: int, thumb) -> bool:
        if uid not in self.uids:
            return False        # removed meanwhile
        pm = thumb if isinstance(thumb, QPixmap) else to_pixmap(thumb, THUMB)
        self.list.item(self.uids.index(uid)).setIcon(QIcon(pm.scaled(
            THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)))
        return True

    def thumb(self, k: int):
        return self.list.item(k).icon()

    def move(self, k: int, delta: int) -> None:
        j = k + delta
        if not (0 <= k < len(self.keyframes) and 0 <= j < len(self.keyframes)):
            return
        for xs in (self.keyframes, self.uids):
            xs[k], xs[j] = xs[j], xs[k]
        icon_k, icon_j = self.list.item(k).icon(), self.list.item(j).icon()
        self.list.item(k).setIcon(icon_j)
        self.list.item(j).setIcon(icon_k)
        self._refresh()
        self.list.setCurrentRow(j)
        self._changed()

    def move_selected(self, delta: int) -> None:
        self.move(self.list.currentRow(), delta)

    def remove(self, k: int) -> None:
        if not 0 <= k < len(self.keyframes):
            return
        del self.keyframes[k], self.uids[k]
        self.list.takeItem(k)
        self._refresh()
        self._changed()

    def remove_selected(self) -> None:
        self.remove(self.list.currentRow())

    def clear(self) -> None:
        self.keyframes.clear()
        self.uids.clear()
        self.list.clear()
        self._refresh()
        self._changed()

    def set_segment(self, k: int, hold=None, duration=None, easing=None) -> None:
        """Edit keyframe ``k``'s hold, its move's duration (seconds) and easing."""
        kf = self.keyframes[k]
        self.keyframes[k] = Keyframe(kf.recipe, kf.hold if hold is None else hold,
                                     kf.duration if duration is None else duration,
                                     kf.easing if easing is None else easing)
        if k == self.list.currentRow():
            self._show_segment(k)
        self._refresh()
        self._changed()

    # ------------------------------------------------------------------ the animation
    def seconds(self) -> float:
        """The length: every hold, and every move that plays (an open path ends on the last keyframe)."""
        loop = self.loop.isChecked()
        n = len(self.keyframes)
        return sum(kf.hold + (kf.duration if loop or k < n - 1 else 0.0) for k, kf in enumerate(self.keyframes))

    def animation(self, fps: float | None = None) -> Animation:
        """The animation on the timeline (UserError when it cannot play: too few keyframes, no length)."""
        if len(self.keyframes) < 2:
            raise UserError('add at least two keyframes')
        seconds = self.seconds()
        if seconds <= 0:
            raise UserError('the animation has no length: give a move or a hold a duration')
        return Animation(keyframes=tuple(self.keyframes), seconds=round(seconds, 6),
                         fps=float(self.fps.value() if fps is None else fps), loop=self.loop.isChecked(),
                         interpolation=self.interp.currentText(), name='keyframes')

    def set_animation(self, anim: Animation) -> list:
        """Show ``anim`` (e.g. read from a file; its pieces are scaled so they add up to its
        length in seconds). -> the new keyframes' ids (their thumbnails are to come)."""
        self.set_playing(False)
        with QSignalBlocker(self):
            self.clear()
            total = sum(anim._weights())
            scale = anim.seconds / total if total > 0 else 1.0
            with QSignalBlocker(self.fps), QSignalBlocker(self.loop), QSignalBlocker(self.interp):
                self.fps.setValue(anim.fps)
                self.loop.setChecked(anim.loop)
                self.interp.setCurrentText(anim.interpolation)
            uids = [self.add_keyframe(kf.recipe, hold=kf.hold * scale, duration=kf.duration * scale,
                                      easing=kf.easing) for kf in anim.keyframes]
        self._refresh()
        self._changed()
        return uids

    # ------------------------------------------------------------------ play / export state
    def set_playing(self, on: bool) -> None:
        if self.play_btn.isChecked() != on:
            self.play_btn.setChecked(on)        # emits playToggled through _play_toggled

    def set_exporting(self, on: bool) -> None:
        self.exporting = bool(on)
        for w in (self.progress, self.eta, self.cancel_btn):
            w.setVisible(on)
        if on:
            self.set_playing(False)
        self._refresh()

    def set_progress(self, done: int, total: int, text: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.eta.setText(text)

    # ------------------------------------------------------------------ internals
    def _play_toggled(self, on: bool) -> None:
        self.play_btn.setText('❚❚ Pause' if on else '▶ Play')
        self.playToggled.emit(on)

    def _show_segment(self, k: int) -> None:
        ok = 0 <= k < len(self.keyframes)
        self.segment_box.setEnabled(ok)
        if not ok:
            return
        kf = self.keyframes[k]
        with QSignalBlocker(self.hold), QSignalBlocker(self.duration), QSignalBlocker(self.easing):
            self.hold.setValue(kf.hold)
            self.duration.setValue(kf.duration)
            self.easing.setCurrentText(kf.easing)
        last = k == len(self.keyframes) - 1
        self.duration.setToolTip('The last keyframe moves back to the first only when looping' if last else '')

    def _segment_edited(self, *_):
        k = self.list.currentRow()
        if 0 <= k < len(self.keyframes):
            self.set_segment(k, self.hold.value(), self.duration.value(), self.easing.currentText())

    def _changed(self, *_):
        self.set_playing(False)
        self._refresh()
        self.edited.emit()

    def _refresh(self) -> None:
        n = len(self.keyframes)
        loop = self.loop.isChecked()
        for k, kf in enumerate(self.keyframes):
            moves = loop or k < n - 1
            nxt = (k + 1) % n + 1
            timing = (f'hold {kf.hold:g} s, ' if kf.hold else '') + (
                f'→{nxt} {kf.duration:g} s {kf.easing}' if moves else 'end')
            item = self.list.item(k)
            item.setText(f'{k + 1} · {keyframe_title(kf.recipe)}\n{timing}')
            item.setToolTip(kf.recipe.to_json())
        seconds = self.seconds()
        frames = round(seconds * self.fps.value())
        self.length.setText(f'{n} keyframe{"s" if n != 1 else ""}  ·  length {seconds:g} s  ·  {frames} frames'
                            if n else 'No keyframes yet: add the current state, a favourite or a stored latent.')
        row = self.list.currentRow()
        for b in (self.left_btn, self.remove_btn):
            b.setEnabled(row >= 0 and (b is self.remove_btn or row > 0))
        self.right_btn.setEnabled(0 <= row < n - 1)
        self.clear_btn.setEnabled(n > 0)
        playable = n >= 2 and seconds > 0
        self.play_btn.setEnabled(playable and not self.exporting)
        self.save_btn.setEnabled(playable)
        self.export_btn.setEnabled(playable and not self.exporting)
        self.segment_box.setEnabled(0 <= row < n)
