"""`StaticModel`: a token-embedding table plus a tokenizer, and the methods users call.

The class holds state and delegates the work: tokenising to `tokenization`, pooling to `pooling`,
files to `format`, the hub to `hub` and dtype changes to `quantization`.
"""

from __future__ import annotations

import json
import math
import os
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from functools import cached_property
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

import numpy as np
from tokenizers import Tokenizer

from model2vec import format as fmt
from model2vec.arguments import ENCODE_COMPATIBLE, LOAD_COMPATIBLE, warn_unknown
from model2vec.hub import push_saved, resolve_model_path
from model2vec.pooling import float32_table, kernel_reads, largest_row_value, segment_mean, segment_sequences
from model2vec.quantization import DType, quantize_embeddings, quantize_vocabulary, truncate_dimensions
from model2vec.tokenization import (
    LeanUnigram,
    TextTokenizer,
    TokenBatch,
    TokenJob,
    check_max_length,
    find_unk_token_id,
    median_token_length,
    ordered_vocabulary,
    tokenizer_json,
    validate_texts,
)

if TYPE_CHECKING:
    from concurrent.futures import Future

DEFAULT_MAX_LENGTH = 512
# Largest float32 working copy of the table kept for fast pooling; bigger tables are pooled directly.
MAX_WORKING_TABLE_BYTES = 1 << 30
_T = TypeVar("_T")
# Serialises building the Rust tokenizer of lean models (see `StaticModel.tokenizer`).
_BUILD_LOCK = threading.Lock()


def pretrained_path(
    path: str | os.PathLike[str] | None, model_name: str | os.PathLike[str] | None
) -> str | os.PathLike[str]:
    """Return the model path given as `path` or as `model_name=` (the name other model2vec versions use).

    :param path: The positional/`path` argument.
    :param model_name: The `model_name` keyword argument.
    :return: Whichever was given.
    :raises TypeError: If neither or both are given (or both differ).
    """
    if path is None and model_name is None:
        raise TypeError("from_pretrained() needs the model: a local folder or hub id, as path or model_name=.")
    if path is not None and model_name is not None and str(path) != str(model_name):
        raise TypeError(f"from_pretrained() got both path={path!r} and model_name={model_name!r}; pass one.")
    chosen = path if path is not None else model_name
    assert chosen is not None
    return chosen


def _encode_normalize(function: Callable[..., Any], kwargs: dict[str, Any]) -> bool | None:
    """Return the `normalize` option of an encode call, after checking its other keyword arguments.

    `normalize_embeddings=True` (sentence-transformers' name) also asks for normalised output; its False
    means "do not normalise again", which leaves the model's setting in force.
    """
    warn_unknown(function, kwargs, ("normalize", "normalize_embeddings"), ENCODE_COMPATIBLE, stacklevel=4)
    normalize = kwargs.get("normalize")
    if normalize is None and kwargs.get("normalize_embeddings") is True:
        return True
    return None if normalize is None else fmt.strict_bool(normalize, "normalize")


def _refuse_non_text_iterables(sentences: Any) -> None:
    """Refuse inputs whose iteration gives something other than their texts (keys, column names, bytes).

    :raises TypeError: For bytes, a mapping (iterates its keys) or a data frame / table (iterates its
        column names); the message says what to pass instead.
    """
    kind = type(sentences).__name__
    if isinstance(sentences, bytes | bytearray | memoryview):
        raise TypeError(f"Expected a str or a sequence of str, got {kind}: decode it first (e.g. data.decode()).")
    if isinstance(sentences, Mapping):
        raise TypeError(
            f"Expected a sequence of str, got a {kind}: iterating it gives its keys. "
            "Pass list(mapping.values()) or list(mapping) explicitly."
        )
    if hasattr(sentences, "columns") and hasattr(sentences, "shape"):
        raise TypeError(
            f"Expected a sequence of str, got a {kind}: iterating it gives its column names. "
            "Pass one column of texts, e.g. df['text'].tolist()."
        )


def _as_text_collection(sentences: Any) -> list[str]:
    """Validate a collection input (list, tuple, array, Series, or any iterable) as a list of str.

    :raises TypeError: For a non-iterable input, bytes, a mapping or a data frame (see
        `_refuse_non_text_iterables`), or an item that is not a str (naming its index).
    """
    _refuse_non_text_iterables(sentences)
    if not isinstance(sentences, Iterable):
        raise TypeError(f"Expected a str or a sequence of str, got {type(sentences).__name__}.")
    return validate_texts(sentences if isinstance(sentences, list) else list(sentences))


def _validated_stream(sentences: Iterable[Any]) -> Iterator[str]:
    """Yield the items of a stream, raising TypeError (with the index) at the first non-str."""
    for index, text in enumerate(sentences):
        if not isinstance(text, str):
            raise TypeError(f"Item {index} of the input is {type(text).__name__}, expected str.")
        yield text


def _batches(items: Iterable[str], batch_size: int) -> Iterator[tuple[int, list[str]]]:
    """Yield `(position of the first item, list of at most batch_size items)` (lists and streams)."""
    if isinstance(items, list):
        for start in range(0, len(items), batch_size):
            yield start, items[start : start + batch_size]
        return
    iterator = iter(items)
    start = 0
    while batch := list(islice(iterator, batch_size)):
        yield start, batch
        start += len(batch)


class StaticModel:
    """A static embedding model: one vector per token, a text is the mean of its tokens' vectors.

    :param vectors: The `(rows, dim)` embedding table (float16/32/64 or int8). Without `token_mapping`
        it needs one row per tokenizer token.
    :param tokenizer: A `tokenizers.Tokenizer`; it is copied, not modified. The model's `tokenizer` is
        that copy with padding and truncation disabled (they must never leak into a mean); the original
        settings are written back to `tokenizer.json` on save. Loaders may pass a
        `model2vec.tokenization.LeanUnigram` instead (large Unigram vocabularies; see `tokenizer`).
    :param config: Extra configuration, written to `config.json` on save.
    :param normalize: L2-normalise outputs. None takes `config["normalize"]`, else False.
    :param base_model_name: The teacher model's name, if known.
    :param language: Language code(s), if known.
    :param weights: Optional per-token weights (one per tokenizer token), multiplied into each row.
    :param token_mapping: Optional token id -> row mapping (vocabulary-quantised models).
    :param _copy_tokenizer: Internal, for loaders: False uses `tokenizer` itself (it is then changed).
    :raises TypeError: If `vectors` is not a numpy array or `tokenizer` is not a `tokenizers.Tokenizer`.
    :raises ValueError: If shapes disagree with the vocabulary, or the dtype is unsupported.

    `embedding`, `weights` and `token_mapping` are plain attributes. `encode` converts them once and
    reuses the result, so to change them assign new arrays: in-place edits are not seen. Arrays loaded
    by `from_pretrained` are mapped copy-on-write from the file (writable; the file never changes).
    """

    def __init__(
        self,
        vectors: np.ndarray,
        tokenizer: Tokenizer | LeanUnigram,
        config: dict[str, Any] | None = None,
        normalize: bool | None = None,
        base_model_name: str | None = None,
        language: str | list[str] | None = None,
        weights: np.ndarray | None = None,
        token_mapping: np.ndarray | None = None,
        *,
        _copy_tokenizer: bool = True,
    ) -> None:
        if not isinstance(vectors, np.ndarray):
            raise TypeError(f"vectors must be a numpy array, got {type(vectors).__name__}.")
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be 2-D (rows, dim), got shape {vectors.shape}.")
        DType.parse(vectors.dtype)  # raises ValueError for unsupported dtypes
        # One tokenizer is kept, with padding and truncation off; the original settings are written back
        # on save so the folder still works for sentence-transformers.
        self._lean: LeanUnigram | None = None
        self._tokenizer: Tokenizer | None = None
        if isinstance(tokenizer, LeanUnigram):
            # A large Unigram vocabulary loaded lean: encoding never builds the Rust model, `tokenizer`
            # builds it on first use (see `model2vec.tokenization.unigram`). It is never changed, so shared.
            self._lean = tokenizer
            spec = tokenizer.spec
            vocab_size = tokenizer.get_vocab_size()
        elif isinstance(tokenizer, Tokenizer):
            # The JSON is parsed once and shared by every helper below (a large vocabulary makes it costly).
            text = tokenizer.to_str()
            spec = json.loads(text)
            # Loaders pass a tokenizer nobody else holds: it is used as is, saving a second copy in memory.
            self._tokenizer = Tokenizer.from_str(text) if _copy_tokenizer else tokenizer
            self._tokenizer.no_padding()
            self._tokenizer.no_truncation()
            del text
            vocab_size = tokenizer.get_vocab_size()
        else:
            raise TypeError(f"tokenizer must be a tokenizers.Tokenizer, got {type(tokenizer).__name__}.")
        self._tokenizer_settings = {"padding": spec.get("padding"), "truncation": spec.get("truncation")}
        if token_mapping is not None:
            token_mapping = np.asarray(token_mapping)
            if token_mapping.shape != (vocab_size,) or not np.issubdtype(token_mapping.dtype, np.integer):
                raise ValueError(
                    f"token_mapping must be {vocab_size} integers (one per token), got {token_mapping.dtype} "
                    f"{token_mapping.shape}."
                )
            if vocab_size and (token_mapping.min() < 0 or token_mapping.max() >= len(vectors)):
                raise ValueError(f"token_mapping points outside the {len(vectors)} rows of vectors.")
            token_mapping = token_mapping.astype(np.int64)
        elif len(vectors) != vocab_size:
            raise ValueError(
                f"vectors has {len(vectors)} rows but the tokenizer has {vocab_size} tokens; they must match."
            )
        if weights is not None:
            weights = np.asarray(weights)
            if weights.shape != (vocab_size,):
                raise ValueError(f"weights must have shape ({vocab_size},), one per token, got {weights.shape}.")
            weights = weights.astype(np.float32)

        self.embedding = vectors
        self.weights = weights
        self.token_mapping = token_mapping
        self.config: dict[str, Any] = dict(config or {})
        self.unk_token_id: int | None
        self._text_tokenizer: TextTokenizer
        self.median_token_length: int
        if self._lean is not None:
            self.unk_token_id = self._lean.unk_token_id
            self._text_tokenizer = TextTokenizer(self._lean, self.unk_token_id)
            self.median_token_length = self._lean.median_token_length
        else:
            self.unk_token_id = find_unk_token_id(self.tokenizer, spec)
            self._text_tokenizer = TextTokenizer(self.tokenizer, self.unk_token_id, spec=spec)
            self.median_token_length = median_token_length(ordered_vocabulary(self.tokenizer))
        del spec
        self._pooling_cache: tuple[tuple[Any, ...], np.ndarray, np.ndarray | None, float] | None = None
        self.base_model_name = base_model_name
        self.language = language
        if normalize is None:
            configured = self.config.get("normalize")
            normalize = False if configured is None else fmt.strict_bool(configured, 'config["normalize"]')
        self.normalize = normalize

    # -- attributes ---------------------------------------------------------------------------------

    @property
    def tokenizer(self) -> Tokenizer:
        """The `tokenizers.Tokenizer`, with padding and truncation off.

        For a large Unigram vocabulary loaded lean it is built on first use (about 1 KB of memory per
        piece); `encode`, `encode_iter` and `tokenize` never need it. Assigning a tokenizer does not
        change how texts are tokenised (as before: the model keeps its own prepared copy).
        """
        if self._tokenizer is None:
            with _BUILD_LOCK:
                if self._tokenizer is None and self._lean is not None:
                    built = self._lean.to_tokenizer()
                    built.no_padding()
                    built.no_truncation()
                    self._tokenizer = built
        if self._tokenizer is None:
            raise RuntimeError("StaticModel has no tokenizer")
        return self._tokenizer

    @tokenizer.setter
    def tokenizer(self, value: Tokenizer) -> None:
        self._tokenizer = value

    @cached_property
    def tokens(self) -> list[str]:
        """The vocabulary, indexed by token id (built on first use: most programs never need it)."""
        if self._lean is not None and self._tokenizer is None:
            return self._lean.ordered_vocabulary()
        return ordered_vocabulary(self.tokenizer)

    @property
    def normalize(self) -> bool:
        """Whether `encode` L2-normalises its output."""
        return self._normalize

    @normalize.setter
    def normalize(self, value: bool) -> None:
        if not isinstance(value, bool | np.bool_):
            raise TypeError(f"normalize must be a bool, got {type(value).__name__}.")
        self._normalize = bool(value)
        self.config["normalize"] = self._normalize

    @property
    def dim(self) -> int:
        """Number of dimensions of the output vectors."""
        return int(self.embedding.shape[1])

    @property
    def embedding_dtype(self) -> str:
        """Storage dtype of the table, e.g. "float16" or "int8"."""
        return str(self.embedding.dtype)

    @property
    def vocabulary_quantization(self) -> int | None:
        """Number of shared rows of a vocabulary-quantised model, None when each token has its own row."""
        return None if self.token_mapping is None else int(self.embedding.shape[0])

    def __repr__(self) -> str:
        return (
            f"StaticModel(vocab={self._vocab_length()}, dim={self.dim}, dtype={self.embedding_dtype}, "
            f"normalize={self.normalize}, vocabulary_quantization={self.vocabulary_quantization})"
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a pickled model (also one pickled when `tokenizer` was a plain attribute)."""
        if "tokenizer" in state:
            state["_tokenizer"] = state.pop("tokenizer")
        state.setdefault("_lean", None)
        self.__dict__.update(state)

    def _vocab_length(self) -> int:
        """Length of `tokens` (without building the Rust tokenizer of a lean model)."""
        if self._lean is not None and "tokens" not in self.__dict__:
            return self._lean.get_vocab_size()  # lean vocabularies have no holes and no extra added tokens
        return len(self.tokens)

    # -- loading ------------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str] | None = None,
        token: str | None = None,
        normalize: bool | None = None,
        subfolder: str | None = None,
        quantize_to: str | DType | None = None,
        dimensionality: int | None = None,
        vocabulary_quantization: int | None = None,
        force_download: bool = False,
        **kwargs: Any,
    ) -> StaticModel:
        """Load a model from a local folder or a hub repository id.

        Folders in the model2vec, sentence-transformers and `0_StaticEmbedding/` layouts are accepted.
        A hub id is looked up in the local cache first and only downloaded when missing.

        :param path: Local folder or hub id (also accepted as `model_name=`, as in other model2vec versions).
        :param token: Hub token for private repositories.
        :param normalize: Override normalisation; None uses the config, then a `Normalize` module.
        :param subfolder: Folder inside `path` holding the model.
        :param quantize_to: Convert the table to this dtype after loading.
        :param dimensionality: Keep only the first this-many dimensions.
        :param vocabulary_quantization: Cluster the vocabulary into this many rows (k-means, ~10 s for 30k
            tokens; save the result with `save_pretrained` and load that folder to skip it next time).
        :param force_download: Download from the hub even if cached.
        :param kwargs: `model_name` (the path); hub-style arguments a static model does not use (`device`,
            `revision`, `cache_dir`, ...) are accepted silently, anything else is ignored with a warning
            naming the closest valid argument (see `model2vec.arguments`).
        :return: The model.
        :raises TypeError: If neither or both of `path` and `model_name` are given.
        :raises FileNotFoundError: If the folder, repository or a required file is missing.
        :raises NotADirectoryError: If the path is a file.
        :raises model2vec.format.ModelFormatError: If a file is corrupt or inconsistent.
        :raises TypeError: If `normalize` is not None, True or False.

        A local folder left without a model by a killed save is repaired first (see
        `model2vec.format.recover_interrupted_save`).
        """
        path = pretrained_path(path, kwargs.pop("model_name", None))
        if token is None and isinstance(kwargs.get("use_auth_token"), str):
            token = kwargs["use_auth_token"]  # the older hub-client name for the token
        warn_unknown(cls.from_pretrained, kwargs, (), LOAD_COMPATIBLE)
        if normalize is not None:
            normalize = fmt.strict_bool(normalize, "normalize")
        local = Path(path).expanduser()
        fmt.recover_interrupted_save(local / subfolder if subfolder else local)
        folder = resolve_model_path(path, token=token, subfolder=subfolder, force_download=force_download)
        loaded = fmt.load_folder(folder)
        if normalize is None:
            # load_folder has checked that config.json's "normalize" is a JSON boolean or null.
            config_normalize = loaded.config.get("normalize")
            normalize = config_normalize if config_normalize is not None else loaded.normalize_module
        base_model = loaded.config.get("base_model") or loaded.metadata.get("base_model")
        if base_model is None:
            base_model = loaded.config.get("tokenizer_name")
        language = loaded.metadata.get("language")
        try:
            model = cls(
                vectors=loaded.embeddings,
                tokenizer=loaded.tokenizer,
                config=loaded.config,
                normalize=normalize,
                base_model_name=str(base_model) if base_model is not None else None,
                language=language,
                weights=loaded.weights,
                token_mapping=loaded.mapping,
                _copy_tokenizer=False,
            )
        except MemoryError:
            raise
        except Exception as error:  # tokenizers raises bare Exceptions for tokenizers it cannot run
            # load_folder validated the tensors and config; what is left is the tokenizer's content.
            raise fmt.ModelFormatError(f"Cannot use the tokenizer {loaded.tokenizer_path}: {error}") from error
        if quantize_to is not None or dimensionality is not None or vocabulary_quantization is not None:
            model = quantize_model(
                model,
                vocabulary_quantization=vocabulary_quantization,
                quantize_to=quantize_to,
                dimensionality=dimensionality,
            )
        return model

    @classmethod
    def load_local(cls, path: str | os.PathLike[str]) -> StaticModel:
        """Load a model from a local folder (never touches the hub).

        :param path: The folder.
        :return: The model.
        :raises FileNotFoundError: If the folder does not exist.
        """
        local = Path(path)
        if not local.exists():
            raise FileNotFoundError(f"Model folder {local} does not exist.")
        return cls.from_pretrained(local)

    @classmethod
    def from_sentence_transformers(
        cls, path: str | os.PathLike[str], token: str | None = None, normalize: bool | None = None, **kwargs: Any
    ) -> StaticModel:
        """Load a sentence-transformers static model. Deprecated: `from_pretrained` reads all layouts.

        :param path: Local folder or hub id.
        :param token: Hub token.
        :param normalize: Override normalisation.
        :param kwargs: Passed to `from_pretrained`.
        :return: The model.
        """
        warnings.warn(
            "StaticModel.from_sentence_transformers is deprecated; use StaticModel.from_pretrained, "
            "which reads every layout.",
            DeprecationWarning,
            stacklevel=2,
        )
        return cls.from_pretrained(path, token=token, normalize=normalize, **kwargs)

    # -- encoding -----------------------------------------------------------------------------------

    def tokenize(self, sentences: str | Sequence[str], max_length: int | None = None) -> list[list[int]]:
        """Token ids of each text, as used for encoding (no special tokens, unknown tokens dropped).

        :param sentences: A str or a sequence of str.
        :param max_length: Keep at most this many tokens per text (before dropping unknown ones).
        :return: One list of ids per text (a list with one list for a single str).
        :raises TypeError: If an item is not a str.
        """
        texts = [sentences] if isinstance(sentences, str) else _as_text_collection(sentences)
        return self._tokenize(texts, max_length).as_lists()

    def _tokenize(self, texts: Sequence[str], max_length: int | None) -> TokenBatch:
        return self._text_tokenizer(texts, max_length)

    def _pooling_arrays(self) -> tuple[np.ndarray, np.ndarray | None, float]:
        """Return the table and weights `encode` pools from, and `largest_row_value` of them; built once.

        The compiled kernel reads float32, float16 and int8 tables as stored (no copy; see
        `kernel_reads`); otherwise a float32 table is made, with the weights folded in when possible.

        The cache is keyed on the identity of `embedding`, `weights` and `token_mapping`, so assigning a
        new array to any of them is picked up; changing an array in place is not (assign a new one).
        """
        sources = (self.embedding, self.weights, self.token_mapping)
        cached = self._pooling_cache
        # Compare by identity while holding the sources, so a freed array's id can never be reused.
        if cached is not None and all(a is b for a, b in zip(cached[0], sources, strict=True)):
            return cached[1], cached[2], cached[3]
        if kernel_reads(self.embedding) or self.embedding.size * 4 > MAX_WORKING_TABLE_BYTES:
            table, weights = self.embedding, self.weights
        else:
            table, weights = float32_table(self.embedding, self.weights, self.token_mapping)
        bound = largest_row_value(table, weights)
        if not math.isfinite(bound):
            # Loaders refuse such files; arrays given in memory are checked here, once, so encode never emits NaN.
            raise ValueError("The embedding table or the token weights hold NaN or infinite values; cannot encode.")
        self._pooling_cache = (sources, table, weights, bound)
        return table, weights, bound

    def _results(
        self,
        batches: Iterable[tuple[int, list[str]]],
        max_length: int | None,
        work: Callable[[int, list[str], TokenBatch], _T],
        parallel: bool,
    ) -> Iterator[tuple[int, _T]]:
        """Tokenise each batch, apply `work(start, batch, tokens)` and yield (batch length, result) in order.

        In parallel mode the batches go through a two-stage pipeline: the calling thread looks words up
        in the cache and pools, while one helper thread runs the Rust tokenizer on the words of the next
        batch (the tokenizer releases the GIL and spreads a call over the cores with its own pool). At
        most two batches are in flight, so memory stays bounded for streams, and no process-wide
        setting such as `TOKENIZERS_PARALLELISM` is touched.
        """
        tokenizer = self._text_tokenizer
        if not parallel or (os.cpu_count() or 1) < 2:
            for start, batch in batches:
                yield len(batch), work(start, batch, tokenizer(batch, max_length))
            return
        # Imported here: the executor (and the logging it pulls in) costs memory that one-thread use never needs.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1) as helper:
            pending: deque[tuple[int, list[str], TokenJob, Future[None]]] = deque()

            def finish_oldest() -> tuple[int, _T]:
                start, batch, job, encoded = pending.popleft()
                encoded.result()  # re-raises anything the helper raised
                return len(batch), work(start, batch, tokenizer.finish(job))

            for start, batch in batches:
                job = tokenizer.begin(batch, max_length)
                pending.append((start, batch, job, helper.submit(tokenizer.encode_missing, job)))
                if len(pending) > 1:
                    yield finish_oldest()
            while pending:
                yield finish_oldest()

    def _run(
        self,
        sentences: Any,
        max_length: int | None,
        work: Callable[[int, list[str], TokenBatch], _T],
        batch_size: int,
        show_progress_bar: bool,
        use_multiprocessing: bool,
        multiprocessing_threshold: int,
    ) -> Iterator[tuple[int, _T]]:
        """Validate, batch and process an input of any length; yields (batch length, result)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
        total = len(sentences) if isinstance(sentences, Sized) else None
        # Large inputs are pipelined (see `_results`): the Rust tokenizer releases the GIL, so it works on
        # one batch while this thread does the GIL-bound word lookups and the pooling of another. A pool of
        # threads each doing whole batches measured slower on 2 cores (the tokenizer's own threads then
        # compete with ours) and used more memory (one malloc arena per thread). The pipeline measured a
        # gain from about 5k short texts (it needs several batches to overlap), so the reference's default
        # threshold of 10k is kept. An input of unknown length counts as large.
        parallel = use_multiprocessing and (total is None or total > multiprocessing_threshold)
        check_max_length(max_length)
        results = self._results(_batches(sentences, batch_size), max_length, work, parallel)
        if not show_progress_bar:
            # tqdm is only imported when asked for: importing it costs a noticeable part of a small encode.
            yield from results
            return
        from model2vec.progress import progress_bar

        with progress_bar(total=total, desc="Encoding", unit="text") as bar:
            for size, result in results:
                bar.update(size)
                yield size, result

    @overload
    def encode(
        self,
        sentences: str,
        show_progress_bar: bool = ...,
        max_length: int | None = ...,
        batch_size: int = ...,
        use_multiprocessing: bool = ...,
        multiprocessing_threshold: int = ...,
        **kwargs: Any,
    ) -> np.ndarray: ...
    @overload
    def encode(
        self,
        sentences: Iterable[str],
        show_progress_bar: bool = ...,
        max_length: int | None = ...,
        batch_size: int = ...,
        use_multiprocessing: bool = ...,
        multiprocessing_threshold: int = ...,
        **kwargs: Any,
    ) -> np.ndarray: ...

    def encode(
        self,
        sentences: str | Iterable[str],
        show_progress_bar: bool = False,
        max_length: int | None = DEFAULT_MAX_LENGTH,
        batch_size: int = 1024,
        use_multiprocessing: bool = True,
        multiprocessing_threshold: int = 10_000,
        **kwargs: Any,
    ) -> np.ndarray:
        """Embed texts: the (weighted) mean of each text's token vectors, normalised if `normalize`.

        :param sentences: A str (gives a 1-D array) or a list/tuple/array/Series of str (gives 2-D).
        :param show_progress_bar: Show a progress bar.
        :param max_length: Use at most this many tokens per text; None for no limit.
        :param batch_size: Texts per batch (memory bound; never changes results).
        :param use_multiprocessing: For large inputs, tokenise the next batch in a helper thread while
            this one pools (False: all work stays in the calling thread, besides the tokenizer's own pool).
        :param multiprocessing_threshold: Minimum number of texts to go parallel.
        :param kwargs: `normalize` (bool) overrides the model setting for this call (sentence-transformers'
            `normalize_embeddings=True` too); arguments of sentence-transformers-style callers that do not
            change a static model's output (`convert_to_numpy`, `task_name`, `prompt_type`, ...) are
            accepted silently, anything else is ignored with a warning naming the closest valid argument.
        :return: float32, C-contiguous, writable; `(n, dim)`, or `(dim,)` for a single str. A text
            without known tokens gives a zero vector. `encode([])` gives shape `(0, dim)`.
        :raises TypeError: If an item is not a str (the message names its index and type).
        :raises ValueError: If `max_length` or `batch_size` is not a positive int.
        """
        normalize = _encode_normalize(StaticModel.encode, kwargs)
        if isinstance(sentences, str):
            batch = self.encode([sentences], show_progress_bar, max_length, batch_size, False, normalize=normalize)
            first: np.ndarray = batch[0]
            return first
        texts = _as_text_collection(sentences)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # Each batch is pooled straight into its rows of `out` (no per-batch array to copy).
        for _ in self._run(
            texts,
            max_length,
            self._mean_worker(normalize, out),
            batch_size,
            show_progress_bar,
            use_multiprocessing,
            multiprocessing_threshold,
        ):
            pass
        return out

    def encode_iter(
        self,
        sentences: Iterable[str],
        batch_size: int = 1024,
        max_length: int | None = DEFAULT_MAX_LENGTH,
        show_progress_bar: bool = False,
        use_multiprocessing: bool = True,
        **kwargs: Any,
    ) -> Iterator[np.ndarray]:
        """Embed a stream of texts lazily, one `(batch, dim)` float32 array per `batch_size` texts, in order.

        Memory is bounded by a few batches whatever the length of the stream (a generator over millions
        of texts is fine); results are identical to `encode`.

        :param sentences: Any iterable of str (a generator, a file object's lines, a list...).
        :param batch_size: Texts per yielded array (the last one may be shorter).
        :param max_length: Use at most this many tokens per text; None for no limit.
        :param show_progress_bar: Show a progress bar (counts texts; no total for generators).
        :param use_multiprocessing: Tokenise the next batch in a helper thread while this one pools.
        :param kwargs: `normalize` (bool) overrides the model setting; other arguments as for `encode`.
        :return: An iterator of arrays.
        :raises TypeError: If `sentences` is a str or an item is not a str (index counted over the stream).
        :raises ValueError: If `max_length` or `batch_size` is not a positive int.
        """
        normalize = _encode_normalize(StaticModel.encode_iter, kwargs)
        _refuse_non_text_iterables(sentences)
        if isinstance(sentences, str) or not isinstance(sentences, Iterable):
            raise TypeError(f"encode_iter expects an iterable of str, got {type(sentences).__name__}.")
        for _, result in self._run(
            _validated_stream(sentences),
            max_length,
            self._mean_worker(normalize),
            batch_size,
            show_progress_bar,
            use_multiprocessing,
            0,
        ):
            yield result

    def _mean_worker(
        self, normalize: bool | None, out: np.ndarray | None = None
    ) -> Callable[[int, list[str], TokenBatch], np.ndarray]:
        """Return the function that pools one tokenised batch.

        With `out`, a batch starting at text `start` is written to `out[start : start + len(batch)]`
        (a view of which is returned); otherwise each batch gets a new array.
        """
        table, weights, bound = self._pooling_arrays()
        mapping = self.token_mapping
        do_normalize = self.normalize if normalize is None else fmt.strict_bool(normalize, "normalize")

        def work(start: int, batch: list[str], tokens: TokenBatch) -> np.ndarray:
            rows = None if out is None else out[start : start + len(batch)]
            return segment_mean(
                table, tokens.ids, tokens.offsets, weights, mapping, do_normalize, out=rows, row_bound=bound
            )

        return work

    def encode_as_sequence(
        self,
        sentences: str | Iterable[str],
        show_progress_bar: bool = False,
        max_length: int | None = DEFAULT_MAX_LENGTH,
        batch_size: int = 1024,
        use_multiprocessing: bool = True,
        multiprocessing_threshold: int = 10_000,
        **kwargs: Any,
    ) -> np.ndarray | list[np.ndarray]:
        """Per-token vectors of each text (weights and mapping applied, never normalised).

        :param sentences: A str or a sequence of str.
        :param show_progress_bar: Show a progress bar.
        :param max_length: Use at most this many tokens per text; None for no limit.
        :param batch_size: Texts per batch.
        :param use_multiprocessing: For large inputs, tokenise the next batch in a helper thread while
            this one pools (False: all work stays in the calling thread, besides the tokenizer's own pool).
        :param multiprocessing_threshold: Minimum number of texts to go parallel.
        :param kwargs: Accepted as for `encode` (`normalize` has no effect here); unknown ones are warned about.
        :return: For a str, one `(n_tokens, dim)` float32 array; otherwise a list of them. Texts
            without known tokens give `(0, dim)`.
        :raises TypeError: If an item is not a str.
        """
        warn_unknown(StaticModel.encode_as_sequence, kwargs, ("normalize", "normalize_embeddings"), ENCODE_COMPATIBLE)
        single = isinstance(sentences, str)
        texts = [sentences] if isinstance(sentences, str) else _as_text_collection(sentences)

        def work(_: int, batch: list[str], tokens: TokenBatch) -> list[np.ndarray]:
            return segment_sequences(self.embedding, tokens.ids, tokens.offsets, self.weights, self.token_mapping)

        sequences: list[np.ndarray] = []
        for _, result in self._run(
            texts, max_length, work, batch_size, show_progress_bar, use_multiprocessing, multiprocessing_threshold
        ):
            sequences.extend(result)
        return sequences[0] if single else sequences

    # -- saving -------------------------------------------------------------------------------------

    def _save_config(self) -> dict[str, Any]:
        config = dict(self.config)
        config.update(
            {
                "model_type": "model2vec",
                "architectures": ["StaticModel"],
                "hidden_dim": self.dim,
                "normalize": self.normalize,
                "embedding_dtype": self.embedding_dtype,
                "vocabulary_quantization": self.vocabulary_quantization,
            }
        )
        if self.base_model_name is not None:
            config.setdefault("tokenizer_name", self.base_model_name)
        return config

    def save_pretrained(
        self,
        path: str | os.PathLike[str],
        model_name: str | None = None,
        subfolder: str | None = None,
        *,
        _extra: Callable[[Path], None] | None = None,
    ) -> Path:
        """Save the model as a folder that model2vec and sentence-transformers can load.

        The folder is written next to its destination and swapped in, so an interrupted save never
        replaces a good model with a partial one. Unrelated files already in the folder are kept.

        :param path: Destination folder; relative paths ("." included) are taken from the current folder,
            and a symbolic link is followed (the link stays).
        :param model_name: Name for the model card (defaults to the folder name).
        :param subfolder: Save into this folder inside `path`.
        :param _extra: Internal, for pipelines: writes further files into the folder before it is swapped in.
        :return: The folder written.
        :raises NotADirectoryError: If the destination is a file.
        :raises ValueError: If the destination is the filesystem root.
        """
        target = Path(path) / subfolder if subfolder else Path(path)
        language = [self.language] if isinstance(self.language, str) else self.language
        card = fmt.model_card(model_name or Path(os.path.abspath(target)).name, self.base_model_name, language)
        return fmt.save_folder(
            target,
            embeddings=self.embedding,
            tokenizer=tokenizer_json(self.tokenizer, self._tokenizer_settings),
            config=self._save_config(),
            normalize=self.normalize,
            weights=self.weights,
            mapping=self.token_mapping,
            card=card,
            extra=_extra,
        )

    def push_to_hub(
        self, repo_id: str, private: bool = False, token: str | None = None, subfolder: str | None = None
    ) -> str:
        """Save the model to a temporary folder and upload it to a hub repository.

        :param repo_id: Target repository, e.g. "org/name" (created if missing).
        :param private: Create the repository as private.
        :param token: Hub token.
        :param subfolder: Folder inside the repository.
        :return: The commit reference returned by the hub.
        """
        return push_saved(
            lambda folder: self.save_pretrained(folder, model_name=repo_id), repo_id, private, token, subfolder
        )


def unshared(array: np.ndarray, original: np.ndarray | None) -> np.ndarray:
    """Return `array`, copied when it may share memory with `original` (so callers may edit the result).

    :param array: A result that may be (a view of) `original`.
    :param original: The model's own array, or None.
    :return: `array` itself, or a copy when its memory may overlap `original`'s.
    """
    # may_share_memory only compares bounds: exact overlap checks can be slow on strided views.
    return array.copy() if original is not None and np.may_share_memory(array, original) else array


def quantize_model(
    model: StaticModel,
    vocabulary_quantization: int | None = None,
    quantize_to: str | DType | None = None,
    dimensionality: int | None = None,
    show_progress_bar: bool | None = None,
) -> StaticModel:
    """Return a smaller copy of a model; the original is not changed.

    Steps run in this order: keep the first `dimensionality` dimensions, cluster the vocabulary into
    `vocabulary_quantization` rows (k-means; each token keeps its magnitude as a weight), convert to
    `quantize_to`. int8 stores one scale per row, folded into the per-token weights, so output vectors
    keep their magnitude (this matters when `normalize` is False).

    :param model: The model.
    :param vocabulary_quantization: Number of rows after k-means, or None.
    :param quantize_to: Target dtype ("float16", "float32", "float64", "int8"), or None.
    :param dimensionality: Number of dimensions to keep, or None.
    :param show_progress_bar: k-means progress bar; None shows it when stderr is a terminal.
    :return: A new `StaticModel`.
    :raises ValueError: For an unknown dtype or out-of-range sizes.
    """
    embedding = model.embedding
    weights = model.weights
    mapping = model.token_mapping
    if dimensionality is not None:
        embedding = truncate_dimensions(embedding, dimensionality)
    target = DType.parse(quantize_to) if quantize_to is not None else None
    if vocabulary_quantization is not None:
        if mapping is not None:
            # Re-cluster the per-token vectors the model currently produces.
            embedding = embedding[mapping]
        clustered = quantize_vocabulary(
            embedding.astype(np.float32) * _scale_of(weights),
            vocabulary_quantization,
            show_progress_bar=show_progress_bar,
        )
        embedding, mapping, weights = clustered.embedding, clustered.mapping, clustered.weights
        if target is None:
            target = DType.parse(model.embedding.dtype) if model.embedding.dtype != np.int8 else DType.INT8
    if target is not None:
        table = quantize_embeddings(embedding, target)
        embedding = table.embedding
        if table.row_scale is not None:
            per_token = table.row_scale if mapping is None else table.row_scale[mapping]
            weights = per_token if weights is None else weights * per_token
    # With nothing to change (or a step that returned its input), the arrays would still be the model's:
    # copy them, so that changing the result in place never changes the original.
    embedding = unshared(embedding, model.embedding)
    weights = None if weights is None else unshared(weights, model.weights)
    mapping = None if mapping is None else unshared(mapping, model.token_mapping)
    config = dict(model.config)
    quantized = StaticModel(
        vectors=embedding,
        tokenizer=model._lean if model._lean is not None else model.tokenizer,
        config=config,
        normalize=model.normalize,
        base_model_name=model.base_model_name,
        language=model.language,
        weights=weights,
        token_mapping=mapping,
    )
    quantized._tokenizer_settings = model._tokenizer_settings
    return quantized


def _scale_of(weights: np.ndarray | None) -> np.ndarray | float:
    """Per-token weights as a column to multiply rows with (1.0 when there are none)."""
    return 1.0 if weights is None else weights.astype(np.float32)[:, None]
