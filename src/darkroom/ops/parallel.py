"""Batch jobs over many files on several processes (``--workers N``) or a Ray cluster (``--ray ADDRESS``).

A job is a picklable *worker factory*: called once in each worker process (or Ray actor), it loads the
models and returns a function of one item (a dict naming a file) that does the work, writes any output
file itself, and returns a JSON-able dict. Results come back in the items' order, whichever worker did
them, so what a batch command prints or writes after the map is the same as with one process.

    results = map_items(RestoreWorker(task="denoise", ...), items, workers=4)
    results = map_items(RestoreWorker(...), items, ray_address="auto")     # Ray Data, models in actors

Ray (PyPI ``ray[data]``, not a darkroom dependency) reads the item list as a Ray Dataset and maps it with
``map_batches`` over a pool of ``workers`` actors (default: the cluster's CPUs), each holding its models.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from tqdm import tqdm

_WORKER = None  # the function built by the factory, once per worker process


def _init_worker(factory, threads: int) -> None:
    global _WORKER
    import torch

    torch.set_num_threads(threads)
    _WORKER = factory()


def _call(item: dict) -> dict:
    return _WORKER(item)


def check_parallel(workers: int, ray_address: str | None) -> None:
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    if ray_address is not None:
        try:
            import ray  # noqa: F401
            import ray.data  # noqa: F401
        except ImportError:
            raise ValueError("--ray needs Ray: pip install 'ray[data]'") from None


def map_items(factory, items: list[dict], workers: int = 1, ray_address=None, desc: str = "work", progress=True):
    """``factory()(item)`` for every item, in order, on ``workers`` processes or on the Ray cluster at
    ``ray_address`` ("auto", "ray://HOST:10001", or "local" for a Ray started here)."""
    return list(imap_items(factory, items, workers, ray_address, desc, progress))


def imap_items(factory, items: list[dict], workers: int = 1, ray_address=None, desc: str = "work", progress=True):
    """:func:`map_items` as an iterator: each result as soon as it and those before it are done."""
    check_parallel(workers, ray_address)
    if not items:
        return
    if ray_address is not None:
        yield from _map_ray(factory, items, workers, ray_address)
        return
    if workers == 1:
        work = factory()
        yield from (work(item) for item in tqdm(items, desc=desc, unit="img", disable=not progress or len(items) < 2))
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(workers, get_context("spawn"), _init_worker, (factory, threads)) as pool:
        yield from tqdm(
            pool.map(_call, items, chunksize=1), total=len(items), desc=desc, unit="img", disable=not progress
        )


class _Actor:
    """A Ray Data callable class: the worker, built once per actor, mapped over batches of items."""

    def __init__(self, factory):
        self.work = factory()

    def __call__(self, batch: dict) -> dict:
        import json

        rows = [json.loads(text) for text in batch["item"]]
        return {"result": [json.dumps(self.work(row)) for row in rows]}


def _map_ray(factory, items: list[dict], workers: int, address: str):
    import json

    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(address=None if address == "local" else address, ignore_reinit_error=True, log_to_driver=False)
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        size = workers if workers > 1 else max(1, int(ray.cluster_resources().get("CPU", 1)))
        dataset = ray.data.from_items([{"item": json.dumps(item)} for item in items])
        mapped = dataset.map_batches(_Actor, fn_constructor_args=(factory,), batch_size=1, concurrency=size, num_cpus=1)
        for row in mapped.iter_rows():
            yield json.loads(row["result"])
    finally:
        if started:
            ray.shutdown()
