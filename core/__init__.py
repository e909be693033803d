"""The core layer: what every other layer shares, with no dependency beyond the standard library.

Layers, lowest first (import-linter checks them, tests/unit/test_layers.py):
core  ←  scaffolds (the project on disk), infra (the clouds)  ←  tui (the CLI and the Textual app).
``core`` never imports the layers above it.
"""
