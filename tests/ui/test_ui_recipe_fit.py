"""reconcile_recipe (explorer.ui.recipe_fit): the recipe kept across a model change; no Qt."""

from types import SimpleNamespace

from explorer.engine.recipe import Recipe
from explorer.ui.recipe_fit import reconcile_recipe


def model(num_ws=6, c_dim=0):
    return SimpleNamespace(num_ws=num_ws, c_dim=c_dim)


def test_a_recipe_that_fits_is_kept():
    r = Recipe(seeds=(5,), psi=0.7, cutoff=6, layer_noise=(1.0,) * 6, mix_seeds=(9,),
               layer_source=(0, 0, -1, -1, -1, -1), layer_blend=(1.0,) * 6)
    assert reconcile_recipe(r, model(6)) == {}
    assert reconcile_recipe(Recipe(), model(14)) == {}


def test_per_layer_noise_of_another_layer_count_is_dropped():
    r = Recipe(layer_noise=(0.5,) * 6, mix_seeds=(9,), layer_source=(0,) * 8, layer_blend=(1.0,) * 8)
    assert reconcile_recipe(r, model(8)) == {'layer_noise': None}


def test_a_per_layer_mix_of_another_layer_count_is_dropped_with_its_seeds():
    r = Recipe(mix_seeds=(9,), layer_source=(0, 0, -1, -1, -1, -1), layer_blend=(1.0,) * 6)
    changes = {'layer_source': None, 'layer_blend': None, 'mix_seeds': ()}
    assert reconcile_recipe(r, model(8)) == changes
    fitted = r.replace(**changes)
    assert fitted.mix_seeds == () and fitted.layer_source is None and reconcile_recipe(fitted, model(8)) == {}


def test_cutoff_past_the_last_layer_means_all_layers():
    assert reconcile_recipe(Recipe(cutoff=10), model(8)) == {'cutoff': None}
    assert reconcile_recipe(Recipe(cutoff=8), model(8)) == {}


def test_class_follows_the_model():
    assert reconcile_recipe(Recipe(class_idx=3), model(c_dim=0)) == {'class_idx': None}
    assert reconcile_recipe(Recipe(), model(c_dim=10)) == {'class_idx': 0}
    assert reconcile_recipe(Recipe(class_idx=12), model(c_dim=10)) == {'class_idx': 0}
    assert reconcile_recipe(Recipe(class_idx=9), model(c_dim=10)) == {}
