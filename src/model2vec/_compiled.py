"""The optional compiled kernels (`_kernels.c`), or None when the package was built without a C compiler.

Every user of a kernel keeps a pure numpy/Python path that gives the same results, so the kernels only
change speed. Set `MODEL2VEC_NO_KERNELS=1` to use those paths (to compare them, or to rule the
kernels out when chasing a problem).
"""

from __future__ import annotations

import os
from types import ModuleType

kernels: ModuleType | None
if os.environ.get("MODEL2VEC_NO_KERNELS", "") not in ("", "0"):
    kernels = None
else:
    try:
        from model2vec import _kernels as kernels
    except ImportError:  # built without a C compiler
        kernels = None
