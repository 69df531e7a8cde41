"""The time-to-quality experiment and the quickstart's report: users of the library, not part of it.

`zoo.bench.evidence` runs the time-to-quality experiment (its parts: `config`, `pairs` for the pair's
faces, `scoring`, `stats` for thresholds and the claims' verdicts, `ttq_report` for the table, curves and
README block, `ttq_card` for the evidence a card may show, `provenance` for the commit and code hash of
results) and `zoo.bench.report` writes the quickstart's `report.html`. They import `zoo` and `hub`; no
module of the library imports them (tests/test_imports.py checks), so release metadata, loading and
training never depend on benchmark results. Recipes (`facezoo bench`, `quickstart`, `publish
--evidence`) and `benchmarks/` call them.
"""
