"""Staging folders of batch jobs: created with the umask's mode, marked as ours, and removed once stale.

A job writes its parts into `.{output}.batch-staging-{random}` next to the output, with a marker file
`.model2vec-batch-staging` that the job's driver process holds an exclusive `flock` on while it runs.
A killed job leaves the folder behind; the next job for the same output removes it when the marker
is there and no process holds its lock. Only names this module writes are removed from it (parts,
the manifest, the marker), then the folder itself if it is empty; anything else keeps it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import time
from pathlib import Path
from typing import IO

from model2vec.batch.output import MANIFEST, PART_PATTERN

STAGING_INFIX = ".batch-staging-"
MARKER = ".model2vec-batch-staging"

try:
    import fcntl
except ImportError:  # Windows: no flock, so a staging folder's owner cannot be told apart; none is removed
    fcntl = None  # type: ignore[assignment]


def staging_prefix(target: Path) -> str:
    """Return the name every staging folder of the output `target` starts with (in `target.parent`)."""
    return f".{target.name}{STAGING_INFIX}"


def create_staging(target: Path) -> tuple[Path, IO[str]]:
    """Create a staging folder for `target` in its parent, and hold the lock on its marker.

    The folder is made with `os.mkdir`, so its mode follows the umask (0755 by default); the
    `tempfile` functions would make it 0700, and the output folder it becomes would stay private.

    :param target: The output folder (absolute); its parent must exist.
    :return: The folder and the open marker file (keep it open: closing it releases the lock).
    """
    while True:
        path = target.parent / f"{staging_prefix(target)}{secrets.token_hex(6)}"
        try:
            os.mkdir(path)
            break
        except FileExistsError:
            continue
    marker = (path / MARKER).open("w", encoding="utf-8")
    if fcntl is not None:
        # Where the file system has no locks this fails, and `_in_use` fails the same way later, so the
        # folder is never taken for stale: the job runs, its leftovers are just not removed for it.
        with contextlib.suppress(OSError):
            fcntl.flock(marker.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    # Who wrote it, for a person looking at a leftover folder; staleness is decided by the lock alone.
    marker.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}) + "\n")
    marker.flush()
    return path, marker


def release_staging(staging: Path, marker: IO[str]) -> None:
    """Delete the marker and release its lock (before the folder becomes the output)."""
    (staging / MARKER).unlink(missing_ok=True)
    marker.close()


def _in_use(marker: Path) -> bool:
    """Whether a live process holds the marker's lock (True when that cannot be told)."""
    if fcntl is None:
        return True
    try:
        descriptor = os.open(marker, os.O_RDWR)
    except OSError:
        return True
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(descriptor)  # closing also releases the lock taken just now
    return False


def remove_own_files(folder: Path) -> bool:
    """Delete the files a batch job writes (parts, manifest, marker) from `folder`, then the folder if empty.

    :return: Whether the folder is gone (also when it was never there).
    """
    if not folder.is_dir():
        return not folder.exists()
    for entry in folder.iterdir():
        ours = PART_PATTERN.fullmatch(entry.name) or entry.name in (MANIFEST, MARKER)
        if ours and entry.is_file() and not entry.is_symlink():
            entry.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        return False  # something we did not write is inside: leave it for its owner
    return True


def remove_stale_staging(target: Path) -> list[Path]:
    """Remove the staging folders that killed jobs for `target` left behind.

    A folder counts as ours and stale when its name has the staging prefix, it holds the marker, and no
    process holds the marker's lock. A job still running keeps its lock, so its folder is kept.

    :param target: The output folder (absolute).
    :return: The folders removed.
    """
    removed = []
    prefix = staging_prefix(target)
    for folder in sorted(target.parent.iterdir()):
        ours = folder.name.startswith(prefix) and not folder.is_symlink() and (folder / MARKER).is_file()
        if not ours:
            continue
        if not _in_use(folder / MARKER) and remove_own_files(folder):
            removed.append(folder)
    return removed
