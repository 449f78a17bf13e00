"""``python -m experiments.benchmark``: every method on folders of songs, one results file, re-scoring."""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from experiments import benchmark, methods, set_level
from experiments.compare import TEST_SPLIT, final_mixes
from rewards.metrics import METRICS

from conftest import benchmark_argv, benchmark_songs

pytestmark = pytest.mark.usefixtures("quick_compressor_reading")  # tests of mixing, not of the reading


@pytest.fixture
def folders(tiny_corpus: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Two song folders of the tiny corpus: with references, and without."""
    mixed, blind = tmp_path / "mixed", tmp_path / "blind"
    return benchmark_songs(tiny_corpus, mixed, True), benchmark_songs(tiny_corpus, blind, False)


@pytest.mark.usefixtures("one_thread")
def test_every_method_on_folders_with_and_without_references_then_rescored(
    folders: tuple[Path, Path],
    tiny_corpus: Path,
    tiny_reward_models: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch,
    capsys,
    caplog,
) -> None:
    mixed, blind = folders
    out = tmp_path / "out"
    argv = [*benchmark_argv(tiny_corpus, tiny_reward_models, mixed, blind, seeds=(0, 1)), "--episodes", "1"]
    argv += ["--out", str(out)]
    assert benchmark.main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["commit"] and results["date"].startswith("20") and results["versions"]["mixenv"]
    rows = results["rows"]
    assert {"set", "method", "seed", "song", "settings", "episode_seed", "mrstft", "param_mae"} <= set(rows[0])
    methods = {(r["set"], r["method"], r["seed"]) for r in rows}
    assert ("mixed", "reference matching", 0) in methods and ("mixed", "ground truth", 0) in methods
    assert {("mixed", "cma-es", 0), ("mixed", "cma-es", 1), ("mixed", "supervised model, refined", 1)} <= methods
    assert ("mixed", "reference matching", 1) not in methods  # deterministic: run once
    blind_methods = {m for s, m, _ in methods if s == "blind"}
    assert "reference matching" not in blind_methods and "supervised model" not in blind_methods
    assert {"neutral", "loudness balance", "supervised model, reference-free", "predict the mean"} <= blind_methods
    assert "mrstft" not in next(r for r in rows if r["set"] == "blind")  # nothing to compare with
    assert set(results["agreement"]) <= set(METRICS)
    assert "Spearman" in capsys.readouterr().out
    # Set-level numbers: none of one song.
    assert not {"kad", "fad_inf"} & {k for runs in results["means"]["mixed"].values() for run in runs for k in run}
    # Each method's final mix renders again from its row (what `make run` writes as WAVs): the ground truth's is the
    # reference, to its 16-bit file's precision.
    first = [row for row in rows if row["set"] == "mixed" and row["seed"] == 0]
    env = benchmark.set_env(json.dumps(results["sets"]["mixed"]))
    mixes = final_mixes(first, env, first[0]["song"])
    assert list(mixes) == ["reference", *dict.fromkeys(row["method"] for row in first)]
    assert np.abs(mixes["ground truth"] - mixes["reference"]).max() < 1e-3
    assert np.abs(mixes["neutral"] - mixes["reference"]).max() > 0.01

    # --reuse measures the kept settings again and runs no method.
    cached = out / "rows" / "mixed" / "loudness-balance_seed0.json"
    original = json.loads(cached.read_text())
    assert original["made_by"]["method"] == "loudness balance" and original["made_by"]["set"]["data_path"]
    tampered = original | {"rows": [row | {"mrstft": 99.0} for row in original["rows"]]}
    cached.write_text(json.dumps(tampered))
    run_song = benchmark.run_song
    monkeypatch.setattr(benchmark, "run_song", lambda *a, **k: pytest.fail("--reuse ran a method"))
    assert benchmark.main([*argv, "--reuse"]) == 0
    again = json.loads(cached.read_text())
    assert again["rows"][0]["mrstft"] == pytest.approx(original["rows"][0]["mrstft"], rel=1e-6)

    # Another search budget in the same --out runs again exactly the parts it changes, and keeps the rest.
    ran = []
    monkeypatch.setattr(
        benchmark, "run_song", lambda job: ran.append((job.methods.cmaes_budget, job.method)) or run_song(job)
    )
    assert benchmark.main([*argv, "--cmaes-budget", "6"]) == 0
    assert {method for _, method in ran} == {"cma-es", "supervised model, refined"}
    assert len(ran) == 6  # cma-es on both sets and the refined model on the referenced one, on two seeds each
    assert sum("made by another configuration" in message for message in caplog.messages) == 6
    ran.clear()
    assert benchmark.main([*argv, "--cmaes-budget", "6"]) == 0  # now kept
    assert not ran


@pytest.mark.usefixtures("one_thread")
def test_predict_the_mean_plays_the_train_splits_mean_settings_once_on_every_set_with_a_ground_truth(
    folders: tuple[Path, Path], tiny_corpus: Path, tiny_reward_models: tuple[Path, Path], tmp_path: Path, monkeypatch
) -> None:
    from agents.heuristics import NeutralPolicy
    from mixenv.data.corpus import corpus_songs
    from mixenv.params import ParamSpace
    from rewards.metrics import parameter_errors
    from supervised.predictors import songs_mean

    # Only the baselines: the neutral mix (every table's yardstick), the ground truth and predict-the-mean.
    monkeypatch.setattr(methods, "heuristics", lambda env, budget, seed: {"neutral": (NeutralPolicy(), env)})
    monkeypatch.setattr(methods, "supervised", lambda *args, **kwargs: {})
    mixed, blind = folders
    out = tmp_path / "out"
    argv = benchmark_argv(tiny_corpus, tiny_reward_models, mixed, blind, seeds=(0, 1))
    assert benchmark.main([*argv, "--out", str(out)]) == 0
    rows = [r for r in json.loads((out / "results.json").read_text())["rows"] if r["method"] == "predict the mean"]
    # Deterministic: once, on the first seed; it reads no reference, so the reference-free set has it too.
    assert sorted((r["set"], r["seed"]) for r in rows) == [("blind", 0)] * 2 + [("mixed", 0)] * 2
    space = ParamSpace()
    train = corpus_songs(tiny_corpus, "train")
    mean = songs_mean(train, space)
    truths = {song.name: song.load() for song in corpus_songs(tiny_corpus)}
    np.testing.assert_allclose(mean, np.mean([truths[s.name].settings.normalized() for s in train], axis=0), atol=1e-6)
    for row in rows:
        np.testing.assert_allclose(row["settings"], mean, atol=1e-5)  # the same settings for every song
        truth = truths[row["song"]]
        expected = parameter_errors(space.to_physical(np.asarray(row["settings"])), truth.settings, truth.roles)
        assert math.isfinite(row["param_mae"]) and row["param_mae"] == pytest.approx(expected["param_mae"], rel=1e-6)
        assert row["param_mae"] == pytest.approx(np.abs(mean - truth.settings.normalized()).mean(), abs=1e-4)


@pytest.mark.usefixtures("one_thread")
def test_several_models_one_of_them_per_seed_and_only_the_chosen_ones_refined(
    folders: tuple[Path, Path], tiny_corpus: Path, tiny_reward_models: tuple[Path, Path], tmp_path: Path, capsys
) -> None:
    from supervised.default import SHIPPED

    for seed in (0, 1):  # as a training run per seed leaves them
        shutil.copyfile(SHIPPED, tmp_path / f"cnn__seed{seed}.pt")
    mixed, _ = folders
    models = [f"per seed={tmp_path}/cnn__seed{{seed}}.pt", f"fixed={SHIPPED}"]
    argv = [*benchmark_argv(tiny_corpus, tiny_reward_models, mixed, seeds=(0, 1)), "--episodes", "1"]
    argv += ["--out", str(tmp_path / "out")]
    assert benchmark.main([*argv, "--models", *models, "--refine", "fixed"]) == 0
    rows = json.loads((tmp_path / "out" / "results.json").read_text())["rows"]
    seeds: dict[str, set[int]] = {}
    for row in rows:
        seeds.setdefault(row["method"], set()).add(row["seed"])
    assert seeds["per seed, loudness matched"] == {0, 1} and seeds["fixed, loudness matched"] == {0}
    assert seeds["fixed, refined"] == {0, 1} and "per seed, refined" not in seeds
    assert "supervised model" not in seeds  # --models replaces the default model
    forms = {"per seed, reference hidden", "per seed, loudness matched", f"per seed, {methods.MATCHED}"}
    assert forms | {"per seed, reference-free", "per seed"} <= set(seeds)

    assert benchmark.main([*argv, "--models", *models, "--predicted-only", "per seed"]) == 0  # the rest refined
    rows = json.loads((tmp_path / "out" / "results.json").read_text())["rows"]
    assert {row["method"] for row in rows if row["method"].startswith("per seed")} == {"per seed"}
    assert {row["seed"] for row in rows if row["method"] == "fixed, refined"} == {0, 1}

    for wrong, message in [(["--models", "no-label"], "LABEL=PATH"), (["--models", "x=nowhere.pt"], "no such model"),
                           (["--models", *models, "--refine", "nope"], "no such model label"),
                           (["--models", *models, "--predicted-only", "nope"], "no such model label"),
                           (["--models", *models, "--refine", "fixed", "--predicted-only", "fixed"], "both name"),
                           (["--models", *models, "--model", str(SHIPPED)], "not both")]:  # fmt: skip
        with pytest.raises(SystemExit) as exit_info:
            benchmark.main([*argv, *wrong])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.usefixtures("one_thread")
def test_agents_one_run_per_seed_under_a_label_each_starting_where_its_training_did(
    folders: tuple[Path, Path], tiny_corpus: Path, tiny_reward_models: tuple[Path, Path], tmp_path: Path, capsys
) -> None:
    from agents.heuristics import LoudnessBalancePolicy
    from agents.train import train

    backbone, good_mix = tiny_reward_models
    env = [f"data_path='{tiny_corpus}'", "clip_seconds=1.0", "max_episode_steps=4", f"good_mix_path='{good_mix}'"]
    run = train("ppo", ["--total-timesteps", "64", "--out", str(tmp_path / "refine"), "--backbone-path", str(backbone),
                        "--eval-freq", "0", "--no-progress", "--env-kwargs", *env, "action_mode='delta'",
                        "--algo-kwargs", "n_steps=64", "batch_size=32", "n_epochs=1"],
                start=LoudnessBalancePolicy)  # fmt: skip
    for seed in (0, 1):  # as a training run per seed leaves them
        shutil.copytree(run, tmp_path / f"refine_seed{seed}")
    mixed, _ = folders
    argv = [*benchmark_argv(tiny_corpus, tiny_reward_models, mixed, seeds=(0, 1)), "--episodes", "1"]
    argv += ["--out", str(tmp_path / "out")]
    # An agent refining a start is evaluated from that start: AgentPolicy refuses an episode from neutral settings.
    assert benchmark.main([*argv, "--agents", f"per seed={tmp_path}/refine_seed{{seed}}", str(run), "--refine"]) == 0
    rows = json.loads((tmp_path / "out" / "results.json").read_text())["rows"]
    seeds: dict[str, set[int]] = {}
    for row in rows:
        seeds.setdefault(row["method"], set()).add(row["seed"])
    assert seeds["per seed"] == {0, 1} and seeds["refine"] == {0}  # an unlabelled run: its folder's name, once
    assert "per seed, loudness matched" not in seeds  # its moves are relative to the start: nothing to master
    per_seed = [row["settings"] for row in rows if row["method"] == "per seed"]
    assert per_seed[0] == per_seed[1]  # the same run copied: the same mix
    assert "per seed" in capsys.readouterr().out  # one line of the table: mean ± std over its seeds

    for wrong, message in [([f"{tmp_path}/refine_seed{{seed}}"], "LABEL=PATH"),
                           ([f"x={tmp_path}/refine_seed{{seed}}"], "no such run"),
                           ([str(tmp_path / "nowhere")], "no such run")]:  # fmt: skip
        with pytest.raises(SystemExit) as exit_info:
            benchmark.main([*argv, "--seeds", "0", "2", "--agents", *wrong])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.usefixtures("one_thread")
def test_set_level_kad_and_fad_inf_on_every_set_cached_beside_the_rows(
    folders: tuple[Path, Path],
    tiny_corpus: Path,
    tiny_reward_models: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch,
    capsys,
) -> None:
    mixed, blind = folders
    out = tmp_path / "out"
    argv = [*benchmark_argv(tiny_corpus, tiny_reward_models, mixed, blind), "--out", str(out)]
    monkeypatch.setattr(set_level, "FAD_INF_MIN_SONGS", 2)  # two songs here, against eight for a real number
    assert benchmark.main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    whole = results["means"]["mixed"]
    kad = {method: runs[0]["kad"] for method, runs in whole.items()}
    assert all(math.isfinite(k) for k in kad.values())
    # The ground truth's mixes are the references (to 16-bit quantisation): paired KAD 0 (two songs are too few to
    # rank the others: one pair of songs makes the U-statistic's noise; tests/test_audio_metrics.py checks its sense).
    assert abs(kad["ground truth"]) < 1e-3 < max(abs(k) for k in kad.values())
    assert all(math.isfinite(runs[0]["fad_inf"]) for runs in whole.values())  # to the good mixes: every set
    assert all("kad" not in runs[0] and math.isfinite(runs[0]["fad_inf"])
               for runs in results["means"]["blind"].values())  # fmt: skip
    table = capsys.readouterr().out
    assert re.search(r"\|\s+kad\s+\|\s+fad_inf\s*\n", table)  # the columns, last in the table

    # Cached beside the rows: --reuse (re-scoring the rows, same settings) computes none again.
    cache = out / "rows" / "mixed" / "ground-truth_seed0.set.json"
    assert json.loads(cache.read_text())["kad"] == kad["ground truth"]
    monkeypatch.setattr(set_level, "final_mix_numbers", lambda *a, **k: pytest.fail("set-level computed again"))
    assert benchmark.main([*argv, "--reuse"]) == 0
    assert json.loads((out / "results.json").read_text())["means"]["mixed"] == whole


@pytest.mark.usefixtures("one_thread")
def test_only_the_methods_named_run_with_their_forms_and_the_neutral_mix(
    folders: tuple[Path, Path], tiny_corpus: Path, tiny_reward_models: tuple[Path, Path], tmp_path: Path, capsys
) -> None:
    argv = [*benchmark_argv(tiny_corpus, tiny_reward_models, *folders), "--episodes", "1", "--out", str(tmp_path)]
    assert benchmark.main([*argv, "--methods", "loudness balance", "supervised model, refined"]) == 0
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    ran = {(r["set"], r["method"]) for r in rows}
    assert ran == {("mixed", "neutral"), ("mixed", "loudness balance"), ("mixed", "supervised model, refined"),
                   ("blind", "neutral"), ("blind", "loudness balance")}  # fmt: skip
    assert benchmark.main([*argv, "--methods", "supervised model"]) == 0  # a name runs its forms too
    ran = {r["method"] for r in json.loads((tmp_path / "results.json").read_text())["rows"]}
    assert {"supervised model", "supervised model, loudness matched", "supervised model, refined"} <= ran
    assert not ran & {"loudness balance", "cma-es", "reference matching", "ground truth"}
    capsys.readouterr()
    with pytest.raises(SystemExit):
        benchmark.main([*argv, "--methods", "supervised"])  # not a method's whole name
    assert "no such method" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        benchmark.main([*argv, "--cmaes-budget", "4"])  # a refinement scores three starts, then searches
    assert "at least 5 renders" in capsys.readouterr().err
    # The generalisation goals compare a method with the heuristics: without their rows there is nothing to judge.
    in_domain = benchmark_songs(tiny_corpus, tmp_path / TEST_SPLIT, True)
    argv = [*benchmark_argv(tiny_corpus, tiny_reward_models, in_domain, folders[0]), "--episodes", "1"]
    learned = ["--learned", "supervised model, refined", "--out", str(tmp_path / "judged")]
    assert benchmark.main([*argv, *learned, "--methods", "supervised model, refined"]) == 0
    assert "goals for" not in capsys.readouterr().out
    assert benchmark.main([*argv, *learned]) == 0  # every method: the goals print
    assert "goals for supervised model, refined" in capsys.readouterr().out


def test_a_missing_songs_folder_is_refused(tmp_path: Path, capsys) -> None:
    assert benchmark.main(["--songs", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert benchmark.main(["--address", "auto", "--out", str(tmp_path / "out")]) == 2
    assert "use it with the ray engine" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.usefixtures("one_thread")
def test_exported_models_run_on_onnxruntime_and_mix_as_torch_does(
    folders: tuple[Path, Path], tiny_corpus: Path, tiny_reward_models: tuple[Path, Path], tmp_path: Path, capsys
) -> None:
    from supervised import export
    from supervised.default import SHIPPED

    exported = export.export_onnx(SHIPPED, tmp_path / "model.onnx", check=False)
    argv = [*benchmark_argv(tiny_corpus, tiny_reward_models, *folders), "--episodes", "1", "--refine"]  # none refined
    rows = {}
    for runtime, model in (("torch", SHIPPED), ("onnx", exported)):
        out = tmp_path / runtime
        assert benchmark.main([*argv, "--model", str(model), "--runtime", runtime, "--out", str(out)]) == 0
        rows[runtime] = {(r["set"], r["method"]): r for r in json.loads((out / "results.json").read_text())["rows"]}
    exported_methods = {method for _, method in rows["onnx"]}
    assert {"supervised model", f"supervised model, {methods.MATCHED}"} <= exported_methods
    assert "supervised model, reference-free" not in exported_methods  # this graph reads a reference
    compared = 0
    for key, row in rows["onnx"].items():
        if key[1].startswith("supervised model"):
            torch_settings = rows["torch"][key]["settings"]
            np.testing.assert_allclose(row["settings"], torch_settings, atol=export.FP32_TOLERANCE.worst)
            compared += 1
    assert compared == 3  # as it predicts, loudness matched, matched (on the songs with references)
    with pytest.raises(SystemExit):
        benchmark.main([*argv, "--runtime", "onnx"])  # no exported model named
    assert "--runtime onnx runs exported models" in capsys.readouterr().err


def test_the_commit_recorded_is_this_codes_wherever_the_run_starts(tmp_path: Path, monkeypatch) -> None:
    here = Path(benchmark.__file__).resolve().parent
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=here)
    if head.returncode != 0:
        pytest.skip("the code is not in a git checkout here")
    monkeypatch.chdir(tmp_path)  # a folder outside the checkout: git would find no commit (or another one) there
    recorded = benchmark.provenance(argparse.Namespace())["commit"]
    assert recorded is not None and recorded.removesuffix("-dirty") == head.stdout.strip()
