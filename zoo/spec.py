"""`EncoderSpec`: the facts about one catalogue entry, as plain data."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from zoo.errors import InputError

# Normalisations an encoder may expect of its [0, 1] float input; applied inside the model by
# `zoo.layers.Rescale`, so a saved encoder always takes [0, 1] faces.
NORMALIZATIONS = {
    "unit": (0.0, 1.0),            # x
    "symmetric": (0.5, 0.5),       # (x - 0.5) / 0.5  -> [-1, 1]
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "pixels": (0.0, 1 / 255.0),    # x * 255 (backbones with built-in preprocessing)
}

from fzcore.formats import ALIGNMENT_TEMPLATE, INFO_ATTR  # noqa: E402  (their one home is the shared core)


@dataclass(frozen=True)
class EncoderSpec:
    """One encoder of the catalogue: architecture, I/O contract, and where its weights live.

    Attributes:
        name: registry name, `family-face[-vN]`; what users pass to `zoo.load_encoder`.
        family: builder family in `zoo.encoders` (e.g. "efficientnetv2").
        variant: the family's variant row (e.g. "b0").
        input_size: default square input size in pixels.
        channels: input channels (3, RGB).
        normalization: key of `NORMALIZATIONS`: how [0, 1] input is scaled inside the model.
        feature_stride: input pixels per feature-map cell; feature shape is (size/stride, size/stride, C).
        feature_channels: channels of the feature map.
        repo_id: hub repository holding the released weights.
        revision: pinned hub revision (commit id or tag) or None when unpinned.
        sha256: pinned sha256 of released files ({filename: hex}); `load_encoder` refuses a mismatch.
        license: license of the weights.
        corpus: one-line summary of the training data of the pinned weights.
        description: one line for `facezoo encoders list`.
        alignment: alignment template the encoder expects faces aligned to.
        tags: free-form tags (searchable).
    """

    name: str
    family: str
    variant: str
    input_size: int
    feature_stride: int
    feature_channels: int
    description: str
    normalization: str = "unit"
    channels: int = 3
    repo_id: str = ""
    revision: str | None = None
    sha256: dict = field(default_factory=dict)
    license: str = "apache-2.0"
    corpus: str = "not yet published: pretrain with `facezoo pretrain ... --publish`"
    alignment: str = ALIGNMENT_TEMPLATE
    tags: tuple = ()

    def __post_init__(self):
        if self.normalization not in NORMALIZATIONS:
            raise InputError(f"EncoderSpec {self.name!r}: normalization must be one of "
                             f"{sorted(NORMALIZATIONS)}. Received: normalization={self.normalization!r}")
        if not self.repo_id:
            object.__setattr__(self, "repo_id", f"facezoo/{self.name}")

    def feature_shape(self, input_size: int | None = None) -> tuple[int, int, int]:
        size = input_size or self.input_size
        cells = max(1, -(-size // self.feature_stride))
        return (cells, cells, self.feature_channels)

    def replace(self, **changes) -> "EncoderSpec":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["tags"] = list(self.tags)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "EncoderSpec":
        known = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        data["tags"] = tuple(data.get("tags", ()))
        return cls(**data)


@dataclass(frozen=True)
class EncoderInfo:
    """What a facezoo encoder model carries about itself (cf. timm's `pretrained_cfg`).

    `zoo.build_encoder` and `zoo.load_encoder` attach one to the model they return (read it with
    `zoo.encoder_info(model)`), so the trainer, `zoo.encoder_blocks` and `resize_encoder` read the
    family and the release from the model instead of pulling again, parsing `model.name` or guessing
    a family from layer names. A swap model saves it in its config, so a run folder keeps it.

    Attributes:
        spec: the `EncoderSpec` of the architecture (None for a foreign Keras model).
        repo_id: hub repository the weights came from (None: built here or loaded from a path).
        revision: the immutable 40-hex commit the weights were pulled at (resolved once, by the loader).
        manifest: the release's verified `facezoo.json` ({} when there is none).
        path: the local file or folder the weights were loaded from, if any.
        preset: the weight preset (`ENTRY.TAG`, `zoo.presets.Preset`) the weights are, if any.
    """

    spec: EncoderSpec | None = None
    repo_id: str | None = None
    revision: str | None = None
    manifest: dict = field(default_factory=dict)
    path: str | None = None
    preset: str | None = None

    @property
    def pretrained(self) -> bool:
        return bool(self.repo_id or self.path)

    def to_dict(self) -> dict:
        return {"spec": self.spec.to_dict() if self.spec else None, "repo_id": self.repo_id,
                "revision": self.revision, "manifest": self.manifest, "path": self.path, "preset": self.preset}

    def release_facts(self, model) -> dict:
        """What a release's facezoo.json says about `model`, the encoder carrying this info: input size,
        feature shape, parameters and, with a spec, the spec at the model's size, its normalisation and
        alignment. `hub.publish` calls this through `fzcore.formats.INFO_ATTR` (so it never imports zoo);
        `zoo.publishing.encoder_metadata` starts from it."""
        size = int(model.input_shape[1])
        facts = {"input_size": size, "feature_shape": [int(d) for d in model.output_shape[1:]],
                 "input_range": [0.0, 1.0], "parameters": int(model.count_params())}
        if self.spec is not None:
            spec = self.spec if self.spec.input_size == size else self.spec.replace(input_size=size)
            facts.update(spec=spec.to_dict(), normalization=spec.normalization, alignment_template=spec.alignment)
        return facts

    @classmethod
    def from_dict(cls, data: dict | None) -> "EncoderInfo | None":
        if not data:
            return None
        spec = spec_from_dict(data.get("spec"))
        return cls(spec=spec, repo_id=data.get("repo_id"), revision=data.get("revision"),
                   manifest=dict(data.get("manifest") or {}), path=data.get("path"), preset=data.get("preset"))



def spec_from_dict(data) -> EncoderSpec | None:
    """An `EncoderSpec` from a manifest's or a config's "spec" entry; None when absent or not a spec."""
    if not isinstance(data, dict):
        return None
    try:
        return EncoderSpec.from_dict(data)
    except (TypeError, ValueError):
        return None


def encoder_info(model) -> EncoderInfo | None:
    """The `EncoderInfo` a facezoo encoder carries; None for a model facezoo did not build or load."""
    return getattr(model, INFO_ATTR, None)


def attach_info(model, info: EncoderInfo | None):
    """Attach `info` to `model` (returned, for chaining)."""
    if info is not None:
        object.__setattr__(model, INFO_ATTR, info)
    return model
