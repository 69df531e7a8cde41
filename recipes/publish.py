"""Publish an encoder to a hub as one atomic, sha256-manifested release.

PATH is a .keras file, a Keras directory (config.json, metadata.json, model.weights.h5), or a run folder
holding encoder.keras. Examples:

    facezoo publish runs/pretrain/encoder.keras team/my-encoder --tag v1
    facezoo publish runs/pretrain team/my-encoder --tag v2 --hub http://127.0.0.1:8000
"""
from __future__ import annotations

import json
from pathlib import Path

from recipes._common import UserError, add_hub_argument, main_for


def add_arguments(parser) -> None:
    parser.add_argument("path", help="a .keras file, a Keras directory, or a run folder with encoder.keras")
    parser.add_argument("repo", help="hub repository, 'namespace/name'")
    parser.add_argument("--tag", default=None, help="release tag, e.g. v1 (tags are immutable)")
    parser.add_argument("--message", "-m", default=None, help="commit message")
    parser.add_argument("--metadata", default=None,
                        help="JSON file merged into facezoo.json (spec, corpus, metrics, parent, training)")
    parser.add_argument("--card", default=None, help="markdown model card to use instead of the template")
    parser.add_argument("--evidence", default="none", metavar="JSON|none",
                        help="time-to-quality results to show in the card's evidence section, e.g. "
                        "benchmarks/results/time_to_quality.json (default: none)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log more")
    add_hub_argument(parser)


def run(args) -> int:
    import hub
    from zoo.publishing import publish_encoder

    metadata = None
    if args.metadata:
        try:
            with open(args.metadata, encoding="utf-8") as f:
                metadata = json.load(f)
        except (OSError, ValueError) as exc:
            raise UserError(f"--metadata {args.metadata}: cannot read a JSON object ({exc}).") from None
    metadata = dict(metadata or {})
    if args.evidence != "none" and "evidence" not in metadata:
        from zoo.bench.evidence import evidence_metadata
        if not Path(args.evidence).is_file():
            raise UserError(f"--evidence {args.evidence}: no such results file. Pass a time_to_quality.json "
                            "written by `facezoo bench time-to-quality`, or 'none'.")
        metadata["evidence"] = evidence_metadata(args.evidence)
    card = None
    if args.card:
        with open(args.card, encoding="utf-8") as f:
            card = f.read()
    backend = hub.get_hub(args.hub)
    release = publish_encoder(args.path, args.repo, card=card, tag=args.tag, hub=backend,
                             metadata=metadata, message=args.message)
    print(f"published {release.repo_id}@{release.tag or 'main'} -> commit {release.revision}")
    print(f"  hub: {backend.describe()}")
    print(f"  at: {release.url_or_path}")
    for name, digest in sorted(release.files.items()):
        print(f"  {digest}  {name}")
    return 0


def main():
    main_for(__name__, add_arguments, run)


if __name__ == "__main__":
    main()
