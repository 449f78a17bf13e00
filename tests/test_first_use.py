"""What a user does first: ``gymnasium.make("MixEnv-v0")`` with nothing built. It builds the default corpus,
classics training set and good-mix model through :mod:`mixenv.artifacts` (the backbone ships with mixenv), saying
so once per artefact, and gives an env that passes both checkers and runs the example of its own docstring. Built
once per test run (the ``first_use`` fixture) and shared."""

from __future__ import annotations

import doctest
import os
import warnings

import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import mixenv.env
from mixenv.cli import main as cli_main

from conftest import FirstUse

pytestmark = pytest.mark.slow  # on an empty data cache the first use builds for about 3 minutes on 2 cores


def test_first_use_says_what_it_builds_once_per_artefact(first_use: FirstUse) -> None:
    building = [m for m in first_use.messages if m.startswith("building ")]
    expected = {
        "corpus": "the synthetic corpus",
        "classics": "the classics corpus",
        "good-mix model": "the good-mix model",
    }
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    for name, what in expected.items():
        # Built here, or (another test worker building it at the same time) waited for: said once either way.
        said = sum(m.startswith((f"building {what}", f"waiting for {what}")) for m in first_use.messages)
        if name in first_use.found:
            assert said == 0
        elif workers == 1:
            assert said == 1
        else:  # another worker may finish it between the fixture's look and this process's need: then nothing is said
            assert said <= 1
    assert all("mixenv prepare" in m and "CPU cores" in m for m in building)


def test_the_default_env_passes_both_checkers(first_use: FirstUse) -> None:
    env = first_use.env.unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env, skip_render_check=True)
        sb3_check_env(env, warn=True)
    _, info = env.reset(seed=0)
    assert set(info["terms"]) == {"spectral", "loudness", "fad", "anomaly"}


def test_the_env_docstring_example_runs(first_use: FirstUse) -> None:
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    (test,) = [t for t in finder.find(mixenv.env.MixEnv, "MixEnv", module=mixenv.env) if t.examples]
    runner.run(test)
    assert runner.summarize(verbose=False) == doctest.TestResults(failed=0, attempted=len(test.examples))


def test_prepare_then_finds_everything_built(first_use: FirstUse, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["prepare", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.count("already there") == 3 and out.count("shipped with mixenv") == 1
