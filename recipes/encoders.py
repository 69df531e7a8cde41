"""List the encoder catalogue, or show one entry's facts and model card.

Examples:
  facezoo encoders list
  facezoo encoders list "effnet-*"
  facezoo encoders show effnet-face-v2
"""
from __future__ import annotations

import json

from recipes._common import add_hub_argument, main_for


def add_arguments(parser):
    sub = parser.add_subparsers(dest="action", required=True, metavar="{list,show}")
    p_list = sub.add_parser("list", help="list registered encoders (wildcards allowed)")
    p_list.add_argument("pattern", nargs="?", default="*", help="shell-style wildcard, e.g. 'effnet-*'")
    p_list.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p_show = sub.add_parser("show", help="show one encoder's spec, card facts and hub releases")
    p_show.add_argument("name", help="registry name, e.g. effnet-face-v2")
    p_show.add_argument("--json", action="store_true", help="print JSON")
    add_hub_argument(p_show)


def run(args) -> int:
    import zoo

    if args.action == "list":
        names = zoo.list_encoders(args.pattern)
        if args.json:
            print(json.dumps([zoo.get_spec(n).to_dict() for n in names], indent=2))
            return 0
        if not names:
            print(f"No encoder matches {args.pattern!r}. All names: {', '.join(zoo.list_encoders())}")
            return 1
        print(f"{'NAME':<16} {'FAMILY':<18} {'INPUT':>5}  {'FEATURES @ INPUT':<16} DESCRIPTION")
        for n in names:
            s = zoo.get_spec(n)
            shape = "x".join(str(d) for d in s.feature_shape())
            print(f"{s.name:<16} {s.family + '/' + s.variant:<18} {s.input_size:>5}  {shape:<16} "
                  f"{s.description}")
        return 0

    spec = zoo.get_spec(args.name)
    facts = {"spec": spec.to_dict(), "feature_shape": list(spec.feature_shape())}
    try:
        from hub.cards import card_facts
        facts["card"] = card_facts(spec.name)
    except (ImportError, FileNotFoundError, AttributeError):
        pass
    try:
        import hub
        facts["releases"] = [{"tag": t, "revision": r}
                             for t, r in hub.list_releases(spec.repo_id, hub=args.hub)]
    except Exception as exc:  # a missing repo or an unreachable hub is information, not a failure
        facts["releases"] = f"none found ({type(exc).__name__}: {exc})"
    if args.json:
        print(json.dumps(facts, indent=2, default=str))
        return 0
    print(f"{spec.name}: {spec.description}")
    for key, value in spec.to_dict().items():
        print(f"  {key:<16} {value}")
    print(f"  {'feature_shape':<16} {spec.feature_shape()}")
    card = facts.get("card")
    if card:
        print("model card:")
        for key, value in card.items():
            print(f"  {key:<16} {value}")
    print(f"releases on hub: {facts['releases']}")
    return 0


def main():
    main_for(__name__, add_arguments, run)


if __name__ == "__main__":
    main()
