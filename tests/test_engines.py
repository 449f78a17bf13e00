"""Where work runs (mixenv.engines): the local engines, and Ray tasks that build the same corpus byte for byte and
survive a killed worker."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest

from experiments import benchmark
from mixenv import engines
from mixenv.cli import main
from mixenv.data.corpus import CorpusConfig
from mixenv.data.songref import MissingDependencyError
from mixenv.data.synth.corpus import build_corpus
from mixenv.engines import Engine, importable, run_tasks

from conftest import benchmark_argv, benchmark_songs

TINY = CorpusConfig(songs=6, seconds=3.0, seed=7)  # the tiny_corpus fixture's


SQUARE = functools.partial(pow, exp=2)  # what the tasks run is importable by the workers: builtins here
ITEMS = ["0", "1", "2", "three", "4"]  # int() fails on the fourth


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("workers", [1, 2])
def test_local_engine_gives_every_result_with_its_index(workers: int) -> None:
    done = dict(run_tasks(SQUARE, range(7), Engine(workers=workers), progress=False))
    assert done == {i: i * i for i in range(7)}


def test_an_items_exception_reaches_the_caller() -> None:
    with pytest.raises(ValueError, match="'three'"):
        list(run_tasks(int, ITEMS, Engine(workers=2), progress=False))


def test_a_function_of_a_script_run_as_a_module_is_sent_as_its_module_holds_it(monkeypatch) -> None:
    def task(item: int) -> int:  # as if defined in `python -m mixenv.engines`
        return item

    task.__module__, task.__qualname__ = "__main__", "torch_threads"
    script = types.ModuleType("__main__")
    script.__spec__ = importlib.util.find_spec("mixenv.engines")
    monkeypatch.setitem(sys.modules, "__main__", script)
    assert importable(task) is engines.torch_threads  # Ray's workers can import that one
    assert importable(SQUARE) is SQUARE
    script.__spec__ = None  # python script.py: nothing else to find it by
    assert importable(task) is task


def test_bad_engines_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown engine 'dask'"):
        Engine("dask")
    with pytest.raises(ValueError, match="at least 1"):
        Engine(workers=0)
    with pytest.raises(ValueError, match="Ray cluster"):
        Engine("local", address="auto")


@pytest.mark.slow
def test_ray_tasks_give_results_and_raise_the_items_exception(local_ray: Engine) -> None:
    assert dict(run_tasks(SQUARE, range(5), local_ray, progress=False)) == {i: i * i for i in range(5)}
    with pytest.raises(ValueError, match="'three'"):
        list(run_tasks(int, ITEMS, local_ray, progress=False))


def _running_task_pids() -> list[int]:
    """Ray worker processes running a task now (Ray titles them ``ray::<function>`` while they do)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            title = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if entry.name.isdigit() and title.startswith(b"ray::_call"):
            pids.append(int(entry.name))
    return pids


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds Ray's workers through /proc")
def test_a_ray_built_corpus_is_the_single_process_one_byte_for_byte_even_with_a_worker_killed_mid_song(
    local_ray: Engine, tiny_corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "killed"
    errors: list[BaseException] = []

    def build() -> None:
        try:
            build_corpus(out, TINY, engine=local_ray, progress=False)
        except BaseException as err:
            errors.append(err)

    builder = threading.Thread(target=build)
    builder.start()
    killed = None
    deadline = time.monotonic() + 60
    while killed is None and builder.is_alive() and time.monotonic() < deadline:
        pids = _running_task_pids()
        if pids:
            killed = pids[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.01)
    builder.join(timeout=180)
    assert killed is not None, "no Ray task was seen running"
    assert not errors, errors
    assert _files(out) == _files(tiny_corpus)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_an_address_without_the_ray_engine_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["corpus", "--songs", "1", "--seconds", "2", "--address", "auto", "--out", str(tmp_path / "c")]
    assert main(argv) == 2
    assert "use it with the ray engine" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_the_ray_engine_without_ray_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the scale extra were not installed
    with pytest.raises(MissingDependencyError, match=r"pip install -e '\.\[scale\]'"):
        list(run_tasks(int, ["1", "2"], Engine("ray"), progress=False))
    assert main(["corpus", "--songs", "1", "--seconds", "2", "--engine", "ray", "--out", str(tmp_path / "c")]) == 2
    assert "[scale]" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing half-written


RAY_METHODS = ("cma-es", "supervised model, reference-free")
"""What the benchmark runs on the cluster beside the neutral mix: a seeded search and a model loaded in the worker.
The other methods take the same path through an engine, and the one-process tests run them all. None of these
reads a compressor, so the Ray workers (which :func:`quick_compressor_reading` does not reach) mix as this process
does."""


TWO_NODES = """
import json, subprocess, sys
from ray.cluster_utils import Cluster

cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
try:
    cluster.add_node(num_cpus=1)
    for command in json.loads(sys.argv[1]):
        command = [sys.executable, *command, "--engine", "ray", "--address", cluster.address]
        if subprocess.run(command).returncode:
            sys.exit(1)
finally:
    cluster.shutdown()
"""
"""Two Ray nodes of one CPU each on this machine (what ``ray start --head`` and ``ray start --address`` make), and
each command of ``argv[1]`` (a JSON list) joining them by address from another process, as on a real cluster."""


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_the_corpus_and_the_benchmark_join_a_two_node_cluster_by_address_and_give_one_process_results(
    tiny_corpus: Path, tiny_reward_models: tuple[Path, Path], tmp_path: Path
) -> None:
    pytest.importorskip("ray.cluster_utils")
    songs = benchmark_songs(tiny_corpus, tmp_path / "songs", True)
    scoring = [*benchmark_argv(tiny_corpus, tiny_reward_models, songs), "--episodes", "1", "--methods", *RAY_METHODS]
    commands = [
        ["-m", "mixenv.cli", "corpus", "--songs", "6", "--seconds", "3", "--seed", "7", "--out", str(tmp_path / "c")],
        ["-m", "experiments.benchmark", *scoring, "--out", str(tmp_path / "cluster")],
    ]
    # In a process of its own: a cluster started here would unsettle this process's Ray (the session's local one).
    done = subprocess.run(
        [sys.executable, "-c", TWO_NODES, json.dumps(commands)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert _files(tmp_path / "c") == _files(tiny_corpus)
    assert benchmark.main([*scoring, "--out", str(tmp_path / "one")]) == 0
    rows = {run: json.loads((tmp_path / run / "results.json").read_text())["rows"] for run in ("cluster", "one")}
    assert len(rows["one"]) == 3  # the methods named and the neutral mix on the song, each metric to the last bit
    assert rows["cluster"] == rows["one"]
