"""The `model2vec serve` command: load a model (and an index), run the HTTP app with uvicorn.

Registering the command imports nothing heavy; FastAPI and uvicorn are imported when it runs, with an
ImportError that names the extra to install when they are missing.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from model2vec.serve.limits import ServeLimits

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
# (flag, ServeLimits field, help): one option per limit, defaults read from ServeLimits.
LIMIT_FLAGS = (
    ("--max-batch", "max_inputs", "Most texts per request"),
    ("--max-chars", "max_chars", "Most characters per text"),
    ("--max-body-bytes", "max_body_bytes", "Largest request body in bytes"),
    ("--max-buffered-bytes", "max_buffered_bytes", "Request-body bytes held at once by all requests (503 above)"),
    ("--max-body-seconds", "max_body_seconds", "Longest a request body may take to arrive (408 after it)"),
    ("--max-length", "max_length", "Tokens pooled per text; longer texts are truncated"),
    ("--max-concurrency", "max_concurrency", "Requests parsed, encoded or searched at once in worker threads"),
    ("--max-matches", "max_matches", "Most matches one /search returns (queries x k)"),
    ("--max-match-chars", "max_match_chars", "Most characters of stored text one /search response returns"),
)


def _check_server_installed() -> None:
    """Import FastAPI and uvicorn, or raise an ImportError naming the extra to install."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as error:
        raise ImportError('Serving needs FastAPI and uvicorn: pip install "model2vec[serve]"') from error


def default_model_name(model: str) -> str:
    """Name a served model after its argument: a folder's name, or the hub id as given.

    :param model: The MODEL argument (a folder or a hub id).
    :return: The name responses report and requests must use.
    """
    path = Path(model)
    return path.resolve().name if path.is_dir() else model


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0-65535 (0 picks a free port), got {value}")
    return value


def _serve_command(args: argparse.Namespace) -> int:
    _check_server_installed()
    from model2vec import StaticModel
    from model2vec.serve.app import create_app
    from model2vec.serve.server import bind_socket, uvicorn_server

    limits = ServeLimits(**{field: getattr(args, field) for _, field, _ in LIMIT_FLAGS})
    # Bound first: a busy port fails in a second, before the model loads and before "Serving" is printed.
    with bind_socket(args.host, args.port) as sock:
        model = StaticModel.from_pretrained(args.model)
        index = None
        if args.index is not None:
            from model2vec.search import SearchIndex

            index = SearchIndex.load(args.index, model=model)
        name, *aliases = args.served_model_names or [default_model_name(args.model)]
        app = create_app(model, model_name=name, index=index, limits=limits, aliases=aliases)
        indexed = "no index" if index is None else f"index {args.index} ({len(index)} items)"
        also = f", also answering to {', '.join(aliases)}" if aliases else ""
        host = f"[{args.host}]" if ":" in args.host else args.host  # an IPv6 address is bracketed in a URL
        url = f"http://{host}:{sock.getsockname()[1]}"
        print(f"Serving {name} ({model.dim} dims, {indexed}{also}) on {url}", flush=True)
        uvicorn_server(app, log_level=args.log_level, access_log=args.access_log).run(sockets=[sock])
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `serve` subcommand to the `model2vec` command's subparsers.

    `model2vec serve MODEL [--host H] [--port P] [--index DIR] [--max-batch N] ...` loads MODEL (a folder
    or hub id) and, with `--index`, a saved `SearchIndex`, then serves them until interrupted. A missing
    model or index, an index of another dimension, or a port in use fails with one line (status 2)
    before the server starts.

    :param subparsers: The object returned by `ArgumentParser.add_subparsers`.
    :return: The subcommand's parser (its handler is set as `func`).
    """
    defaults = ServeLimits()
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="Serve a model over HTTP: OpenAI-compatible /v1/embeddings, /search, /health.",
        description="Serve a static model over HTTP (FastAPI + uvicorn). See docs/serve.md.",
    )
    parser.add_argument("model", help="Model folder or hub id.")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"Interface to bind (default {DEFAULT_HOST}).")
    parser.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"Port to bind, 0 for any free one (default {DEFAULT_PORT})."
    )
    parser.add_argument("--index", help="Folder of a saved SearchIndex to serve at POST /search.")
    parser.add_argument(
        "--served-model-name",
        dest="served_model_names",
        action="append",
        metavar="NAME",
        help="Name in responses and accepted in requests (default: the folder name or hub id). Repeat it to "
        "accept more names, for clients with a fixed model name: the first is the main one.",
    )
    for flag, field, text in LIMIT_FLAGS:
        parser.add_argument(
            flag, dest=field, type=_positive, default=getattr(defaults, field), help=f"{text} (default %(default)s)."
        )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn log level.",
    )
    parser.add_argument(
        "--access-log", action="store_true", help="Log every request (off by default: it costs throughput)."
    )
    parser.set_defaults(func=_serve_command)
    return parser
