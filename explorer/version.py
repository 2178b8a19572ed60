"""The package version (a leaf: the UI reads it without importing the engine)."""

__version__ = '0.1.0'
