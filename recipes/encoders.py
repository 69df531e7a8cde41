"""List the encoder catalogue and its weight presets (with their LFW View 1 scores), or show one
entry's or preset's facts and its card (generated from the registry's rows).

Examples:
  facezoo encoders list
  facezoo encoders list "effnet-*"
  facezoo encoders show mobilenet-face.lfw-v1
  facezoo encoders show effnet-face-v2 --card
"""
from __future__ import annotations

import json

from recipes._common import add_hub_argument, check_hub_folder, main_for


def add_arguments(parser):
    sub = parser.add_subparsers(dest="action", required=True, metavar="{list,show}")
    p_list = sub.add_parser("list", help="list registered encoders and weight presets (wildcards allowed)")
    p_list.add_argument("pattern", nargs="?", default="*", help="shell-style wildcard, e.g. 'effnet-*'")
    p_list.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p_show = sub.add_parser("show", help="show one encoder's spec, weight presets and hub releases")
    p_show.add_argument("name", help="registry name or preset, e.g. effnet-face-v2, mobilenet-face.lfw-v1")
    p_show.add_argument("--json", action="store_true", help="print JSON")
    p_show.add_argument("--card", action="store_true", help="print the entry's card (markdown, generated from its rows)")
    add_hub_argument(p_show)


def run(args) -> int:
    import zoo
    from zoo.presets import SCORE_LABELS
    from zoo.registry import get_preset, presets_of

    if args.action == "list":
        names = zoo.list_encoders(args.pattern)
        if args.json:
            print(json.dumps([_entry_json(n) for n in names], indent=2))
            return 0
        if not names:
            print(f"No encoder matches {args.pattern!r}. All names: {', '.join(zoo.list_encoders())}")
            return 1
        rows = []
        for n in names:
            spec, preset = zoo.get_spec(n), get_preset(n)
            if preset is not None and preset.name == n:   # a weight preset: its score and corpus
                about = f"weights: {preset.corpus}" + ("; the default" if preset.default else "")
                score = _percent(preset.scores.get("lfw_view1"))
            else:
                about = spec.description + (f" Loads preset {preset.name}." if preset is not None else "")
                score = "-"
            rows.append((n, f"{spec.family}/{spec.variant}", str(spec.input_size),
                         "x".join(str(d) for d in spec.feature_shape()), score, about))
        print(format_table(("NAME", "FAMILY", "INPUT", "FEATURES @ INPUT", "LFW VIEW 1", "DESCRIPTION"), rows,
                           right=(2, 4)))
        return 0

    spec = zoo.get_spec(args.name)
    if args.card:
        from zoo.catalogue_card import catalogue_card
        print(catalogue_card(args.name))
        return 0
    preset = get_preset(args.name)
    entry = preset.entry if preset is not None and preset.name == args.name else args.name
    presets = [preset] if preset is not None and preset.name == args.name else presets_of(entry)
    facts = {"spec": spec.to_dict(), "feature_shape": list(spec.feature_shape()),
             "presets": [_preset_json(p) for p in presets]}
    check_hub_folder(args.hub)
    facts["hub"] = hub_facts(spec, args.hub)
    if args.json:
        print(json.dumps(facts, indent=2, default=str))
        return 0
    published = facts["hub"].get("main") is not None
    default = get_preset(entry)
    print(f"{args.name}: {spec.description}")
    for key, value in spec.to_dict().items():
        if key == "sha256":
            continue   # printed per preset below
        if key == "revision" and value is None:
            value = "not pinned: loads the hub's latest release (main) or the @tag you give"
        if key == "corpus" and default is not None and str(value).startswith("not yet published"):
            value = f"see preset {default.name} below"
        elif key == "corpus" and published and str(value).startswith("not yet published"):
            value = "see the release's facezoo.json / card (`facezoo pull " + spec.repo_id + " -v`)"
        print(f"  {key:<16} {value}")
    print(f"  {'feature_shape':<16} {spec.feature_shape()}")
    for p in presets:
        print(f"preset {p.name}" + (f" (the default: zoo.load_encoder({entry!r}) loads it)" if p.default else "")
              + ":")
        for key, value in _preset_json(p).items():
            if key in ("name", "sha256", "scores"):
                continue
            print(f"  {key:<16} {value}")
        for key, value in p.scores.items():
            print(f"  {key:<16} {_percent(value)}  ({SCORE_LABELS.get(key, key)})")
        for name, digest in sorted(p.sha256.items()):
            print(f"  {'sha256':<16} {digest}  {name}")
    where = facts["hub"]["hub"]
    if published:
        print(f"on {where}:")
        loads = (f"zoo.load_encoder({entry + '@main'!r}) loads this; {entry!r} loads preset {default.name}"
                 if default is not None else f"zoo.load_encoder({spec.name!r}) loads this")
        print(f"  {'main':<16} commit {facts['hub']['main']}  ({loads})")
        for tag, revision in facts["hub"]["releases"]:
            print(f"  {'tag ' + tag:<16} commit {revision}  (zoo.load_encoder('{entry}@{tag}'))")
        if not facts["hub"]["releases"]:
            print("  no tags yet (publish with --tag v1 to make an immutable release)")
    elif default is not None:
        print(f"not published on {where} (not needed: {entry!r} loads preset {default.name}, shipped with facezoo).")
    else:
        print(f"not published on {where}. Publish it with `facezoo quickstart` or `facezoo pretrain --encoder "
              f"{spec.name} --corpus synthetic:1000 --publish {spec.repo_id} --tag v1`.")
    return 0


def _percent(value) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}%"


def _preset_json(preset) -> dict:
    """A preset's facts for `show`/`--json`, with where this install has its files."""
    data = preset.to_dict()
    folder = preset.folder
    data["shipped"] = str(folder) if folder is not None else None
    return data


def _entry_json(name: str) -> dict:
    import zoo
    from zoo.registry import get_preset

    data = zoo.get_spec(name).to_dict()
    preset = get_preset(name)
    if preset is not None:
        data["preset"] = _preset_json(preset)
    return data


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
