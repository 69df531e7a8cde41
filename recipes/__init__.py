"""Thin command-line recipes over the `zoo` and `hub` libraries.

Each job is one module with `add_arguments(parser)`, `run(args) -> int` and `main()`, so it runs as
`python -m recipes.NAME` and as a `facezoo` subcommand. Heavy imports happen inside `run`.
"""
