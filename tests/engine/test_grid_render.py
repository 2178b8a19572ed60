"""Rendering the mixing grid's tiles (engine.mixing.iter_grid through Session.render_grid_iter):
StyleGAN3's input transform per tile, and stopping between tiles or layers."""

import numpy as np
import pytest
import torch

from explorer.engine.checkpoint import save_generator
from explorer.engine.grid_spec import GridSpec, cell_recipe
from explorer.engine.mixing import iter_grid
from explorer.engine.progress import Cancelled
from explorer.engine.recipe import Recipe
from explorer.engine.session import Session


@pytest.fixture
def sg3_session(tmp_path, one_thread):
    """A Session on a tiny random StyleGAN3 generator (config T, 16 px)."""
    from explorer.engine import networks_stylegan3 as sg3
    torch.manual_seed(0)
    G = sg3.Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, channel_base=128,
                      channel_max=16, num_layers=4, mapping_kwargs=dict(num_layers=2)).eval()
    eng = Session('cpu')
    assert eng.load(save_generator(G, tmp_path / 'sg3.pt')).family == 'stylegan3'
    return eng


SPEC = GridSpec(rows=(1, 2), cols=(3,), layers=(0, 1, 2), psi=0.7)


def test_stylegan3_tiles_keep_their_transform_when_views_render_between_them(sg3_session):
    """The window renders Explore's view (translated and rotated) between two grid tiles: every
    tile still renders at rest, as its cell recipe does, and the view with its own transform."""
    eng = sg3_session
    view = Recipe(seeds=(7,), translate=(0.25, -0.125), rotate=30.0)
    alone, _ = eng.render(view)
    at_rest, _ = eng.render(view.replace(translate=(0.0, 0.0), rotate=0.0))
    assert not np.array_equal(alone, at_rest)       # the transform shows in the pixels
    tiles = {}
    for kind, r, c, img in eng.render_grid_iter(SPEC):
        tiles[(kind, r, c)] = img
        frame, _ = eng.render(view)                 # a view render between two tiles
        assert np.array_equal(frame, alone), (kind, r, c)
    assert len(tiles) == 2 + 1 + 2
    for r, row in enumerate(SPEC.rows):
        for c, col in enumerate(SPEC.cols):
            single, _ = eng.render(cell_recipe(SPEC, eng.G.num_ws, row, col))
            assert np.array_equal(tiles[('cell', r, c)], single), (r, c)
    for r, row in enumerate(SPEC.rows):
        face, _ = eng.render(Recipe(seeds=(row,), psi=SPEC.psi))
        assert np.array_equal(tiles[('row', r, -1)], face), r


def test_stylegan3_grid_after_a_transformed_render_is_at_rest(sg3_session):
    eng = sg3_session
    plain = {(k, r, c): img for k, r, c, img in iter_grid(eng.G, SPEC)}     # a fresh G: at rest
    eng.render(Recipe(seeds=(7,), translate=(0.5, 0.0), rotate=-45.0))
    after = {(k, r, c): img for k, r, c, img in iter_grid(eng.G, SPEC)}
    assert plain.keys() == after.keys()
    assert all(np.array_equal(plain[k], after[k]) for k in plain)


def test_interrupt_stops_before_a_tile_and_within_one_on_the_reference(sg3_session):
    eng = sg3_session
    spec = SPEC.replace(synthesis='ref')

    def after_two_tiles():
        return len(got) >= 2
    got = []
    with pytest.raises(Cancelled):
        for tile in eng.render_grid_iter(spec, interrupt=after_two_tiles):
            got.append(tile)
    assert len(got) == 2
    # Within a tile: asked between the layers of the reference synthesis, not only once per tile.
    calls = []

    def third_call():
        calls.append(1)
        return len(calls) >= 3
    with pytest.raises(Cancelled):
        next(iter(eng.render_grid_iter(spec, interrupt=third_call)))
    assert len(calls) == 3
