"""Time to quality: pretrained encoder + staged unfreezing vs scratch, frozen and open, side by side.

A thin wrapper over `facezoo bench time-to-quality` (`recipes/bench.py`, library `zoo.bench.evidence`):

    python benchmarks/time_to_quality.py                   # default small budget, 3 seeds, ~25 min on 2 CPUs
    python benchmarks/time_to_quality.py --steps 300 --size 64 --update-readme
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recipes.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["bench", "time-to-quality", *sys.argv[1:]]))
