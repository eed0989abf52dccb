"""Which types a skops head file may make us construct, decided before skops constructs anything.

skops refuses, by default, any type outside its own list (builtins, numpy, scipy sparse, scikit-learn's
public estimators) and reports those types by name. A name alone proves nothing: `sklearn.x.GzipFile`
is reachable as an attribute of a scikit-learn module because that module imports `gzip.GzipFile`, and
calling it with the file's arguments truncates any file. So every reported name is checked here on what
it *resolves to*:

- how the file uses it: only as the class of an instance (never as a function, bound method, partial or
  bare type, which a head would later call with data of the file's choosing);
- where the object is defined: its own `__module__` and `__qualname__` must be exactly the name, inside
  scikit-learn (so re-exports and imported third-party objects are refused);
- what it is: a subclass of a scikit-learn estimator or of one of the helper types fitted estimators
  hold (optimisers, trees, distance metrics, loss and link functions), listed in `_SAFE_BASES`.

Nothing outside the `sklearn` package is imported to decide this. The file's schema is read as plain
JSON, bounded in size, and walked without recursion.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

from model2vec.format import ModelFormatError

# Defining module and class of each base a trusted head type may derive from (checked with issubclass).
_SAFE_BASES = (
    ("sklearn.base", "BaseEstimator"),
    ("sklearn.neural_network._stochastic_optimizers", "BaseOptimizer"),
    ("sklearn.tree._tree", "Tree"),
    ("sklearn.ensemble._hist_gradient_boosting.predictor", "TreePredictor"),
    ("sklearn.metrics._dist_metrics", "DistanceMetric"),
    ("sklearn.neighbors._kd_tree", "KDTree"),
    ("sklearn.neighbors._ball_tree", "BallTree"),
    ("sklearn._loss.loss", "BaseLoss"),
    ("sklearn._loss.link", "BaseLink"),
    ("sklearn._loss.link", "Interval"),
)

# skops loaders that *call* or *return* the named object instead of building an instance of a class:
# a function, a bound method, a functools.partial or a type object. The head could call them later.
_CALLABLE_LOADERS = frozenset({"FunctionNode", "MethodNode", "PartialNode", "TypeNode", "OperatorFuncNode"})

# A dotted Python name inside scikit-learn; anything else is refused before any import.
_SKLEARN_MODULE = re.compile(r"sklearn(\.[A-Za-z_]\w*)*")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")

# A head's schema is a few hundred KB at most; a larger one is refused rather than parsed.
MAX_SCHEMA_BYTES = 64 * 1024 * 1024


class UntrustedTypesError(ValueError):
    """A head file holds types outside the allow-list; it was not loaded."""


def _safe_bases() -> tuple[type, ...]:
    """Import the allowed base classes that exist in the installed scikit-learn."""
    bases = []
    for module_name, class_name in _SAFE_BASES:
        try:
            base = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):  # moved or renamed in this scikit-learn version
            continue
        if isinstance(base, type):
            bases.append(base)
    return tuple(bases)


def allowed_type(name: str, loader: str = "ObjectNode") -> bool:
    """Tell whether a head file may make skops build an instance of the class `name`.

    The name must be a class defined in exactly that scikit-learn module (checked on the imported object,
    not on the string), derived from an estimator or from a helper type fitted estimators hold, and used
    by the file as the class of an instance. See the module docstring for why each condition is needed.

    :param name: A fully qualified name as skops reports it: `<module>.<class>`.
    :param loader: The skops loader the file uses it with (`__loader__` of the node); function, method,
        partial and type loaders are always refused.
    :return: True if the type is safe to construct; False otherwise (never raises for bad names).
    """
    module_name, _, class_name = name.rpartition(".")
    if loader in _CALLABLE_LOADERS:
        return False
    if not _SKLEARN_MODULE.fullmatch(module_name) or not _IDENTIFIER.fullmatch(class_name):
        return False
    try:
        # The module name is confined to the sklearn package, so importing it runs installed library code only.
        obj = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        return False
    if not isinstance(obj, type):
        return False
    # Defined here under this name: not a re-export of something imported from elsewhere.
    if obj.__module__ != module_name or obj.__qualname__ != class_name:
        return False
    return issubclass(obj, _safe_bases())


def _read_schema(path: Path) -> object:
    """Read a skops file's schema as plain JSON, bounded in size."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("schema.json")
            if info.file_size > MAX_SCHEMA_BYTES:
                raise ModelFormatError(f"{path}: its schema is {info.file_size} bytes (limit {MAX_SCHEMA_BYTES}).")
            with archive.open(info) as handle:
                raw = handle.read(MAX_SCHEMA_BYTES + 1)
        return json.loads(raw)
    except ModelFormatError:
        raise
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError, RecursionError) as error:
        raise ModelFormatError(f"{path} is not a valid skops file: {type(error).__name__}: {error}") from error


def _nodes(schema: object) -> Iterator[tuple[str, str, str]]:
    """Yield (loader, module, class) of every skops node in a schema, walking it without recursion."""
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            loader, module_name, class_name = item.get("__loader__"), item.get("__module__"), item.get("__class__")
            if loader is not None or module_name is not None or class_name is not None:
                yield str(loader), str(module_name), str(class_name)
                content = item.get("content")
                # A bound method's name is reported as module.class.method: refuse it under that name too.
                if loader == "MethodNode" and isinstance(content, dict):
                    yield str(loader), f"{module_name}.{class_name}", str(content.get("func"))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def check_head_file(path: str | os.PathLike[str]) -> tuple[list[str], list[str]]:
    """Sort the types a skops head file names beyond skops' defaults into allowed and refused.

    Only reads the file: nothing in it is constructed.

    :param path: The skops file.
    :return: (allowed, refused): sorted fully qualified names. A name counts as refused if any use of it
        in the file is refused (skops trusts by name, so one approval would cover every use).
    :raises ModelFormatError: If the file is not a readable skops archive (names the file).
    """
    import skops.io as sio

    file = Path(path)
    schema = _read_schema(file)
    try:
        reported = set(sio.get_untrusted_types(file=str(file)))
    except Exception as error:  # skops raises anything from KeyError to TypeError on a malformed schema
        raise ModelFormatError(f"{file} is not a valid skops file: {type(error).__name__}: {error}") from error
    allowed: set[str] = set()
    refused: set[str] = set()
    for loader, module_name, class_name in _nodes(schema):
        name = f"{module_name}.{class_name}"
        if name not in reported:
            continue  # trusted by skops' own defaults
        (allowed if allowed_type(name, loader) else refused).add(name)
    # A reported name the walk did not find (a skops naming we do not know) is refused, never assumed safe.
    refused |= reported - allowed - refused
    allowed -= refused
    return sorted(allowed), sorted(refused)
