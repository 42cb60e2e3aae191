"""Ray as a :class:`concurrent.futures.Executor`: what lets a study spread over a cluster.

neurath's parallel work is already written against the executor interface (an organism
build's process pool, :mod:`neurath.research._parallel`'s experiment runner), so Ray comes
in as one more executor: ``submit(fn, *args)`` becomes a Ray task of one CPU running ``fn``
on one torch thread (a model this small gains nothing from intra-op threads, and two threads
per task on busy cores thrash), and its result comes back to the caller, the one process
that writes the run's files.

Functions and arguments travel by pickle (Ray's cloudpickle); functions of neurath's modules
travel by name, so every machine of a cluster needs the same neurath installed. What a task
reads or writes by path (an organism store, a lineage's base model) must be at the same path
on every machine: true on a local cluster; on several machines, a shared filesystem (NFS,
EFS) mounted at the same path.

Ray is an optional extra (``pip install 'neurath[ray]'``): it is imported here only when a
pool is made.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

from neurath._errors import NeurathError

P = ParamSpec("P")
T = TypeVar("T")


def import_ray() -> Any:
    """The ``ray`` module.

    Raises:
        NeurathError: Ray is not installed (one line, with the install command).
    """
    try:
        import ray
    except ImportError:
        raise NeurathError(
            "running on Ray needs Ray: install neurath[ray] (pip install 'neurath[ray]')"
        ) from None
    return ray


def warm_up() -> None:
    """The imports every experiment and build needs: a worker's first task would otherwise
    spend seconds on them (a pool makes each worker do so as it starts, while the driver is
    still checking its build and calibrating)."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:  # pragma: no cover - a cluster for other work
        return


def _on_one_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """What every task runs: ``fn`` with torch held to one intra-op thread."""
    try:
        import torch
    except ImportError:  # pragma: no cover - work without torch needs no setting
        pass
    else:
        torch.set_num_threads(1)
    return fn(*args, **kwargs)


class RayPool(Executor):
    """A :class:`concurrent.futures.Executor` whose work items are Ray tasks of one CPU each.

    Made when Ray is already initialised (a test's cluster, a notebook's), it uses that
    connection and leaves it open on :meth:`shutdown`; otherwise it starts one, and
    :meth:`shutdown` ends it.

    Args:
        address: A running cluster to connect to (``ray://host:10001``, ``host:6379`` or
            ``auto``); None starts a local cluster on this machine.
        num_cpus: CPUs of a local cluster (default: every core); with an ``address``, the
            cluster's own resources count.
    """

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None) -> None:
        ray = import_ray()
        self._owns = not ray.is_initialized()
        if self._owns:
            # The machine may have no network: Ray's usage report would only wait and fail.
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            # Workers' own output would write through the driver's progress bar; their logs
            # stay in Ray's session folder (/tmp/ray/session_latest/logs), and a task's error
            # comes back to the driver as an exception.
            common: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
            try:
                if address:
                    ray.init(address=address, **common)
                else:
                    cpus = num_cpus or os.cpu_count() or 1
                    ray.init(num_cpus=cpus, include_dashboard=False, **common)
            except (ConnectionError, ValueError) as exc:
                where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
                raise NeurathError(f"cannot reach {where}: {exc}") from None
        self._ray = ray
        self.max_workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        """Tasks that can run at once (the cluster's CPUs, one per task)."""
        self._task = ray.remote(num_cpus=1)(_on_one_thread)
        # One task per CPU: the workers start now, in the background.
        self._warming = [self._task.remote(warm_up) for _ in range(self.max_workers)]
        self._running: dict[Future[Any], Any] = {}
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Run ``fn(*args, **kwargs)`` as a Ray task; cancelling the future cancels the task."""
        if self._closed:
            raise RuntimeError("cannot submit to a RayPool after shutdown")
        ref = self._task.remote(fn, *args, **kwargs)
        future: Future[T] = ref.future()
        with self._lock:
            self._running[future] = ref
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[Any]) -> None:
        with self._lock:
            ref = self._running.pop(future, None)
        # Ray's future does not stop its task when cancelled: stop it here (a queued task is
        # dropped; a running one is interrupted).
        if future.cancelled() and ref is not None:
            self._ray.cancel(ref)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking work; with ``cancel_futures``, cancel what has not finished; with
        ``wait``, wait for the rest. A cluster this pool started is then shut down."""
        self._closed = True
        with self._lock:
            running = list(self._running)
        if cancel_futures:
            for future in running:
                future.cancel()
        elif wait:
            futures.wait(running)
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
            self._owns = False
