"""Group an encoder's layers into the backbone's own blocks, for "unfreeze the top k blocks".

Blocks are the family's natural units (EfficientNet MBConv blocks, ResNet bottlenecks, ConvNeXt
blocks, MobileNet inverted residuals, faceswap conv blocks). Layers between blocks (stem, head,
unnamed activations) join the block before them; the stem joins the first block.

The family comes from the spec the encoder carries (`zoo.encoder_info`, attached by `build_encoder`
and `load_encoder`). Only a foreign Keras model, which carries none, has its family inferred from
its layer names.
"""
from __future__ import annotations

import re
from zoo.errors import InputError


def _block_patterns() -> dict:
    """{family: block pattern} of the registered families that have blocks."""
    from zoo.registry import families

    return {name: fam.block_pattern for name, fam in families().items() if fam.block_pattern}


def _family_pattern(model) -> str:
    from zoo.spec import encoder_info

    patterns = _block_patterns()

    info = encoder_info(model)
    if info is not None and info.spec is not None:
        pattern = patterns.get(info.spec.family)
        if pattern is None:
            raise InputError(f"Encoder {info.spec.name!r} is of family {info.spec.family!r}, which has no "
                             f"block pattern (families with blocks: {', '.join(sorted(patterns))}). "
                             "Use a name pattern stage (e.g. 'pattern:conv*') instead.")
        return pattern
    return _guess_pattern(model)


def _guess_pattern(model) -> str:
    """The block pattern with the most layer-name hits, for a Keras model that carries no spec."""
    patterns = _block_patterns()

    names = [layer.name for layer in model.layers]
    best, best_hits = None, 0
    for pattern in patterns.values():
        hits = sum(1 for n in names if re.search(pattern, n))
        if hits > best_hits:
            best, best_hits = pattern, hits
    if best is None:
        raise InputError(f"Cannot find backbone blocks in encoder {model.name!r}: no layer name matches "
                         f"a known block pattern ({', '.join(sorted(set(patterns.values())))}). "
                         "Use a name pattern stage (e.g. 'pattern:conv*') instead.")
    return best


def encoder_blocks(model) -> list[tuple[str, list]]:
    """Ordered [(block_name, [layers])], bottom (input side) first."""
    pattern = _family_pattern(model)
    blocks: list[tuple[str, list]] = []
    stem: list = []
    for layer in model.layers:
        match = re.search(pattern, layer.name)
        if match:
            name = match.group(1)
            if not blocks or blocks[-1][0] != name:
                blocks.append((name, []))
            blocks[-1][1].append(layer)
        elif blocks:
            blocks[-1][1].append(layer)
        else:
            stem.append(layer)
    if blocks:
        blocks[0] = (blocks[0][0], stem + blocks[0][1])
    return blocks
