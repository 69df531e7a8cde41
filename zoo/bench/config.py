"""The time-to-quality experiment's settings (`facezoo bench time-to-quality` flags)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from zoo.bench.stats import ARMS


@dataclass(frozen=True)
class BenchConfig:
    """The experiment's knobs (each has a `facezoo bench time-to-quality` flag)."""

    encoder: str = "mobilenet-face"
    size: int = 32
    steps: int = 120
    eval_every: int = 20
    seeds: tuple = (0, 1, 2)
    arms: tuple = ARMS
    batch_size: int = 4
    decoder_width: int = 32
    inter_channels: int = 64
    bottleneck: int = 128
    learning_rate: float = 5e-4
    chunk: int = 5                # steps per fit call (the loop's chunk); evaluations land on chunk ends
    single_seed_arms: tuple = ()  # arms run on the first seed only (a budget cut, stated in the results)
    final_evals: int = 3          # a run's final numbers: the mean of its last this-many evaluations
    threshold: float = 0.95
    train_images: int = 24        # renders of A and B the arms train on (indices 0..)
    eval_images: int = 16         # held-out renders scored every eval (indices 100..)
    probe_images: int = 48        # renders the identity probe is fitted on (indices 200..)
    identities: int = 202         # synthetic identities; the last two are the pair, held out of pretraining
    pretrain_steps: int = 150
    pretrain_batch: int = 16
    plateau_window: int = 15
    plateau_threshold: float = 0.02
    data_seed: int = 0
    pretrained: str | None = None  # a .keras path / hub ref to use instead of pretraining here
    pair: tuple = ()              # two real people (`zoo.bench.pairs.real_pair` specs); () = synthetic pair
    probe_fraction: float = 0.2   # real pair: share of each person's faces for the identity probe
    eval_fraction: float = 0.2    # real pair: share held out and scored at every evaluation

    def schedule(self, arm: str) -> str:
        s = int(self.steps)
        plateau = f"plateau(window={self.plateau_window},threshold={self.plateau_threshold})"
        return {"scratch": "all", "frozen-random": "frozen", "frozen": "frozen", "open": "all",
                "staged-steps": f"frozen; top2@{max(1, s // 4)}; all@{max(2, s // 2)}",
                "staged-plateau": f"frozen; top2@{plateau}; all@{plateau}"}[arm]

    def runs(self) -> list[tuple[str, int]]:
        """(arm, seed) in run order: per seed, scratch first (the threshold's reference)."""
        arms = sorted(self.arms, key=lambda a: a != "scratch")
        return [(arm, seed) for k, seed in enumerate(self.seeds) for arm in arms
                if k == 0 or arm not in self.single_seed_arms]

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["seeds"], d["arms"], d["pair"] = list(self.seeds), list(self.arms), list(self.pair)
        d["single_seed_arms"] = list(self.single_seed_arms)
        d["schedules"] = {arm: self.schedule(arm) for arm in self.arms}
        return d

