"""The package version (the only place it is written; pyproject.toml reads it).

1.0.0 and up: dependents such as chonkie and txtai require model2vec >= 0.3 / >= 0.7, and a lower
version here would make pip replace this library with another distribution of the same name.
"""

__version__ = "1.0.0"
