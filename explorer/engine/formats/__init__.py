"""Readers for checkpoint formats made by other code bases (NVIDIA, rosinality).

Every reader treats the file as untrusted data: pickles go through the allowlist in
``restricted_pickle``; torch files are read with ``weights_only=True``. Each reader
returns ``{'format', 'path', 'G_ema', 'G', 'D', ...}`` like ``checkpoint.read_checkpoint``.
"""
