"""What a pretraining run hands on: the encoder saved alone, and the `EncoderInfo` its release records.

The release's `facezoo.json` comes from the one builder, `zoo.publishing.encoder_metadata`, which reads
the `EncoderInfo` that `run_encoder_info` finds here.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["run_encoder_info", "save_encoder"]


def save_encoder(encoder, path) -> Path:
    """Save the encoder alone as a `.keras` file, atomically."""
    from zoo.io import atomic_path
    with atomic_path(path) as tmp:
        encoder.save(tmp)
    return Path(path)


def run_encoder_info(encoder, meta: dict, size: int):
    """The `EncoderInfo` of a pretraining run's encoder: the one it carries (built or loaded in this
    process), else the one the run recorded when it built the model (`meta["encoder_info"]`: a resumed
    run, a `--parent` run), else, for runs from before that record, the registry spec its `meta["encoder"]`
    names. Its spec is at the run's `size`; None for a run of a foreign encoder."""
    from zoo.refs import EncoderRef
    from zoo.spec import EncoderInfo, encoder_info

    info = encoder_info(encoder) or EncoderInfo.from_dict(meta.get("encoder_info"))
    if info is None and meta.get("encoder"):
        ref = EncoderRef.parse(meta["encoder"])
        if ref.registered:
            info = EncoderInfo(spec=ref.spec)
    if info is not None and info.spec is not None and info.spec.input_size != int(size):
        info = EncoderInfo(spec=info.spec.replace(input_size=int(size)), repo_id=info.repo_id,
                           revision=info.revision, manifest=info.manifest, path=info.path)
    return info
