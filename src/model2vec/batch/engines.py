"""Where a batch job's tasks run: in this process, on a Dask cluster or on Ray, with progress reports."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from model2vec.batch.readers import BATCH_EXTRA

BACKENDS = ("local", "dask", "ray")
RAY_INSTALL = 'pip install "ray[data]>=2.9"'

Progress = Callable[[int, int], None]


def print_progress(done: int, total: int) -> None:
    """Print rows done of rows total on one stderr line (a newline once done)."""
    print(f"\rmodel2vec batch: {done:,}/{total:,} rows", end="\n" if done >= total else "", file=sys.stderr, flush=True)


class Tracker:
    """Turns finished tasks into a progress callback of (rows done, rows total)."""

    def __init__(self, weights: Sequence[int], total: int, progress: bool | Progress) -> None:
        """Track tasks of `weights` rows each, `total` in all; `progress` True prints to stderr."""
        self.weights = weights
        self.total = total
        self.done = 0
        self.callback: Progress | None = print_progress if progress is True else (progress or None)

    def finished(self, task: int) -> None:
        """Count task number `task` as done and report."""
        self.done += self.weights[task]
        if self.callback is not None:
            self.callback(self.done, self.total)


Runner = Callable[[Callable[[Any], int], Sequence[Any], Tracker | None], list[int]]


def run_local(function: Callable[[Any], int], items: Sequence[Any], tracker: Tracker | None) -> list[int]:
    """Run `function` on each item in this process, in order; return the results."""
    results = []
    for i, item in enumerate(items):
        results.append(function(item))
        if tracker is not None:
            tracker.finished(i)
    return results


def dask_client(client: Any) -> tuple[Any, Any]:
    """Return (client, a cluster to close afterwards or None) for a Client, an address or None.

    :raises ImportError: Naming the pip install when distributed is absent.
    """
    try:
        from distributed import Client, LocalCluster, get_client
    except ImportError as error:
        raise ImportError(f'backend="dask" needs dask and distributed: {BATCH_EXTRA}') from error
    if client is None:
        try:
            return get_client(), None
        except ValueError:
            cluster = LocalCluster(processes=True, threads_per_worker=1, dashboard_address=None)  # type: ignore[no-untyped-call]
            return Client(cluster), cluster  # type: ignore[no-untyped-call]
    if isinstance(client, str):
        return Client(client), None  # type: ignore[no-untyped-call]
    return client, None


def run_dask(client: Any, function: Callable[[Any], int], items: Sequence[Any], tracker: Tracker | None) -> list[int]:
    """Run `function` on each item as Dask tasks; a task's exception is raised here with its type."""
    from distributed import as_completed

    # pure=False: two equal partitions (a file given twice) are still two tasks writing two parts.
    futures = client.map(function, list(items), pure=False)
    order = {future.key: i for i, future in enumerate(futures)}
    for future in as_completed(futures):  # type: ignore[no-untyped-call]
        if future.status == "error":
            future.result()  # raises the task's exception here, with its type
        if tracker is not None:
            tracker.finished(order[future.key])
    return [int(value) for value in client.gather(futures)]


def import_ray() -> Any:
    """Return the `ray` module.

    :raises ImportError: Naming the pip install when ray is absent.
    """
    try:
        import ray
    except ImportError as error:
        raise ImportError(f'backend="ray" needs ray: {RAY_INSTALL}') from error
    return ray


def run_ray(client: Any, function: Callable[[Any], int], items: Sequence[Any], tracker: Tracker | None) -> list[int]:
    """Run `function` on each item as Ray tasks, after `ray.init(address=client)` unless Ray is running."""
    ray = import_ray()
    if not ray.is_initialized():
        ray.init(address=client if isinstance(client, str) else None)
    remote = ray.remote(function)
    refs = [remote.remote(item) for item in items]
    order = {ref: i for i, ref in enumerate(refs)}
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        if tracker is not None:
            tracker.finished(order[done[0]])
    return [int(value) for value in ray.get(refs)]
