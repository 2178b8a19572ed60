"""Image maths for what the viewer shows, not what it exports (numpy only, no Qt, no torch).

The noise-detail view shows |image - image without noise|. What noise adds is often tiny
(the default 64 px model: about 0.1 of a grey level on average, 1-2 levels at the 99.5th
percentile), so a fixed gain shows black on one model and saturates on another. The gain
is chosen per frame from the difference itself: the ``NOISE_PERCENTILE``-th percentile of
the difference maps to white (so about 0.5% of the values saturate), never below 1 (no
attenuation) and never above ``NOISE_MAX_GAIN``. The viewer shows the gain it used.
"""

from __future__ import annotations

import numpy as np

NOISE_PERCENTILE = 99.5         # this percentile of |difference| maps to white (255)
NOISE_MAX_GAIN = 1000.0         # a difference of a thousandth of a level or less is not shown
NOISE_EPS = 1e-3                # levels: a difference below this is rounding, not noise
_MAX_SAMPLES = 1 << 20          # percentile over at most this many values (a strided sample)


def auto_gain(diff, percentile: float = NOISE_PERCENTILE, max_gain: float = NOISE_MAX_GAIN) -> float:
    """The gain that maps the ``percentile``-th percentile of ``|diff|`` (in 8-bit levels) to
    255, clamped to [1, max_gain]. When fewer values than (100 - percentile)% differ (detail
    in a small region), the largest difference maps to 255 instead. 1.0 when nothing differs
    by more than NOISE_EPS (no noise: the view is black, with no gain to speak of)."""
    a = np.abs(np.asarray(diff, dtype=np.float32)).ravel()
    if a.size == 0:
        return 1.0
    if a.size > _MAX_SAMPLES:
        a = a[::-(-a.size // _MAX_SAMPLES)]
    ref = float(np.percentile(a, percentile))
    if ref <= NOISE_EPS:
        ref = float(a.max())
    if not np.isfinite(ref) or ref <= NOISE_EPS:
        return 1.0
    return float(min(max(255.0 / ref, 1.0), max_gain))


def noise_detail(image, plain, gain: float | None = None):
    """What the noise adds, for display: ``|image - plain| x gain`` -> (uint8 [H, W, C], gain).

    image, plain: the same recipe with and without noise, float [H, W, C] in 8-bit levels
    (0..255, before rounding to uint8, so sub-level detail survives). gain: None chooses it
    with ``auto_gain``."""
    diff = np.abs(np.asarray(image, dtype=np.float32) - np.asarray(plain, dtype=np.float32))
    if gain is None:
        gain = auto_gain(diff)
    display = np.clip(diff * np.float32(gain) + 0.5, 0, 255).astype(np.uint8)
    return display, float(gain)


def format_gain(gain: float) -> str:
    """'×4', '×37', '×1.5': the gain as the viewer shows it."""
    gain = float(gain)
    return f'×{gain:.0f}' if gain >= 10 or gain == round(gain) else f'×{gain:.1f}'
