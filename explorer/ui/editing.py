"""The editing tabs of the controls column: Directions, Animation and Drag (issues #16, #18, #19).

Each concern's work lives in its controller (``directions_controller``, ``animation_controller``,
``drag_controller``); this module only adds their panels to the window and connects them the way
every panel is connected (``changed`` -> ``apply_changes``, ``set_recipe`` through ``win.panels``).
"""

from __future__ import annotations

from explorer.ui.animation_controller import AnimationController
from explorer.ui.directions_controller import DirectionsController
from explorer.ui.drag_controller import DragController


def attach_editing_tabs(win, scrolled) -> None:
    """Sets ``win.directions`` (+ ``directions_panel``), ``win.animation`` (+ ``animation_panel``) and
    ``win.drag``. ``scrolled`` wraps a panel in the window's scroll area."""
    # Directions: semantic edit sliders writing Recipe.edits; directions and sweep strips are
    # computed in the render worker.
    win.directions = DirectionsController(win, win.worker)
    win.directions_panel = win.directions.panel
    win.controls.addTab(win.directions_panel, 'Directions')
    win.panels.append(win.directions_panel)
    win.directions_panel.changed.connect(win.apply_changes)
    win.modelLoaded.connect(win.directions.model_loaded)
    # Animation: keyframe timeline, Play in the view, video export, animation JSON.
    win.animation = AnimationController(win)
    win.animation_panel = win.animation.panel
    win.controls.addTab(win.animation_panel, 'Animation')
    win.panels.append(win.animation_panel)      # set_recipe: a control changed -> stop playing
    # Drag: DragGAN-style point dragging on the main view (points, mask, overlay, the drag job).
    win.drag = DragController(win)
    win.controls.addTab(scrolled(win.drag.panel), 'Drag')
