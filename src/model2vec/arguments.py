"""Keyword arguments accepted for compatibility: known ones taken knowingly, unknown ones warned about.

Libraries built for sentence-transformers, MTEB or other versions of model2vec pass arguments that mean
nothing to a static model (`convert_to_numpy`, `task_name`, `prompt_type`, ...); they are accepted
silently. Anything else is most likely a typo (`normalise=`, `max_lenght=`) that would otherwise be
dropped without a trace, so it gets a warning naming the closest valid argument.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
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
    function: Callable[..., Any],
    kwargs: Mapping[str, Any],
    valid: Iterable[str],
    compatible: Iterable[str] = (),
    stacklevel: int = 3,
) -> None:
    """Warn about each keyword argument that is neither used nor known to be safe to ignore.

    :param function: The function that received `kwargs`; its qualified name is shown in the warning and
        its named parameters are offered as suggestions (`max_lenght=` lands in **kwargs because it is
        not `max_length`).
    :param kwargs: The extra keyword arguments the function received.
    :param valid: Names the function uses from `kwargs` (also offered as suggestions).
    :param compatible: Names accepted without effect (no warning).
    :param stacklevel: Passed to `warnings.warn`, so the warning points at the caller's line.
    """
    used = set(valid)
    accepted = used | set(compatible)
    unknown = [name for name in kwargs if name not in accepted]
    if not unknown:
        return
    # Imported only on a warning: `import model2vec` stays light.
    import difflib
    import inspect

    named = [
        parameter.name
        for parameter in inspect.signature(function).parameters.values()
        if parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL) and parameter.name != "self"
    ]
    for name in unknown:
        close = difflib.get_close_matches(name, [*used, *named], n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else "."
        warnings.warn(
            f"{function.__qualname__}() got an unknown keyword argument {name!r}, which is ignored{hint}",
            UserWarning,
            stacklevel=stacklevel,
        )
