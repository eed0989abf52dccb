"""Build the optional C kernels (`model2vec._kernels`); everything else is declared in pyproject.toml.

The extension is optional: without a working C compiler the install still succeeds and
`model2vec.pooling` uses its numpy path, which gives the same bits, only slower.
"""

import sys

from setuptools import Extension, setup

# No fused multiply-add: the kernels must round exactly like numpy's separate multiply and add.
FLAGS = ["/O2", "/fp:precise"] if sys.platform == "win32" else ["-O3", "-ffp-contract=off", "-std=c11"]

setup(
    ext_modules=[
        Extension("model2vec._kernels", ["src/model2vec/_kernels.c"], extra_compile_args=FLAGS, optional=True)
    ]
)
