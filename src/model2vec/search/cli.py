"""The `model2vec search` command: `search build` embeds a text file into a saved index, `search query` queries it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from model2vec.format import parse_json_line
from model2vec.search.backends import BACKENDS
from model2vec.search.index import INDEX_JSON, Id, SearchIndex
from model2vec.search.maths import DTYPES


def read_texts(path: Path, text_column: str, id_column: str | None) -> tuple[list[str], list[Id] | None]:
    """Read texts (and ids) for the `search build` command from a text or JSONL file.

    A `.txt` file gives one text per non-blank line (ids 0, 1, ...; `id_column` must be None). A
    `.jsonl`/`.ndjson` file gives one object per non-blank line, its text under `text_column` and its id
    under `id_column` when given.

    :raises FileNotFoundError: If the file is missing.
    :raises ValueError: On another suffix, invalid JSON, a missing key, a non-string text, or no text.
    """
    if not path.is_file():
        raise FileNotFoundError(f"Input not found: {path}.")
    lines = [(number, line) for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)]
    lines = [(number, line) for number, line in lines if line.strip()]
    suffix = path.suffix.lower()
    if suffix == ".txt":
        if id_column is not None:
            raise ValueError(f"{path}: --id-column needs a JSONL input; a text file's ids are line numbers.")
        texts, ids = [line for _, line in lines], None
    elif suffix in (".jsonl", ".ndjson"):
        texts, found_ids = [], []
        for number, line in lines:
            record = parse_json_line(line, f"{path}:{number}")
            for key in (text_column, id_column):
                if key is not None and (not isinstance(record, dict) or key not in record):
                    raise ValueError(f"{path}:{number}: no {key!r} key.")
            if not isinstance(record[text_column], str):
                raise ValueError(f"{path}:{number}: {text_column!r} is not a string.")
            texts.append(record[text_column])
            if id_column is not None:
                found_ids.append(record[id_column])
        ids = found_ids if id_column is not None else None
    else:
        raise ValueError(f"{path}: expected a .txt (one text per line) or .jsonl file.")
    if not texts:
        raise ValueError(f"{path}: no text to index.")
    return texts, ids


def _backend_options(args: argparse.Namespace) -> dict[str, Any]:
    names = ("connectivity", "expansion_add", "expansion_search", "threads", "graph_dtype", "oversample")
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def _build_command(args: argparse.Namespace) -> int:
    from model2vec.model import StaticModel

    target = Path(args.out)
    if target.exists() and not args.overwrite:
        raise ValueError(f"{target} exists; pass --overwrite to replace it.")
    texts, ids = read_texts(Path(args.input), args.text_column, args.id_column)
    options = _backend_options(args)
    if options and args.backend != "usearch":
        raise ValueError(
            "--connectivity, --expansion-add, --expansion-search, --graph-dtype, --oversample and --threads "
            "need --backend usearch."
        )
    model = StaticModel.from_pretrained(args.model)
    index = SearchIndex(
        model=model, dtype=args.dtype, backend=args.backend, backend_options=options, model_path=args.model
    )
    index.add(texts, ids=ids)
    index.save(target)
    print(f"Indexed {len(index):,} texts ({index.dim}-d, {args.dtype}, {args.backend}) into {target}")
    return 0


def _query_command(args: argparse.Namespace) -> int:
    from model2vec.model import StaticModel

    if args.k <= 0:
        raise ValueError(f"-k must be positive, got {args.k}.")
    options = _backend_options(args)
    folder = Path(args.index)
    if not (folder / INDEX_JSON).is_file():
        raise FileNotFoundError(f"{folder} is not a saved index (no {INDEX_JSON}).")
    model = StaticModel.from_pretrained(args.model) if args.model is not None else None
    index = SearchIndex.load(folder, model=model, backend_options=options or None)
    if model is None and index.model_path is None:
        raise ValueError(f"{folder} does not record the model it was built with (an older index): pass --model.")
    found, scores = index.search(list(args.query), args.k)
    for query, ids, row in zip(args.query, found, scores, strict=True):
        results = [
            {"id": item, "score": round(float(score), 6), "text": index.text(item)}
            for item, score in zip(ids, row, strict=True)
        ]
        if args.json:
            print(json.dumps({"query": query, "results": results}, ensure_ascii=False))
            continue
        print(f"query: {query}")
        for rank, result in enumerate(results, 1):
            text = result["text"] if result["text"] is not None else ""
            print(f"{rank:>3}  {result['score']:.4f}  {result['id']}  {text[:100]}")
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `search` command (`search build`, `search query`) to the `model2vec` command's subparsers.

    `model2vec search build MODEL INPUT --out DIR` embeds a .txt (one text per line) or .jsonl file and
    saves the index, recording the model; `model2vec search query INDEX QUERY... [--model MODEL] [-k N]`
    prints the top k of each query, with the recorded model unless `--model` is given (which must be
    the same model: its fingerprint is checked). Registering imports nothing heavy; usearch is imported
    only for `--backend usearch`.

    :param subparsers: The object returned by `ArgumentParser.add_subparsers`.
    :return: The `search` parser.
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "search", help="Build a search index from texts, or query a saved one.", description="Cosine search."
    )
    actions = parser.add_subparsers(dest="search_command", required=True)
    build = actions.add_parser("build", help="Embed texts with a model and save an index.")
    build.add_argument("model", help="Model folder or hub id.")
    build.add_argument("input", help="A .txt file (one text per line) or .jsonl file (one object per line).")
    build.add_argument("--out", required=True, help="Index folder to write.")
    build.add_argument("--text-column", default="text", help="JSONL key of the text (default: text).")
    build.add_argument("--id-column", help="JSONL key of the id (default: line order 0, 1, ...).")
    build.add_argument("--dtype", choices=DTYPES, default="float32", help="Storage dtype.")
    build.add_argument("--backend", choices=sorted(BACKENDS), default="exact", help="exact, or usearch (HNSW).")
    build.add_argument("--overwrite", action="store_true", help="Replace --out if it exists.")
    query = actions.add_parser("query", help="Print the top k texts of a saved index for each query.")
    query.add_argument("index", help="Index folder written by `search build`.")
    query.add_argument("query", nargs="+", help="Query text(s).")
    query.add_argument(
        "--model",
        help="The model the index was built with (folder or hub id); default: the model the index records. "
        "A model other than the recorded one is refused.",
    )
    query.add_argument("-k", type=int, default=10, help="Results per query (default 10).")
    query.add_argument("--json", action="store_true", help="Print one JSON object per query.")
    for sub, build_time in ((build, True), (query, False)):
        group = sub.add_argument_group("usearch options")
        if build_time:
            group.add_argument("--connectivity", type=int, help="Graph degree (default 16).")
            group.add_argument("--expansion-add", type=int, help="Candidate width while building (default 128).")
            group.add_argument("--graph-dtype", choices=DTYPES, help="Dtype of the graph's vectors.")
        group.add_argument("--expansion-search", type=int, help="Candidate width while searching (default 64).")
        group.add_argument("--oversample", type=int, help="Graph candidates per result, rescored exactly.")
        group.add_argument("--threads", type=int, help="Threads (0 = all cores).")
    build.set_defaults(func=_build_command)
    query.set_defaults(func=_query_command)
    return parser
