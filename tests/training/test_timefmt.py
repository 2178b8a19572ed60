"""The one ETA format (explorer.timefmt), used by the CLI's progress line and the Training tab."""

from __future__ import annotations

import math

import pytest

from explorer.timefmt import format_eta


@pytest.mark.parametrize('seconds, text', [
    (0, '00:00:00'),
    (59.4, '00:00:59'),
    (59.6, '00:01:00'),                 # rounded to the second
    (3725, '01:02:05'),
    (100 * 3600 + 1, '100:00:01'),      # hours are not wrapped
    (-3.0, '00:00:00'),                 # the last step overshoots the length: done, never negative
    (-0.4, '00:00:00'),
    (-86400.0, '00:00:00'),
    (None, '--:--:--'),
    (math.nan, '--:--:--'),
    (math.inf, '--:--:--'),             # no images per second yet
    (-math.inf, '--:--:--'),
])
def test_format_eta(seconds, text):
    assert format_eta(seconds) == text


def test_cli_progress_line_uses_it():
    from explorer.commands.train import ProgressBar
    p = dict(kimg=0.5, total_kimg=1.0, images_per_sec=2.0, loss_G=1.0, loss_D=1.0)
    assert 'ETA 01:02:05' in ProgressBar(stream=None).line(dict(p, eta_s=3725.2))
    assert 'ETA 00:00:00' in ProgressBar(stream=None).line(dict(p, eta_s=-7.0))
    assert 'ETA --:--:--' in ProgressBar(stream=None).line(dict(p, eta_s=math.inf))


def test_cli_eta_never_negative_after_overshooting_the_target():
    """The last step overshoots --kimg, so the remaining time is negative: it printed 'ETA -1:58:28'."""
    from explorer.commands.train import ProgressBar
    line = ProgressBar(stream=None).line(dict(kimg=0.016, total_kimg=0.01, images_per_sec=2.0, eta_s=-3.0,
                                              loss_G=0.1, loss_D=0.2))
    assert 'ETA 00:00:00' in line, line
