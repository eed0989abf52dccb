"""Progress bars that suit both a terminal and a log file.

On a terminal a bar redraws itself about ten times a second. Written to a file or a pipe (CI, `nohup`,
a job scheduler), every redraw would be a new line, so there it is updated at most every
`LOG_INTERVAL_SECONDS` instead. tqdm is imported only when a bar is actually shown.
"""

from __future__ import annotations

import sys
from typing import Any

# Seconds between updates when the bar does not go to a terminal.
LOG_INTERVAL_SECONDS = 30.0


def _on_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress_bar(iterable: Any = None, *, disable: bool = False, **kwargs: Any) -> Any:
    """Return a tqdm bar, updated rarely when its output is not a terminal.

    :param iterable: What to iterate over, as for `tqdm`.
    :param disable: Show nothing (tqdm is then not even imported when there is no iterable to wrap).
    :param kwargs: Passed to `tqdm` (`total`, `desc`, `unit`, `leave`, ...); an explicit `mininterval`
        or `file` is respected.
    :return: The bar (usable as a context manager and an iterator).
    """
    from tqdm.auto import tqdm

    stream = kwargs.get("file") or sys.stderr
    if not disable and "mininterval" not in kwargs and not _on_terminal(stream):
        kwargs["mininterval"] = LOG_INTERVAL_SECONDS
    return tqdm(iterable, disable=disable, **kwargs)


def add_progress_flags(parser: Any) -> None:
    """Give a command-line parser both `--no-progress` and `--quiet` (the same switch, dest `no_progress`).

    Options it already has are kept; the missing spelling is added with the existing one's destination.

    :param parser: An `argparse.ArgumentParser`.
    """
    options = parser._option_string_actions  # argparse keeps no public map from option strings to actions
    existing = options.get("--no-progress") or options.get("--quiet")
    dest = existing.dest if existing is not None else "no_progress"
    for flag in ("--no-progress", "--quiet"):
        if flag not in options:
            parser.add_argument(flag, dest=dest, action="store_true", help="Show no progress bar.")
