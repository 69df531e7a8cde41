"""List the encoder catalogue, or show one entry's facts and model card.

Examples:
  facezoo encoders list
  facezoo encoders list "effnet-*"
  facezoo encoders show effnet-face-v2
"""
from __future__ import annotations

import json

from recipes._common import add_hub_argument, check_hub_folder, main_for


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
        rows = []
        for n in names:
            spec = zoo.get_spec(n)
            rows.append((spec.name, f"{spec.family}/{spec.variant}", str(spec.input_size),
                         "x".join(str(d) for d in spec.feature_shape()), spec.description))
        print(format_table(("NAME", "FAMILY", "INPUT", "FEATURES @ INPUT", "DESCRIPTION"), rows, right=(2,)))
        return 0

    spec = zoo.get_spec(args.name)
    facts = {"spec": spec.to_dict(), "feature_shape": list(spec.feature_shape())}
    try:
        from hub.cards import card_facts
        facts["card"] = card_facts(spec.name)
    except (ImportError, FileNotFoundError, AttributeError):
        pass
    check_hub_folder(args.hub)
    facts["hub"] = hub_facts(spec, args.hub)
    if args.json:
        print(json.dumps(facts, indent=2, default=str))
        return 0
    published = facts["hub"].get("main") is not None
    print(f"{spec.name}: {spec.description}")
    for key, value in spec.to_dict().items():
        if key == "revision" and value is None:
            value = "not pinned: loads the hub's latest release (main) or the @tag you give"
        if key == "corpus" and published and str(value).startswith("not yet published"):
            value = "see the release's facezoo.json / card (`facezoo pull " + spec.repo_id + " -v`)"
        print(f"  {key:<16} {value}")
    print(f"  {'feature_shape':<16} {spec.feature_shape()}")
    card = facts.get("card")
    if card:
        print("model card:")
        for key, value in card.items():
            print(f"  {key:<16} {value}")
    where = facts["hub"]["hub"]
    if published:
        print(f"on {where}:")
        print(f"  {'main':<16} commit {facts['hub']['main']}  (zoo.load_encoder({spec.name!r}) loads this)")
        for tag, revision in facts["hub"]["releases"]:
            print(f"  {'tag ' + tag:<16} commit {revision}  (zoo.load_encoder('{spec.name}@{tag}'))")
        if not facts["hub"]["releases"]:
            print("  no tags yet (publish with --tag v1 to make an immutable release)")
    else:
        print(f"not published on {where}. Publish it with `facezoo quickstart` or `facezoo pretrain --encoder "
              f"{spec.name} --corpus synthetic:1000 --publish {spec.repo_id} --tag v1`.")
    return 0


def hub_facts(spec, hub_arg) -> dict:
    """What the hub holds for a catalogue entry: its main commit and tagged releases, or why not."""
    import hub
    from hub.errors import HubError, NotPublishedError

    backend = hub.get_hub(hub_arg)
    facts = {"hub": backend.describe(), "repo_id": spec.repo_id, "main": None, "releases": []}
    try:
        facts["main"] = backend.resolve(spec.repo_id, spec.revision or "main")
        facts["releases"] = backend.list_releases(spec.repo_id)
    except (HubError, NotPublishedError) as exc:  # a missing repo or an unreachable hub is information, not a failure
        facts["error"] = str(exc)
    return facts


def format_table(header, rows, right=()) -> str:
    """Columns as wide as their widest cell (the last one free), `right` ones right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        cells[-1] = str(row[-1])
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def main():
    main_for(__name__, add_arguments, run)


if __name__ == "__main__":
    main()
