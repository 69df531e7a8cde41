"""Shared bits of the recipes: error reporting and small argument helpers."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from zoo.errors import FacezooError


class UserError(FacezooError):
    """An error in a recipe's arguments the user can fix; printed as one line, without a traceback."""


# Recipes that never need Keras; every other one imports TensorFlow first, quietly (zoo.tfquiet).
LIGHT_RECIPES = {"recipes.encoders", "recipes.pull", "recipes.hub_cmd", "recipes.synth", "recipes.publish"}


def recipe_name(fn) -> str | None:
    """The module a recipe's `run` belongs to, by its real name also under `python -m recipes.NAME`
    (there `fn.__module__` is "__main__", and every light recipe paid TensorFlow's import: 45.6 s against
    0.49 s for `facezoo encoders list`)."""
    name = getattr(fn, "__module__", None)
    if name == "__main__":
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        name = spec.name if spec is not None else name
    return name


def run_reporting_errors(fn, args) -> int:
    """Run a recipe; turn facezoo's own errors (the `FacezooError` tree, `UserError` included) into a
    clear one-line message and exit code 2. Anything else is a bug and keeps its traceback."""
    logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
                        format="%(message)s")
    try:
        if recipe_name(fn) not in LIGHT_RECIPES:
            from zoo.tfquiet import import_tensorflow_quietly
            import_tensorflow_quietly()
        code = fn(args)
    except FacezooError as exc:
        if os.environ.get("FACEZOO_TRACEBACK"):
            raise
        print(f"facezoo: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("facezoo: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


def exit_process(code: int) -> None:
    """End the process now. With TensorFlow loaded, Python's own shutdown spends 18-60 s tearing down
    compiled graphs after the last line was printed (measured: a 12-step train run, 20 s; the quickstart,
    64 s on a loaded machine), so a user waits for a prompt that says nothing. Every file facezoo writes
    is closed by then (atomic writes), so this runs the atexit handlers, flushes, and skips the teardown."""
    if "tensorflow" not in sys.modules:
        sys.exit(code)
    import atexit
    try:
        atexit._run_exitfuncs()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(int(code))


def main_for(module_name: str, add_arguments, run) -> None:
    """`python -m recipes.NAME` entry point sharing the CLI's parser and error handling."""
    module = sys.modules[module_name]
    if module_name == "__main__" and getattr(module, "__spec__", None) is not None:
        module_name = module.__spec__.name
    parser = argparse.ArgumentParser(prog=f"python -m {module_name}", description=(module.__doc__ or "").strip(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    exit_process(run_reporting_errors(run, parser.parse_args()))


def check_hub_folder(hub_arg) -> None:
    """For commands that read a hub: a --hub (or $FACEZOO_HUB) folder that does not exist is a typo, not
    an empty hub; say so instead of "not on the local hub"."""
    from pathlib import Path

    from hub.constants import HF_ALIASES

    source = "--hub" if hub_arg else "$FACEZOO_HUB"
    value = str(hub_arg or os.environ.get("FACEZOO_HUB") or "").strip()
    if not value or value.lower() in HF_ALIASES or value.lower().startswith(("http://", "https://")):
        return
    path = Path(value[len("file://"):] if value.startswith("file://") else value).expanduser()
    if not path.is_dir():
        raise UserError(f"No hub folder at {path} (from {source}). Check the path, or leave --hub out to use "
                        "the embedded local hub.")


def add_hub_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hub", default=None,
        help="hub to use: a local hub directory, 'hf' (the Hub at HF_ENDPOINT), or the http(s) URL of a "
             "Hub-compatible server such as 'facezoo hub serve'. Default: $FACEZOO_HUB, else the "
             "embedded local hub.")


def train_or_say_how_to_resume(trainer, steps, resume_command: str, *, quiet: bool = False) -> dict | None:
    """`trainer.train(steps)`, with the progress line unless `quiet`; its state dict.

    On Ctrl-C the trainer has saved a checkpoint and raised: print where it is and `resume_command`
    (the command that continues the run), and return None: the recipe exits 130 (or re-raises).
    """
    trainer.progress = not quiet
    try:
        return trainer.train(steps)
    except KeyboardInterrupt:
        print(f"interrupted; checkpoint saved at step {trainer.step} in {trainer.run_dir}. Resume with: "
              f"{resume_command}", flush=True)
        return None
