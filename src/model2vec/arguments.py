"""Keyword arguments accepted for compatibility: known ones taken knowingly, unknown ones warned about.

Libraries built for sentence-transformers, MTEB or other versions of model2vec pass arguments that mean
nothing to a static model (`convert_to_numpy`, `task_name`, `prompt_type`, ...); they are accepted
silently. Anything else is most likely a typo (`normalise=`, `max_lenght=`) that would otherwise be
dropped without a trace, so it gets a warning naming the closest valid argument.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

# Passed to `encode` by sentence-transformers-style callers (chonkie, LangChain wrappers, MTEB); none of
# them changes a static model's output, so they are accepted without a warning.
ENCODE_COMPATIBLE = frozenset(
    {
        "convert_to_numpy",
        "convert_to_tensor",
        "device",
        "task_name",
        "prompt_type",
        "prompt_name",
        "prompt",
        "request_qid",
        "hf_split",
        "hf_subset",
        "output_value",
        "precision",
    }
)

# Passed to `from_pretrained` by hub-style callers; a static model has nothing to do with them.
LOAD_COMPATIBLE = frozenset(
    {"device", "trust_remote_code", "cache_dir", "revision", "local_files_only", "model_kwargs", "use_auth_token"}
)


def warn_unknown(
    function: str, kwargs: Mapping[str, Any], valid: Iterable[str], compatible: Iterable[str] = (), stacklevel: int = 3
) -> None:
    """Warn about each keyword argument that is neither used nor known to be safe to ignore.

    :param function: The function's name, as shown in the warning (e.g. "StaticModel.encode").
    :param kwargs: The extra keyword arguments the function received.
    :param valid: Names the function uses from `kwargs` (also offered as suggestions).
    :param compatible: Names accepted without effect (no warning).
    :param stacklevel: Passed to `warnings.warn`, so the warning points at the caller's line.
    """
    used = set(valid)
    accepted = used | set(compatible)
    for name in kwargs:
        if name in accepted:
            continue
        candidates = [*used, *_SIGNATURE_NAMES.get(function, ())]
        import difflib  # only on a warning: `import model2vec` stays light

        close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else "."
        warnings.warn(
            f"{function}() got an unknown keyword argument {name!r}, which is ignored{hint}",
            UserWarning,
            stacklevel=stacklevel,
        )


# Named parameters of each checked function, offered as suggestions for misspellings of them
# (e.g. `max_lenght=` arrives in **kwargs because it is not `max_length`).
_SIGNATURE_NAMES: dict[str, tuple[str, ...]] = {
    "StaticModel.encode": (
        "show_progress_bar",
        "max_length",
        "batch_size",
        "use_multiprocessing",
        "multiprocessing_threshold",
        "normalize",
    ),
    "StaticModel.encode_iter": ("batch_size", "max_length", "show_progress_bar", "use_multiprocessing", "normalize"),
    "StaticModel.encode_as_sequence": (
        "show_progress_bar",
        "max_length",
        "batch_size",
        "use_multiprocessing",
        "multiprocessing_threshold",
    ),
    "StaticModel.from_pretrained": (
        "path",
        "model_name",
        "token",
        "normalize",
        "subfolder",
        "quantize_to",
        "dimensionality",
        "vocabulary_quantization",
        "force_download",
    ),
}
