"""Encoder families: one builder function per family, variants are rows of a table.

Each family module registers, on import, its families (`zoo.registry.register_family`: builder and
block pattern), its catalogue rows (`SPECS`) and its weight presets (`PRESETS`, data rows pinning
released files by sha256; shipped files live under `zoo/encoders/presets/`). `import zoo` imports this
package (no Keras: the builders import it when called), so the built-ins are registered before any
lookup and a user's `zoo.register(...)` only adds to them. Read families, entries and presets from
`zoo.registry`, the one place that holds them.

Modules: `applications` (keras.applications backbones), `fs_original` (faceswap's classic encoder).
"""
from zoo.encoders import applications, fs_original  # noqa: F401  (each registers its rows)
