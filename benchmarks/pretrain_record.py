"""A pretraining run's scores as a committed result: RUN/pretrain.json plus the commit and the command.

`facezoo pretrain` writes RUN/pretrain.json (config, corpus, held-out metrics, LFW View 1, the release it
published). This copies it into RESULTS/NAME.json with the git commit the run ran on and its exact
command, and prints the scores; the weights stay in the run folder and the hub, never in the repository.

    python benchmarks/pretrain_record.py --run runs/lfw-effnet --name pretrain_lfw_effnet \\
        --commit COMMIT --command "facezoo pretrain --corpus lfw:... --encoder effnet-face-v2 ..."
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="the pretraining run folder (holds pretrain.json)")
    parser.add_argument("--name", required=True, help="results file stem, e.g. pretrain_lfw_effnet")
    parser.add_argument("--commit", default=None, help="the commit the run ran on (default: this checkout's)")
    parser.add_argument("--command", action="append", required=True,
                        help="the exact command(s) that made the run (repeat for a resumed run)")
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    source = Path(args.run) / "pretrain.json"
    if not source.is_file():
        sys.exit(f"{source} not found: pass the folder of a finished `facezoo pretrain` run")
    record = json.loads(source.read_text())
    from benchmarks._provenance import git_commit
    from zoo.io import write_json

    out = {"run": Path(args.run).name, "commit": args.commit or git_commit(), "command": args.command,
           **{k: v for k, v in record.items() if k != "encoder"}}
    path = Path(args.results) / f"{args.name}.json"
    write_json(path, out)
    m = record.get("metrics", {})
    print(f"{record.get('release', {}).get('repo_id')}@{record.get('release', {}).get('tag')}: "
          f"{record.get('step')} steps, transfer SSIM {m.get('transfer_ssim')}, probe {m.get('probe_accuracy')} "
          f"(chance {m.get('probe_chance')}), LFW View 1 {m.get('lfw_view1_accuracy')}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
