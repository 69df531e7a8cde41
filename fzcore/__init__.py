"""facezoo's shared core, below both `zoo` (the library) and `hub` (releases): the exception tree
(`fzcore.errors`), atomic file writes and hashing (`fzcore.io`), facezoo's data folder
(`fzcore.paths.facezoo_home`) and the format ids both sides write (`fzcore.formats`).

Packages import in one direction: `zoo` and `hub` import `fzcore`; `fzcore` imports neither, and `hub`
imports nothing of `zoo` (`tests/test_imports.py`). `zoo.errors` and `zoo.io` re-export these modules,
so `zoo.errors.InputError is fzcore.errors.InputError`. No third-party import here: this package is
imported by `import hub` and `import zoo`, which stay cheap.
"""
