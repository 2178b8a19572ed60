"""Keep the current recipe when another model loads, minus what that model cannot take (plain Python)."""

from __future__ import annotations


def reconcile_recipe(recipe, info) -> dict:
    """The recipe fields to change so that ``recipe`` (a ``Recipe``) fits the model ``info``
    (a ``ModelInfo``: ``num_ws``, ``c_dim``): per-layer settings of another layer count are
    dropped (a per-layer mix drops its mix seeds too), a cutoff past the last layer becomes
    "all layers", and the class follows the model (none, or a valid index: 0 by default).
    -> ``{field: new value}``, empty when it fits as it is (``recipe.replace(**changes)``)."""
    changes = {}
    for name in ('layer_noise', 'layer_source', 'layer_blend'):
        v = getattr(recipe, name)
        if v is not None and len(v) != info.num_ws:
            changes[name] = None
    if 'layer_source' in changes or 'layer_blend' in changes:
        changes.update(layer_source=None, layer_blend=None, mix_seeds=())
    if recipe.cutoff is not None and recipe.cutoff > info.num_ws:
        changes['cutoff'] = None
    if info.c_dim == 0 and recipe.class_idx is not None:
        changes['class_idx'] = None
    if info.c_dim > 0 and (recipe.class_idx is None or recipe.class_idx >= info.c_dim):
        changes['class_idx'] = 0
    return changes
