"""Where a committed result came from: the git commit of the code that produced it (`zoo.bench.provenance`)."""
from zoo.bench.provenance import git_commit

__all__ = ["git_commit"]
