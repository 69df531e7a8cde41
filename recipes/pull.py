"""Pull a release into the local cache, verify every file's sha256, print its commit and folder.

REPO may carry a revision: `team/my-encoder@v1` (a tag, a branch or a commit id; default main).
"""
from __future__ import annotations

from recipes._common import UserError, add_hub_argument, check_hub_folder, main_for


def add_arguments(parser) -> None:
    parser.add_argument("repo", help="'namespace/name[@revision]'")
    parser.add_argument("--revision", default=None, help="overrides the @revision in REPO")
    parser.add_argument("--verbose", "-v", action="store_true", help="also print the manifest's files")
    add_hub_argument(parser)


def run(args) -> int:
    import hub
    from zoo.refs import EncoderRef
    from zoo.registry import unknown_name_message

    repo, _, at = args.repo.partition("@")
    revision = args.revision or at or None
    if "/" not in repo:  # a catalogue name: pull its repository
        spec = EncoderRef.parse(repo).spec   # looked up once (REPO[@REVISION] is split just above)
        if spec is None:
            raise UserError(f"{repo!r} is neither a hub repository ('namespace/name') nor a catalogue entry. "
                            + unknown_name_message(repo))
        print(f"{repo} is the catalogue entry for {spec.repo_id}")
        repo, revision = spec.repo_id, revision or spec.revision
    check_hub_folder(args.hub)
    snap = hub.pull(repo, revision, hub=args.hub)
    print(f"{snap.repo_id}@{revision or 'main'} -> commit {snap.revision}")
    print(f"path: {snap.path}")
    if args.verbose:
        for name, entry in sorted(snap.manifest.get("files", {}).items()):
            print(f"  {entry['sha256']}  {entry['size']:>10}  {name}")
    return 0


def main():
    main_for(__name__, add_arguments, run)


if __name__ == "__main__":
    main()
