"""The time-to-quality experiment and the quickstart's report: users of the library, not part of it.

`zoo.bench.evidence` runs the experiment (arms, statistics, plots, the README block, the evidence a card
may show) and `zoo.bench.report` writes the quickstart's `report.html`. They import `zoo` and `hub`; no
module of the library imports them (tests/test_imports.py checks), so release metadata, loading and
training never depend on benchmark results. Recipes (`facezoo bench`, `quickstart`, `publish
--evidence`) and `benchmarks/` call them.
"""
