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
    serve.add_argument("--max-body", default="64M",
                       help="largest API request body (JSON, commits with small files inline), e.g. 64M; "
                            "bigger ones are refused with 413 before they are read. Large files go through "
                            "the LFS upload path and are streamed to disk (default 64M)")
    serve.add_argument("--max-file", default="64G", help="largest single file accepted through LFS (default 64G)")
    serve.add_argument("--idle-timeout", type=float, default=30.0,
                       help="seconds a client may take to send its request headers, or stall mid-body "
                            "(default 30)")
    serve.add_argument("--max-conns-per-client", type=int, default=64,
                       help="open connections one client address may hold; more are closed at once (default "
                            "64; 0: no cap, e.g. behind a reverse proxy that sets its own limits)")
    serve.add_argument("--verbose", "-v", action="store_true", help="log each request (never tokens)")
    rel = sub.add_parser("releases", help="list a repository's release tags")
    rel.add_argument("repo", help="'namespace/name'")
    add_hub_argument(rel)


def run(args) -> int:
    import hub

    if args.action == "serve":
        from hub.server import parse_size, serve
        if args.token_file is None and not args.public_read:
            raise UserError("hub serve needs --token-file (for writes) and/or --public-read.")
        try:
            max_body, max_file = parse_size(args.max_body), parse_size(args.max_file)
        except ValueError as exc:
            raise UserError(f"--max-body/--max-file: {exc}") from None
        if max_body < 1024 or args.idle_timeout <= 0:
            raise UserError(f"--max-body must be at least 1K and --idle-timeout positive "
                            f"(got {args.max_body}, {args.idle_timeout}).")
        serve(args.root or hub.default_hub_dir(), host=args.host, port=args.port,
              token_file=args.token_file, public_read=args.public_read, verbose=args.verbose,
              max_body=max_body, max_file=max_file, idle_timeout=args.idle_timeout,
              max_conns_per_client=args.max_conns_per_client)
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
