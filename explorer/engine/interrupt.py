"""Stopping a long render between layers: ``interrupt()`` is asked before each layer and
a true answer raises ``explorer.engine.progress.Cancelled`` (the GUI worker: a newer
request is waiting). ``checker`` serves the StyleGAN2 plan's own loop; ``interruptible``
does the same for a plain ``G.synthesis`` call (the exact path, StyleGAN1/3)."""

from __future__ import annotations

import contextlib

import torch

from explorer.engine.progress import Cancelled


def checker(interrupt):
    """A no-argument function that raises ``Cancelled`` once ``interrupt()`` is true."""
    if interrupt is None:
        return lambda: None

    def check():
        if interrupt():
            raise Cancelled()
    return check


@contextlib.contextmanager
def interruptible(module: torch.nn.Module, interrupt=None):
    """While inside, the submodules of ``module`` down to two levels (the blocks and their
    layers) ask ``interrupt()`` before they run and raise ``Cancelled`` when it returns True:
    stops a long ``G.synthesis`` call between layers (StyleGAN3/StyleGAN1 and the exact path)
    without changing the networks. (Deeper modules add calls, not useful stopping points.)"""
    if interrupt is None:
        yield
        return
    check = checker(interrupt)
    handles = [m.register_forward_pre_hook(lambda _m, _a: check())
               for name, m in module.named_modules() if name and name.count('.') <= 1]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
