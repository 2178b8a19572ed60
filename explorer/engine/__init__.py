"""The engine: networks, checkpoints, latents, rendering and export. No Qt here."""
