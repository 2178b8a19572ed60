"""The session's 'exact' path renders a recipe on its own synthesis path (fast by default), says
which in its timings, and exports record the concrete path."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.engine.export import to_uint8
from explorer.engine.png import load_png, read_recipe
from explorer.engine.progress import Cancelled
from explorer.engine.recipe import Recipe
from explorer.engine.rendering import render


@pytest.fixture
def session(tiny_G, tmp_path):
    from explorer.engine.checkpoint import save_generator
    from explorer.engine.session import Session
    s = Session('cpu')
    s.load(save_generator(tiny_G, tmp_path / 't.pt'))
    return s


def test_exact_renders_the_recipe_path_and_says_which(session):
    assert session.info.synthesis_path == 'fast'
    for path, label in (('auto', 'fast fp32'), ('fast', 'fast fp32'), ('ref', 'reference')):
        recipe = Recipe(seeds=(3,), psi=0.7, synthesis=path)
        frame, t = session.render(recipe, path='exact')
        assert t['path'] == 'exact' and t['synthesis'] == label
        assert np.array_equal(frame, to_uint8(render(session.G, recipe)))
    _, t = session.render(Recipe(seeds=(3,)), path='auto')
    assert t['synthesis'] == 'fast fp32'


def test_exact_fast_path_stays_fast_and_stops_when_interrupted(session, monkeypatch):
    from explorer.engine.fast_render import FastRenderer
    recipe = Recipe(seeds=(4,))
    plain, _ = session.render(recipe, path='exact')
    calls = []
    real = FastRenderer.render
    monkeypatch.setattr(FastRenderer, 'render', lambda self, *a, **k: calls.append(k) or real(self, *a, **k))
    frame, t = session.render(recipe, path='exact', interrupt=lambda: False)
    assert np.array_equal(frame, plain) and calls and calls[-1]['interrupt'] is not None
    with pytest.raises(Cancelled):
        session.render(recipe, path='exact', interrupt=lambda: True)


@pytest.mark.parametrize('path', ['auto', 'ref'])
def test_export_png_records_the_concrete_path(session, tmp_path, path):
    recipe = Recipe(seeds=(5,), synthesis=path)
    out = tmp_path / 'x.png'
    session.export_png(out, recipe, recipe.to_dict())
    stored = Recipe.from_dict(read_recipe(out))
    assert stored.synthesis == ('fast' if path == 'auto' else 'ref')
    assert np.array_equal(load_png(out), to_uint8(render(session.G, stored)))


def test_a_model_without_a_fast_path_records_ref(session, monkeypatch, tiny_G, tmp_path):
    monkeypatch.setenv('EXPLORER_KERNELS', 'ref')
    from explorer.engine.checkpoint import save_generator
    session.load(save_generator(tiny_G, tmp_path / 'u.pt'))
    assert session.info.synthesis_path == 'ref' and session.info.fast_dtypes == ()
    _, t = session.render(Recipe(seeds=(1,)), path='exact')
    assert t['synthesis'] == 'reference'
