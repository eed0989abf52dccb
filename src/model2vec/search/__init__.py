"""Exact top-k cosine search over vectors or texts, memory-bounded, with float32/float16/int8 storage.

Vectors are L2-normalised when added, so a cosine score is one dot product. A query batch is scored
against the stored rows one block at a time: the block height is chosen so the float32 score matrix
stays under `memory_budget` bytes (float16/int8 rows are widened through a ~1 MiB buffer),
`np.argpartition` keeps each block's best k, and the running best k are merged after every block.
Results are exact for the stored vectors; ties are broken by insertion order (earlier rows first), so
results are deterministic.

Storage in float16 halves memory; int8 quarters it, with one float32 scale per row (the row's largest
absolute value / 127). Scores are always computed in float32.

An index saves to a folder holding `index.safetensors` (vectors, scales) and `index.json` (ids, texts,
settings); nothing is ever unpickled. The package imports only numpy and safetensors, so it is not
imported by `import model2vec`; use `from model2vec.search import SearchIndex`.

Approximate search: `backend="usearch"` keeps an HNSW graph (usearch, `pip install "model2vec[ann]"`)
next to the stored rows. The graph proposes k candidates per query; their scores are then recomputed
from the stored rows, so every returned score is the exact cosine for the stored vector and results are
ordered exactly like the exact backend's, but an item may be missed (recall < 1). usearch is imported
only when such an index is created. Other implementations plug in by implementing `SearchBackend` and
registering a factory in `BACKENDS`.

Modules: `maths` (normalising, quantising, blocked top-k), `backends` (exact and usearch), `index`
(`SearchIndex` and its folder format), `cli` (the `model2vec search` command).
"""

from model2vec.search.backends import (
    BACKENDS,
    RESCORE_GROUP,
    USEARCH_DEFAULTS,
    USEARCH_DTYPES,
    USEARCH_FILE,
    ExactBackend,
    SearchBackend,
    UsearchBackend,
    import_usearch_index,
)
from model2vec.search.cli import read_texts, register
from model2vec.search.fingerprint import ModelRecord, model_fingerprint
from model2vec.search.index import FORMAT_VERSION, INDEX_JSON, INDEX_TENSORS, Id, SearchIndex
from model2vec.search.maths import (
    CONVERT_BYTES,
    DEFAULT_MEMORY_BUDGET,
    DTYPES,
    MIN_BLOCK,
    exact_search,
    merge_top_k,
    normalize_rows,
    quantize_rows,
    rescore,
    top_k_rows,
)

__all__ = [
    "BACKENDS",
    "CONVERT_BYTES",
    "DEFAULT_MEMORY_BUDGET",
    "DTYPES",
    "FORMAT_VERSION",
    "INDEX_JSON",
    "INDEX_TENSORS",
    "MIN_BLOCK",
    "RESCORE_GROUP",
    "USEARCH_DEFAULTS",
    "USEARCH_DTYPES",
    "USEARCH_FILE",
    "ExactBackend",
    "Id",
    "ModelRecord",
    "SearchBackend",
    "SearchIndex",
    "UsearchBackend",
    "exact_search",
    "import_usearch_index",
    "merge_top_k",
    "model_fingerprint",
    "normalize_rows",
    "quantize_rows",
    "read_texts",
    "register",
    "rescore",
    "top_k_rows",
]
