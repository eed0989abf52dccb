"""Type stub of the optional compiled kernels (src/model2vec/_kernels.c)."""

import numpy as np

def segment_sums(
    table: np.ndarray,
    ids: np.ndarray,
    offsets: np.ndarray,
    weights: np.ndarray | None,
    mapping: np.ndarray | None,
    out: np.ndarray,
) -> None: ...
def look_up(index: dict[str, int], words: list[str], out: np.ndarray) -> int: ...
