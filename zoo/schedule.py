"""`FreezeSchedule`: unfreeze the encoder in stages, by step or when the decoders' loss plateaus.

A schedule is an ordered list of stages. Each stage says which encoder layers train, when it
starts, and the encoder's learning-rate multiplier. Stages run in order: a stage's start is checked
only once the previous stage is active. The short string form (for the CLI):

    "frozen; top2@plateau; all@plateau"
    "frozen; top3@2000:lr=0.1; all@5000:lr=0.5"
    "frozen; pattern:block6*@plateau(window=100,threshold=0.02)"

    what  : frozen | none | all | topK (the top K of the backbone's own blocks) | pattern:GLOB
    @when : a step number, or plateau[(window=W,threshold=T,min_steps=M)]; the first stage starts at 0
    :opts : lr=MULT (encoder learning-rate multiplier, default 1 or 0 when frozen)

TOML form: `[[stage]]` tables with keys `trainable`, `start` (int or "plateau"), `window`,
`threshold`, `min_steps`, `lr`.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import re
from dataclasses import dataclass, field

from zoo.errors import ScheduleError

DEFAULT_WINDOW = 50
DEFAULT_THRESHOLD = 0.01

_STAGE = re.compile(
    r"^\s*(?P<what>pattern:[^@]+?|[^@:]+?)\s*(?:@\s*(?P<when>[^:]+?))?\s*(?::(?P<opts>.*))?\s*$")
_TOP = re.compile(r"^top(\d+)$")
_PLATEAU = re.compile(r"^plateau(?:\((?P<args>[^)]*)\))?$")


@dataclass(frozen=True)
class Plateau:
    """Fires when the mean loss of the last `window` steps improved by less than `threshold`
    (relative) on the mean of the `window` steps before, after at least `min_steps` in the stage."""

    window: int = DEFAULT_WINDOW
    threshold: float = DEFAULT_THRESHOLD
    min_steps: int | None = None

    def __post_init__(self):
        if self.window < 2:
            raise ScheduleError(f"plateau window must be at least 2 steps. Received: window={self.window}")
        if not 0 < self.threshold < 1:
            raise ScheduleError("plateau threshold is a relative improvement between 0 and 1 "
                                f"(e.g. 0.01 = 1%). Received: threshold={self.threshold}")

    @property
    def required_steps(self) -> int:
        return max(self.min_steps or 0, 2 * self.window)

    def fired(self, losses) -> bool:
        """`losses`: per-step losses since the stage began."""
        if len(losses) < self.required_steps:
            return False
        last = losses[-self.window:]
        prev = losses[-2 * self.window:-self.window]
        prev_mean = sum(prev) / len(prev)
        last_mean = sum(last) / len(last)
        if prev_mean <= 0:
            return True
        return (prev_mean - last_mean) / abs(prev_mean) < self.threshold


@dataclass(frozen=True)
class Stage:
    """One stage: `trainable` is "none", "all", "topK" or "pattern:GLOB"; `start` a step or Plateau."""

    trainable: str = "none"
    start: int | Plateau = 0
    lr: float | None = None

    @property
    def lr_multiplier(self) -> float:
        if self.lr is not None:
            return float(self.lr)
        return 0.0 if self.trainable == "none" else 1.0

    @property
    def top_k(self) -> int | None:
        m = _TOP.match(self.trainable)
        return int(m.group(1)) if m else None

    def describe(self) -> str:
        when = (f"step {self.start}" if isinstance(self.start, int)
                else f"plateau(window={self.start.window}, threshold={self.start.threshold})")
        return f"{trainable_label(self.trainable)} from {when}, encoder lr x{self.lr_multiplier:g}"

    def to_string(self) -> str:
        if isinstance(self.start, int):
            when = str(self.start)
        else:
            args = f"window={self.start.window},threshold={self.start.threshold}"
            if self.start.min_steps:
                args += f",min_steps={self.start.min_steps}"
            when = f"plateau({args})"
        text = f"{trainable_label(self.trainable)}@{when}"
        return text + (f":lr={self.lr:g}" if self.lr is not None else "")


def trainable_label(trainable: str) -> str:
    """How a stage's trainable set reads to people: "frozen" for the stored "none"."""
    return "frozen" if trainable == "none" else str(trainable)


def _parse_trainable(what: str, text: str) -> str:
    what = what.strip()
    low = what.lower()
    if low in ("frozen", "none", "freeze"):
        return "none"
    if low in ("all", "unfrozen", "open"):
        return "all"
    if _TOP.match(low):
        if int(_TOP.match(low).group(1)) < 1:
            raise ScheduleError(f"topK needs K >= 1 in stage {text!r}.")
        return low
    if low.startswith("pattern:") and len(what) > len("pattern:"):
        return "pattern:" + what[len("pattern:"):].strip()
    raise ScheduleError(f"Unknown stage {what!r} in {text!r}. A stage trains one of: frozen (none), all, "
                        "topK (e.g. top2: the top 2 backbone blocks), or pattern:GLOB (layer names, e.g. "
                        "pattern:block6*).")


def _parse_when(when: str | int | None, text: str, **plateau_kwargs):
    if when is None:
        return None
    if isinstance(when, int):
        return when
    when = str(when).strip().lower()
    if when.isdigit():
        return int(when)
    m = _PLATEAU.match(when)
    if not m:
        raise ScheduleError(f"Unknown start {when!r} in {text!r}: use a step number or "
                            "plateau / plateau(window=W,threshold=T,min_steps=M).")
    kwargs = dict(plateau_kwargs)
    for item in filter(None, (m.group("args") or "").split(",")):
        key, _, value = item.partition("=")
        key = key.strip()
        if key not in ("window", "threshold", "min_steps"):
            raise ScheduleError(f"Unknown plateau option {key!r} in {text!r}; valid: window, threshold, "
                                "min_steps.")
        try:
            kwargs[key] = float(value) if key == "threshold" else int(value)
        except ValueError:
            raise ScheduleError(f"Plateau option {key}={value!r} in {text!r} is not a number.") from None
    return Plateau(**{k: v for k, v in kwargs.items() if v is not None})


def _parse_opts(opts: str | None, text: str) -> dict:
    out = {}
    for item in filter(None, (opts or "").split(",")):
        key, _, value = item.partition("=")
        key = key.strip()
        if key != "lr":
            raise ScheduleError(f"Unknown stage option {key!r} in {text!r}; valid: lr=MULT.")
        try:
            out["lr"] = float(value)
        except ValueError:
            raise ScheduleError(f"lr={value!r} in {text!r} is not a number.") from None
        if out["lr"] < 0:
            raise ScheduleError(f"lr multiplier must be >= 0 in {text!r}.")
    return out


@dataclass(frozen=True)
class FreezeSchedule:
    """An ordered list of `Stage`s. Build with `FreezeSchedule.parse("frozen; top2@plateau; all@plateau")`.

    Examples:
        >>> FreezeSchedule.parse("frozen; top2@1000:lr=0.1; all@plateau")
        >>> FreezeSchedule.from_toml("schedule.toml")
        >>> FreezeSchedule.constant("all")      # train everything from step 0
    """

    stages: tuple = field(default_factory=lambda: (Stage("none", 0),))

    def __post_init__(self):
        stages = tuple(self.stages)
        object.__setattr__(self, "stages", stages)
        if not stages:
            raise ScheduleError("A schedule needs at least one stage, e.g. 'frozen' or 'all'.")
        if stages[0].start not in (0, None):
            raise ScheduleError(f"The first stage starts at step 0; received start={stages[0].start!r}. "
                                "Put a 'frozen' stage first to wait.")
        if stages[0].start is None:
            object.__setattr__(self, "stages", (dataclasses.replace(stages[0], start=0), *stages[1:]))
        last_step = 0
        for i, stage in enumerate(self.stages[1:], start=1):
            if stage.start is None:
                raise ScheduleError(f"Stage {i + 1} ({stage.trainable}) has no start: add @STEP or @plateau.")
            if isinstance(stage.start, int):
                if stage.start <= last_step:
                    raise ScheduleError(
                        f"Stage {i + 1} ({stage.trainable}) starts at step {stage.start}, which overlaps the "
                        f"stage before it (starting at step {last_step}); step starts must increase.")
                last_step = stage.start

    @classmethod
    def constant(cls, trainable: str = "all") -> "FreezeSchedule":
        return cls((Stage(_parse_trainable(trainable, trainable), 0),))

    @classmethod
    def parse(cls, text: str, *, window: int | None = None, threshold: float | None = None):
        """Parse the short form; `window`/`threshold` set defaults for bare `@plateau`."""
        if isinstance(text, FreezeSchedule):
            return text
        parts = [p for p in (text or "").split(";") if p.strip()]
        if not parts:
            raise ScheduleError(f"Empty schedule {text!r}; e.g. 'frozen; top2@plateau; all@plateau'.")
        stages = []
        for i, part in enumerate(parts):
            m = _STAGE.match(part)
            if not m:
                raise ScheduleError(f"Cannot parse stage {part.strip()!r} of schedule {text!r}.")
            trainable = _parse_trainable(m.group("what"), part.strip())
            start = _parse_when(m.group("when"), part.strip(), window=window, threshold=threshold)
            if start is None and i > 0:
                raise ScheduleError(f"Stage {part.strip()!r} needs a start (@STEP or @plateau) in {text!r}.")
            stages.append(Stage(trainable, 0 if start is None else start, **_parse_opts(m.group("opts"), part)))
        return cls(tuple(stages))

    @classmethod
    def from_toml(cls, source):
        """Parse `[[stage]]` tables from a TOML file path or string."""
        try:
            import tomllib
        except ModuleNotFoundError:  # Python < 3.11
            import tomli as tomllib
        from pathlib import Path

        text = Path(source).read_text() if "\n" not in str(source) and Path(str(source)).exists() else source
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ScheduleError(f"Schedule TOML {source!r} is invalid: {exc}") from None
        tables = data.get("stage") or data.get("stages")
        if not isinstance(tables, list) or not tables:
            raise ScheduleError("A TOML schedule needs [[stage]] tables with keys trainable, start, lr, "
                                "window, threshold, min_steps.")
        stages = []
        for i, t in enumerate(tables):
            unknown = set(t) - {"trainable", "start", "lr", "window", "threshold", "min_steps"}
            if unknown:
                raise ScheduleError(f"Unknown keys {sorted(unknown)} in [[stage]] {i + 1}.")
            label = f"[[stage]] {i + 1}"
            trainable = _parse_trainable(str(t.get("trainable", "none")), label)
            start = _parse_when(t.get("start", 0 if i == 0 else None), label, window=t.get("window"),
                                threshold=t.get("threshold"), min_steps=t.get("min_steps"))
            opts = {"lr": float(t["lr"])} if "lr" in t else {}
            stages.append(Stage(trainable, start, **opts))
        return cls(tuple(stages))

    def to_string(self) -> str:
        return "; ".join(s.to_string() for s in self.stages)

    def __str__(self) -> str:
        return self.to_string()

    # --- checks and application to an encoder -------------------------------------------------

    def validate(self, encoder) -> None:
        """Fail before training if a stage asks for blocks or layers the encoder doesn't have."""
        blocks = None
        for i, stage in enumerate(self.stages, start=1):
            k = stage.top_k
            if k is not None:
                if blocks is None:
                    from zoo.blocks import encoder_blocks
                    try:
                        blocks = encoder_blocks(encoder)
                    except ValueError as exc:
                        raise ScheduleError(str(exc)) from None
                if k > len(blocks):
                    raise ScheduleError(
                        f"Stage {i} asks for the top {k} blocks, but encoder {encoder.name!r} has "
                        f"{len(blocks)} blocks ({blocks[0][0]} ... {blocks[-1][0]}). Use top1..top"
                        f"{len(blocks)} or 'all'.")
            if stage.trainable.startswith("pattern:"):
                if not layers_matching(encoder, stage.trainable[len("pattern:"):]):
                    raise ScheduleError(
                        f"Stage {i} pattern {stage.trainable!r} matches no layer of encoder {encoder.name!r} "
                        f"(layers are named like {', '.join(l.name for l in encoder.layers[1:4])}, ...).")

    def trainable_layers(self, encoder, stage: Stage) -> list:
        """The encoder layers that train in `stage`."""
        if stage.trainable == "none":
            return []
        if stage.trainable == "all":
            return list(encoder.layers)
        if stage.top_k is not None:
            from zoo.blocks import encoder_blocks
            blocks = encoder_blocks(encoder)
            return [layer for _, layers in blocks[-stage.top_k:] for layer in layers]
        return layers_matching(encoder, stage.trainable[len("pattern:"):])


def layers_matching(encoder, pattern: str) -> list:
    return [layer for layer in encoder.layers if fnmatch.fnmatchcase(layer.name, pattern)]


def apply_stage(encoder, schedule: FreezeSchedule, stage: Stage) -> int:
    """Set `trainable` on the encoder's layers for `stage`; returns the number of trainable weights.

    Frozen BatchNormalization layers then run in inference mode (Keras 3 semantics), so their
    moving statistics do not move. The model must be recompiled afterwards (see zoo.training).
    """
    chosen = {id(layer) for layer in schedule.trainable_layers(encoder, stage)}
    encoder.trainable = True  # a frozen parent would hide every child's weights
    for layer in encoder.layers:
        layer.trainable = id(layer) in chosen
    if not chosen:
        encoder.trainable = False
    return len(encoder.trainable_weights)
