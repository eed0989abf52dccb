"""`python -m model2vec`: the `model2vec` command."""

import sys

from model2vec.cli import main

sys.exit(main())
