"""StyleGAN Explorer: a latent-space explorer for style-based generators.

Public API (mirrors NVIDIA's calling conventions)::

    import explorer
    G = explorer.load_generator(path_or_url, device=None)
    ws = G.mapping(z, c, truncation_psi=0.7, truncation_cutoff=None)
    img = G.synthesis(ws, noise_mode='const')
"""

from explorer.version import __version__  # noqa: F401 (the package's public version)


def load_generator(path_or_url=None, device=None, progress=None):
    """Load a generator (G_ema, eval mode) from a path or http(s) URL; None = default model."""
    from explorer.engine.checkpoint import load_generator as _load
    return _load(path_or_url, device=device, progress=progress)


def __getattr__(name):
    if name == 'Recipe':
        from explorer.engine.recipe import Recipe
        return Recipe
    raise AttributeError(name)
