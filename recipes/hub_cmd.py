"""Hub tools. `serve`: a Hub-compatible HTTP server over a local hub directory.

    facezoo hub serve --root ~/.local/share/facezoo/hub --port 8000 --token-file tokens.txt
    HF_ENDPOINT=http://127.0.0.1:8000 HF_TOKEN=... python -c "import keras; keras.saving.load_model('hf://team/enc')"

`releases REPO` lists a repository's tags on a hub.
"""
from __future__ import annotations

from recipes._common import UserError, add_hub_argument, main_for


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    serve = sub.add_parser("serve", help="serve a local hub directory over the Hub HTTP API")
    serve.add_argument("--root", default=None, help="local hub directory (default: $FACEZOO_HOME/hub)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (0 picks a free one)")
    serve.add_argument("--token-file", default=None,
                       help="file with one access token per line; needed for writes (and reads unless "
                            "--public-read)")
    serve.add_argument("--public-read", action="store_true", help="allow reads without a token")
    serve.add_argument("--verbose", "-v", action="store_true", help="log each request (never tokens)")
    rel = sub.add_parser("releases", help="list a repository's release tags")
    rel.add_argument("repo", help="'namespace/name'")
    add_hub_argument(rel)


def run(args) -> int:
    import hub

    if args.action == "serve":
        from hub.server import serve
        if args.token_file is None and not args.public_read:
            raise UserError("hub serve needs --token-file (for writes) and/or --public-read.")
        serve(args.root or hub.default_hub_dir(), host=args.host, port=args.port,
              token_file=args.token_file, public_read=args.public_read, verbose=args.verbose)
        return 0
    if args.action == "releases":
        for tag, commit in hub.list_releases(args.repo, hub=args.hub):
            print(f"{tag}\t{commit}")
        return 0
    raise UserError("Choose an action: 'facezoo hub serve ...' or 'facezoo hub releases REPO'.")


def main():
    main_for(__name__, add_arguments, run)


if __name__ == "__main__":
    main()
