"""The `facezoo` command: a table of subcommands, each a recipe module loaded only when used.

Keeping the table as data (module path + one-line help) lets `facezoo --help` answer without
importing Keras, TensorFlow or OpenCV.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help). Nested groups use "group sub".
COMMANDS: dict[str, tuple[str, str]] = {
    "encoders": ("recipes.encoders", "list the encoder catalogue or show one entry (list|show NAME)"),
    "synth": ("recipes.synth", "write a synthetic face corpus (root/<identity>/<image>.png)"),
    "extract": ("recipes.extract", "detect, align and crop faces from images, folders and videos"),
    "pretrain": ("recipes.pretrain_encoder", "pretrain a global encoder on many identities"),
    "train": ("recipes.train_swap", "train a swap pair with a staged-unfreezing schedule"),
    "convert": ("recipes.convert", "swap faces in images, folders and videos with a trained run"),
    "publish": ("recipes.publish", "publish an encoder (.keras file or run folder) to a hub"),
    "pull": ("recipes.pull", "pull a release from a hub into the cache and verify it"),
    "hub": ("recipes.hub_cmd", "hub tools (serve: a Hub-compatible HTTP server over a local hub)"),
    "bench": ("recipes.bench", "benchmarks: time-to-quality (staged unfreezing vs scratch), lfw (verification)"),
    "judge": ("recipes.judge", "score swaps with an independent face recognizer (the judge extra)"),
    "quickstart": ("recipes.quickstart", "the whole pipeline end to end on synthetic faces, offline"),
}


def _top_parser() -> argparse.ArgumentParser:
    lines = "\n".join(f"  {name:<11} {help_}" for name, (_, help_) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="facezoo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Pretrained face encoders for face-swap training: a zoo, a hub and recipes.",
        epilog=f"commands:\n{lines}\n\nRun 'facezoo COMMAND --help' for a command's options.",
        usage="facezoo [-h] [--version] COMMAND ...",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("command", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def command_parser(name: str) -> tuple[argparse.ArgumentParser, object]:
    """The full parser of one subcommand and its module."""
    module_name, help_ = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(
        prog=f"facezoo {name}", description=(module.__doc__ or help_).strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    module.add_arguments(parser)
    return parser, module


def main(argv: list[str] | None = None) -> int:
    """The `facezoo` command. Called without `argv` (the console script), it ends the process itself
    once the command is done (`recipes._common.exit_process`); with `argv` it returns the exit code."""
    entry_point = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    if not argv or argv[0] in ("-h", "--help"):
        top.print_help()
        return 0
    if argv[0] == "--version":
        from importlib.metadata import PackageNotFoundError, version
        try:
            print(f"facezoo {version('facezoo')}")
        except PackageNotFoundError:
            print("facezoo (not installed)")
        return 0
    name = argv[0]
    if name not in COMMANDS:
        import difflib
        close = difflib.get_close_matches(name, COMMANDS, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        top.error(f"unknown command {name!r}.{hint} Valid commands: {', '.join(COMMANDS)}.")
    parser, module = command_parser(name)
    args = parser.parse_args(argv[1:])
    from recipes._common import exit_process, run_reporting_errors
    code = run_reporting_errors(module.run, args)
    if entry_point:
        exit_process(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
