"""`python -m model2vec.distill`: the `model2vec distill` command.

Upstream flags such as `--model-name`, `--save-path` and `--vocabulary-path` are accepted.
"""

import sys

from model2vec.cli import main

sys.exit(main(["distill", *sys.argv[1:]]))
