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

The parser turns each `what` into a typed selector (`Frozen`, `All`, `TopK(k)`, `Pattern(glob)`); `str()`
of a selector is its canonical text ("frozen", "all", "top2", "pattern:GLOB"). `FreezeSchedule.bind(encoder)`
checks every stage against the encoder once and returns a `BoundSchedule` holding each stage's layers,
which the trainer, `apply_stage` and the stage switch use without re-resolving anything.
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


# --- what a stage trains: typed selectors ----------------------------------------------------


def _top_blocks(encoder):
    """The encoder's blocks (`zoo.blocks.encoder_blocks`), a `ScheduleError` when it has none."""
    from zoo.blocks import encoder_blocks

    try:
        return encoder_blocks(encoder)
    except ValueError as exc:
        raise ScheduleError(str(exc)) from None


@dataclass(frozen=True)
class Frozen:
    """No encoder layer trains (encoder learning-rate multiplier 0 unless the stage sets `lr`)."""

    needs_blocks = False
    # Run histories (state.json `stage_history`) and benchmark results record a frozen stage as "none";
    # new ones keep doing so, and `parse_selector` reads both spellings.
    record = "none"

    def __str__(self) -> str:
        return "frozen"

    def layers(self, encoder, blocks=None) -> list:
        return []

    def check(self, encoder, blocks, index: int) -> None:
        pass


@dataclass(frozen=True)
class All:
    """Every encoder layer trains."""

    needs_blocks = False
    record = "all"

    def __str__(self) -> str:
        return "all"

    def layers(self, encoder, blocks=None) -> list:
        return list(encoder.layers)

    def check(self, encoder, blocks, index: int) -> None:
        pass


@dataclass(frozen=True)
class TopK:
    """The top `k` of the backbone's own blocks (`zoo.blocks.encoder_blocks`) train."""

    k: int
    needs_blocks = True

    def __post_init__(self):
        if not isinstance(self.k, int) or isinstance(self.k, bool) or self.k < 1:
            raise ScheduleError(f"topK needs K >= 1. Received: k={self.k!r}")

    def __str__(self) -> str:
        return f"top{self.k}"

    @property
    def record(self) -> str:
        return str(self)

    def layers(self, encoder, blocks=None) -> list:
        blocks = _top_blocks(encoder) if blocks is None else blocks
        return [layer for _, layers in blocks[-self.k:] for layer in layers]

    def check(self, encoder, blocks, index: int) -> None:
        if self.k > len(blocks):
            raise ScheduleError(
                f"Stage {index} asks for the top {self.k} blocks, but encoder {encoder.name!r} has "
                f"{len(blocks)} blocks ({blocks[0][0]} ... {blocks[-1][0]}). Use top1..top"
                f"{len(blocks)} or 'all'.")


@dataclass(frozen=True)
class Pattern:
    """The encoder layers whose names match `glob` (fnmatch, case-sensitive) train."""

    glob: str
    needs_blocks = False

    def __post_init__(self):
        if not str(self.glob).strip():
            raise ScheduleError("pattern:GLOB needs a glob of layer names, e.g. pattern:block6*. "
                                f"Received: glob={self.glob!r}")

    def __str__(self) -> str:
        return f"pattern:{self.glob}"

    @property
    def record(self) -> str:
        return str(self)

    def layers(self, encoder, blocks=None) -> list:
        return layers_matching(encoder, self.glob)

    def check(self, encoder, blocks, index: int) -> None:
        if not self.layers(encoder):
            raise ScheduleError(
                f"Stage {index} pattern {str(self)!r} matches no layer of encoder {encoder.name!r} "
                f"(layers are named like {', '.join(l.name for l in encoder.layers[1:4])}, ...).")


SELECTORS = (Frozen, All, TopK, Pattern)
Selector = Frozen | All | TopK | Pattern


def parse_selector(what, text: str | None = None) -> Selector:
    """A stage's `what` ("frozen", "none", "all", "top2", "pattern:GLOB", ...) as a selector; a selector
    passes through. `text` names the stage in errors (default: `what`)."""
    if isinstance(what, SELECTORS):
        return what
    what = str(what).strip()
    text = what if text is None else text
    low = what.lower()
    if low in ("frozen", "none", "freeze"):
        return Frozen()
    if low in ("all", "unfrozen", "open"):
        return All()
    m = _TOP.match(low)
    if m:
        if int(m.group(1)) < 1:
            raise ScheduleError(f"topK needs K >= 1 in stage {text!r}.")
        return TopK(int(m.group(1)))
    if low.startswith("pattern:") and len(what) > len("pattern:") and what[len("pattern:"):].strip():
        return Pattern(what[len("pattern:"):].strip())
    raise ScheduleError(f"Unknown stage {what!r} in {text!r}. A stage trains one of: frozen (none), all, "
                        "topK (e.g. top2: the top 2 backbone blocks), or pattern:GLOB (layer names, e.g. "
                        "pattern:block6*).")


@dataclass(frozen=True)
class Stage:
    """One stage: `trainable` a selector (`Frozen()`, `All()`, `TopK(k)`, `Pattern(glob)`; its text form,
    e.g. "top2", is parsed); `start` a step or Plateau."""

    trainable: Selector = Frozen()
    start: int | Plateau = 0
    lr: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "trainable", parse_selector(self.trainable))

    @property
    def frozen(self) -> bool:
        return isinstance(self.trainable, Frozen)

    @property
    def lr_multiplier(self) -> float:
        if self.lr is not None:
            return float(self.lr)
        return 0.0 if self.frozen else 1.0

    @property
    def top_k(self) -> int | None:
        return self.trainable.k if isinstance(self.trainable, TopK) else None

    def describe(self) -> str:
        when = (f"step {self.start}" if isinstance(self.start, int)
                else f"plateau(window={self.start.window}, threshold={self.start.threshold})")
        return f"{self.trainable} from {when}, encoder lr x{self.lr_multiplier:g}"

    def to_string(self) -> str:
        if isinstance(self.start, int):
            when = str(self.start)
        else:
            args = f"window={self.start.window},threshold={self.start.threshold}"
            if self.start.min_steps:
                args += f",min_steps={self.start.min_steps}"
            when = f"plateau({args})"
        text = f"{self.trainable}@{when}"
        return text + (f":lr={self.lr:g}" if self.lr is not None else "")


def trainable_label(trainable) -> str:
    """How a stage's trainable set reads to people (its canonical text, "frozen" for a stored "none"), from
    a selector or a recorded string; text that is no selector comes back as it is."""
    try:
        return str(parse_selector(trainable))
    except ScheduleError:
        return str(trainable)


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

    stages: tuple = field(default_factory=lambda: (Stage(Frozen(), 0),))

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
    def constant(cls, trainable="all") -> "FreezeSchedule":
        return cls((Stage(parse_selector(trainable), 0),))

    @classmethod
    def parse(cls, text: str, *, window: int | None = None, threshold: float | None = None):
        """Parse the short form; `window`/`threshold` set defaults for bare `@plateau`. A `FreezeSchedule`
        or `BoundSchedule` passes through, so `parse(schedule).bind(encoder)` binds any of them once."""
        if isinstance(text, (FreezeSchedule, BoundSchedule)):
            return text
        parts = [p for p in (text or "").split(";") if p.strip()]
        if not parts:
            raise ScheduleError(f"Empty schedule {text!r}; e.g. 'frozen; top2@plateau; all@plateau'.")
        stages = []
        for i, part in enumerate(parts):
            m = _STAGE.match(part)
            if not m:
                raise ScheduleError(f"Cannot parse stage {part.strip()!r} of schedule {text!r}.")
            trainable = parse_selector(m.group("what"), part.strip())
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
            trainable = parse_selector(str(t.get("trainable", "frozen")), label)
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

    def bind(self, encoder) -> "BoundSchedule":
        """Check every stage against `encoder` (its blocks read once) and resolve each stage's layers;
        fails before training if a stage asks for blocks or layers the encoder doesn't have."""
        blocks = _top_blocks(encoder) if any(s.trainable.needs_blocks for s in self.stages) else None
        layers = {}
        for i, stage in enumerate(self.stages, start=1):
            stage.trainable.check(encoder, blocks, i)
            if stage.trainable not in layers:
                layers[stage.trainable] = tuple(stage.trainable.layers(encoder, blocks))
        return BoundSchedule(self, encoder, layers)

    def validate(self, encoder) -> None:
        """Fail before training if a stage asks for blocks or layers the encoder doesn't have (`bind`
        does this and keeps the result: prefer it)."""
        self.bind(encoder)

    def trainable_layers(self, encoder, stage: Stage) -> list:
        """The encoder layers that train in `stage` (resolved afresh; a `BoundSchedule` holds them)."""
        return stage.trainable.layers(encoder)


@dataclass(frozen=True, eq=False)
class BoundSchedule:
    """A `FreezeSchedule` checked against one encoder, with each stage's layers resolved (`FreezeSchedule.bind`).

    Reads like its schedule (`stages`, `to_string()`, `str()`); `layers_of(stage)` gives a stage's layers.
    """

    schedule: FreezeSchedule
    encoder: object = field(repr=False)
    _layers: dict = field(repr=False)

    @property
    def stages(self) -> tuple:
        return self.schedule.stages

    def bind(self, encoder) -> "BoundSchedule":
        """This schedule when `encoder` is the one it is bound to; else its schedule bound to `encoder`."""
        return self if encoder is self.encoder else self.schedule.bind(encoder)

    def layers_of(self, stage) -> list:
        """The encoder layers that train in `stage` (a `Stage` of this schedule or its index)."""
        if isinstance(stage, int):
            stage = self.stages[stage]
        return list(self._layers[stage.trainable])

    def trainable_layers(self, encoder, stage: Stage) -> list:
        """`FreezeSchedule.trainable_layers`, from the bound layers (another encoder is bound afresh)."""
        return self.bind(encoder).layers_of(stage)

    def to_string(self) -> str:
        return self.schedule.to_string()

    def __str__(self) -> str:
        return self.to_string()


def bind_schedule(schedule, encoder) -> BoundSchedule:
    """`schedule` (text, `FreezeSchedule` or `BoundSchedule`) bound to `encoder`; one already bound to this
    encoder is returned as it is, so a schedule is checked once."""
    return FreezeSchedule.parse(schedule).bind(encoder)


def layers_matching(encoder, pattern: str) -> list:
    return [layer for layer in encoder.layers if fnmatch.fnmatchcase(layer.name, pattern)]


def apply_stage(encoder, schedule, stage: Stage) -> int:
    """Set `trainable` on the encoder's layers for `stage`; returns the number of trainable weights.

    `schedule` is a `BoundSchedule` (its resolved layers are used) or a `FreezeSchedule` (resolved here).
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
