"""Where independent pieces of work run: here, in a pool of local processes, or as Ray tasks on a cluster.

A corpus build and a benchmark are lists of independent items (songs; set x method x seed x song) that each
return a result. :func:`run_tasks` hands them to an engine and yields ``(index, result)`` as they finish, with a
progress bar, keeping at most a few items per worker in flight so that a 10 000-song corpus never sits in memory
at once:

* ``local``: the items in this process (one worker) or in a spawn-started process pool;
* ``ray``: one Ray task per item, on the cluster at ``address`` (``auto``: the one ``ray start`` made on this
  machine) or on a local Ray instance with ``workers`` CPUs. A task whose worker dies (a killed process, a lost
  node) is run again up to ``retries`` times by Ray; an exception raised by the item itself is not retried (it
  would fail the same way) and is raised here.

Every worker computes torch on one thread, this process too when it is the one worker. Items draw their
randomness from their own seeds, so the results are the same on every engine. Ray is an optional
dependency (``pip install -e '.[scale]'``).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import importlib
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from tqdm.auto import tqdm

from mixenv.data.songref import MissingDependencyError

T = TypeVar("T")
R = TypeVar("R")

ENGINES = ("local", "ray")
IN_FLIGHT_PER_WORKER = 2
"""Items submitted per worker ahead of the results read back: enough to keep workers busy, little memory."""


@dataclass(frozen=True)
class Engine:
    """Where :func:`run_tasks` runs its items.

    Args:
        name: ``local`` or ``ray``.
        workers: Local processes, or the CPUs of a local Ray instance (default: one per core, at most 8);
            ignored when joining a Ray cluster, whose CPUs decide.
        address: Ray cluster to join (``auto`` or ``HOST:PORT``); default: start a local instance.
        retries: Times Ray runs a task again after its worker died.
    """

    name: str = "local"
    workers: int | None = None
    address: str | None = None
    retries: int = 3

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise ValueError(f"unknown engine {self.name!r}; choose one of {', '.join(ENGINES)}")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        if self.address is not None and self.name != "ray":
            raise ValueError("an address is a Ray cluster's: use it with the ray engine")

    @property
    def processes(self) -> int:
        """Worker processes of the local engine (or CPUs of a local Ray instance)."""
        return self.workers or min(os.cpu_count() or 1, 8)


def run_tasks(
    fn: Callable[[T], R],
    items: Sequence[T],
    engine: Engine = Engine(),
    *,
    desc: str = "tasks",
    unit: str = "task",
    progress: bool = True,
) -> Iterator[tuple[int, R]]:
    """Run ``fn`` on every item on ``engine``; yield ``(index, result)`` in the order they finish.

    ``fn`` must be a module-level function (it is pickled by reference for the other processes; see
    :func:`importable` for one of a script run as a module).

    Raises:
        MissingDependencyError: If the ray engine is asked for and Ray is not installed.
        Exception: Whatever an item raised (the remaining items are cancelled).
    """
    with tqdm(total=len(items), desc=desc, unit=unit, disable=not progress) as bar:
        if engine.name == "ray":
            results = _ray_tasks(importable(fn), items, engine)
        elif engine.processes == 1 or len(items) <= 1:
            results = _in_process(fn, items)
        else:
            results = _pool_tasks(fn, items, engine.processes)
        for done in results:
            bar.update(1)
            yield done


def importable(fn: Callable[[T], R]) -> Callable[[T], R]:
    """``fn`` as its module's import name holds it, when that module is the running script (``python -m
    experiments.benchmark``): its functions then belong to ``__main__``, which a Ray worker's ``__main__`` (Ray's
    own) lacks, so one pickled by reference (a cached function, or one it calls) would not be found there. The
    process pool needs none of this: its spawned workers re-run the script's module as their ``__main__``."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if getattr(fn, "__module__", None) != "__main__" or spec is None:
        return fn
    return getattr(importlib.import_module(spec.name), fn.__qualname__)


def _pool_tasks(fn: Callable[[T], R], items: Sequence[T], workers: int) -> Iterator[tuple[int, R]]:
    context = multiprocessing.get_context("spawn")
    pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_one_thread_each)
    try:
        yield from _bounded(
            items,
            workers * IN_FLIGHT_PER_WORKER,
            submit=lambda item: pool.submit(fn, item),
            first_done=lambda futures: next(iter(concurrent.futures.wait(futures, return_when="FIRST_COMPLETED")[0])),
            result=lambda future: future.result(),
        )
    finally:  # on an error or an interrupt, drop queued items instead of waiting for them
        pool.shutdown(wait=True, cancel_futures=True)


def _in_process(fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
    """The items one after another in this process, which is then the one worker: one torch thread, as every
    worker has, restored afterwards."""
    with torch_threads(1):
        for index, item in enumerate(items):
            yield index, fn(item)


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the body with ``threads`` torch threads, then restore the caller's count: a worker's one thread, and
    training whose weights must be reproducible bit for bit (floating-point sums are ordered by the thread count)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _one_thread_each() -> None:
    """A worker's torch computes on one thread. Its default, one per core, oversubscribes the cores the workers
    share, and even alone it is slower on this work: the benchmark's episodes took 22.5 s on 2 threads against
    17.5 s on one (2 cores, 2026-12-03). Ray's workers get the same from Ray (``OMP_NUM_THREADS`` = the task's one
    CPU)."""
    import torch

    torch.set_num_threads(1)


@contextlib.contextmanager
def ray_running(address: str | None = None, num_cpus: int | None = None) -> Iterator[Any]:
    """The ``ray`` module with Ray running: the instance already running in this process (left running), else the
    cluster at ``address``, else a local instance of ``num_cpus`` CPUs (both shut down on exit).

    Raises:
        MissingDependencyError: If Ray is not installed.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    if address is not None:
        ray.init(address=address, log_to_driver=False, logging_level="WARNING")
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    try:
        yield ray
    finally:
        ray.shutdown()


def _ray_tasks(fn: Callable[[T], R], items: Sequence[T], engine: Engine) -> Iterator[tuple[int, R]]:
    with ray_running(engine.address, engine.processes) as ray:
        yield from _ray_task_results(ray, fn, items, engine.retries)


def _ray_task_results(ray: Any, fn: Callable[[T], R], items: Sequence[T], retries: int) -> Iterator[tuple[int, R]]:
    task = ray.remote(_call).options(num_cpus=1, max_retries=retries, retry_exceptions=False)
    function = ray.put(fn)  # once, not with every item
    workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    live: set[Any] = set()  # submitted and not read back (a result read back is freed from the object store)

    def submit(item: T) -> Any:
        ref = task.remote(function, item)
        live.add(ref)
        return ref

    def result(ref: Any) -> R:
        live.discard(ref)
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as err:  # the item's own exception, raised as itself
            raise err.as_instanceof_cause() from None

    try:
        yield from _bounded(
            items,
            workers * IN_FLIGHT_PER_WORKER,
            submit=submit,
            first_done=lambda refs: ray.wait(list(refs), num_returns=1)[0][0],
            result=result,
        )
    finally:
        for ref in live:  # whatever is still queued or running after an error or an interrupt
            ray.cancel(ref, force=True)


def _call(fn: Callable[[T], R], item: T) -> R:
    """A Ray task: ``fn`` (a plain function or a partial, which Ray cannot make remote itself) on one item."""
    return fn(item)


def _bounded(
    items: Sequence[T],
    in_flight: int,
    *,
    submit: Callable[[T], Any],
    first_done: Callable[[set[Any]], Any],
    result: Callable[[Any], R],
) -> Iterator[tuple[int, R]]:
    """Keep at most ``in_flight`` items submitted; yield each finished one's index and result."""
    pending: dict[Any, int] = {}
    upcoming = iter(enumerate(items))
    while True:
        for index, item in upcoming:
            pending[submit(item)] = index
            if len(pending) >= in_flight:
                break
        if not pending:
            return
        handle = first_done(set(pending))
        yield pending.pop(handle), result(handle)


def import_ray() -> Any:
    """The ``ray`` module.

    Raises:
        MissingDependencyError: If Ray is not installed (the message says how to install it).
    """
    try:
        import ray
    except ImportError as err:
        raise MissingDependencyError(
            "the ray engine needs Ray, which is optional: pip install -e '.[scale]' (or pip install 'ray[rllib]')"
        ) from err
    return ray
