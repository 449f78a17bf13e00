"""The benchmarks' shared helpers: the metric agreement table; the RL benchmark's training, learning curves and
call of the one benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.compare import format_agreement, metric_agreement


def test_metric_agreement_ranks_metrics_against_each_other() -> None:
    rows = [
        {"mrstft": x, "lufs_error": 2 * x + 1, "fad": -x, "anomaly": (x - 2) ** 2, "param_mae": 0.5}
        for x in (0.0, 1.0, 2.0, 3.0, 4.0)
    ]
    agreement = metric_agreement(rows)
    assert "param_mae" not in agreement  # constant over the rows: no ranking to compare
    assert agreement["mrstft"]["lufs_error"] == pytest.approx(1.0)  # any increasing function ranks alike
    assert agreement["mrstft"]["fad"] == pytest.approx(-1.0)
    assert agreement["mrstft"]["anomaly"] == pytest.approx(0.0)  # symmetric about the middle row
    assert all(agreement[m][m] == pytest.approx(1.0) for m in agreement)
    table = format_agreement(agreement, "agreement")
    assert table.splitlines()[0] == "agreement" and "lufs_error" in table


def test_learning_curves_average_validation_returns_over_seeds(tmp_path) -> None:
    from experiments.benchmark_rl import learning_curves, plot_learning_curves

    for seed, returns in ((0, [-0.2, 0.1]), (1, [0.0, 0.3])):
        run = tmp_path / f"ppo_seed{seed}"
        run.mkdir(parents=True)
        history = [{"timesteps": 1000 * (i + 1), "return": r, "mrstft": 1.0} for i, r in enumerate(returns)]
        (run / "validation.json").write_text(json.dumps(history))
    curves = learning_curves(tmp_path, {"ppo": [0, 1]})
    assert [p["timesteps"] for p in curves["ppo"]] == [1000, 2000]
    assert [p["return"] for p in curves["ppo"]] == pytest.approx([-0.1, 0.2])
    assert [p["return_std"] for p in curves["ppo"]] == pytest.approx([0.1, 0.1])
    assert plot_learning_curves(curves, tmp_path / "curves.png", "title").stat().st_size > 1000


def test_the_kept_model_is_each_seeds_first_best_validation(tmp_path) -> None:
    from experiments.benchmark_rl import kept_steps

    for seed, scores in ((0, [-1.0, -0.5, -0.5, -0.9]), (1, [-1.0, -1.2, -1.1, -1.0])):
        run = tmp_path / f"ppo_seed{seed}"
        run.mkdir(parents=True)
        history = [{"timesteps": 1000 * i, "score": score, "return": score + 1.0} for i, score in enumerate(scores)]
        (run / "validation.json").write_text(json.dumps(history))
    # Seed 1 never validated above its start: its kept model is the one before any update.
    assert kept_steps(tmp_path, {"ppo": [0, 1]}) == {"ppo": [1000, 0]}


def test_comparisons_measure_the_audible_error_on_a_corpus_only(
    tiny_corpus, tiny_reward_models, tmp_path, monkeypatch
) -> None:
    from experiments.compare import metric_suite_of
    from mixenv import artifacts
    from mixenv.env import MixEnv

    measured = []
    monkeypatch.setattr(artifacts, "sensitivity", lambda corpus: measured.append(corpus) or _Weights())
    backbone, good_mix = tiny_reward_models
    env = MixEnv(data_path=str(tiny_corpus), split="test", clip_seconds=1.0, backbone_path=str(backbone),
                 good_mix_path=str(good_mix))  # fmt: skip
    assert metric_suite_of(env).control_weights == {"vocals.gain_db": 1.0} and measured == [tiny_corpus]
    folder = tmp_path / "songs"
    (folder / "one").mkdir(parents=True)
    for name in ("vocals.wav", "drums.wav", "reference.wav"):
        (folder / "one" / name).symlink_to(tiny_corpus / "song_0000" / name)
    plain = MixEnv(data_source="folder", data_path=str(folder), split=None, clip_seconds=1.0,
                   backbone_path=str(backbone), good_mix_path=str(good_mix))  # fmt: skip
    assert metric_suite_of(plain).control_weights is None  # a folder of stems has no ground truth to weigh


class _Weights:
    sensitivity = {"vocals.gain_db": 1.0}  # noqa: RUF012


def test_the_rl_benchmark_trains_each_agent_per_seed_then_runs_the_benchmark_with_their_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys
) -> None:
    from agents.trained import start_reference
    from experiments import benchmark_rl
    from experiments.methods import model_start

    trained: list[tuple[str, list[str], object]] = []

    def train(algo: str, argv: list[str], start=None) -> Path:  # writes what a finished run holds
        trained.append((algo, argv, start))
        out = Path(argv[argv.index("--out") + 1])
        out.mkdir(parents=True)
        (out / "model.zip").touch()
        (out / "validation.json").write_text(json.dumps([{"timesteps": 64, "score": -1.0, "return": 0.1}]))
        (out / "training.json").write_text(json.dumps({"steps_per_second": 10.0 * len(trained)}))
        return out

    called: list[list[str]] = []
    monkeypatch.setattr(benchmark_rl, "train_agent", train)
    monkeypatch.setattr(benchmark_rl.benchmark, "main", lambda argv: called.append(argv) or 0)
    runs, out = tmp_path / "runs", tmp_path / "out"
    argv = ["--seeds", "0", "1", "--algos", "ppo", "sac", "--one-seed", "sac", "--variant-seeds", "0", "--remixed",
            "ppo", "sac", "--imitated", "ppo", "sac", "--matched", "ppo", "sac", "--variants",
            "sac, remixes, reference match", "--patience", "4", "--cmaes-budget", "5", "--runs", str(runs), "--out",
            str(out)]  # fmt: skip
    assert benchmark_rl.main(argv) == 0
    starts = {Path(a[a.index("--out") + 1]).name: start for _, a, start in trained}
    assert list(starts) == ["ppo_seed0", "ppo_seed1", "sac_seed0", "ppo-refining-the-model_seed0",
                            "ppo-remixes_seed0", "sac-remixes_seed0", "ppo-imitation-first_seed0",
                            "sac-imitation-first_seed0", "ppo-reference-match_seed0", "sac-reference-match_seed0",
                            "sac-remixes-reference-match_seed0", "ppo_1env", "ppo_2env"]  # fmt: skip
    assert starts["ppo-refining-the-model_seed0"] is model_start and starts["ppo_seed0"] is None
    agent_runs = [a for _, a, _ in trained if "--patience" in a]  # not the throughput runs, which never validate
    assert len(agent_runs) == 11 and all(a[a.index("--patience") + 1] == "4" for a in agent_runs)
    for refused in (["--patience", "-1"], ["--patience", "2", "--eval-freq", "0"]):
        with pytest.raises(SystemExit):
            benchmark_rl.main([*refused, "--runs", str(tmp_path / "refused"), "--out", str(out)])
    assert not (tmp_path / "refused").exists()  # refused before any run is trained
    assert start_reference(model_start) == "experiments.methods:model_start"  # what its run records
    refine = next(a for _, a, start in trained if start is not None)
    assert refine[refine.index("--env-kwargs") + 1] == "action_mode='delta'"
    for algo in ("ppo", "sac"):
        name, args = next((n, a) for n, a, _ in trained if f"{algo}-imitation-first_seed0" in a[a.index("--out") + 1])
        assert name == algo and args[args.index("--imitate") + 1] == str(benchmark_rl.IMITATION_EPISODES)
    name, args = next((n, a) for n, a, _ in trained if "sac-reference-match_seed0" in a[a.index("--out") + 1])
    assert name == "sac" and args[args.index("--env-kwargs") + 1] == "reference_match=True"
    name, args = next((n, a) for n, a, _ in trained if "sac-remixes-reference-match" in a[a.index("--out") + 1])
    assert name == "sac" and args[args.index("--env-kwargs") + 1 :] == ["remix={'wide': 0.5}", "reference_match=True"]
    passed = called[0]
    agents = passed[passed.index("--agents") + 1 : passed.index("--learned")]
    assert agents == [f"ppo={runs}/ppo_seed{{seed}}", f"sac={runs}/sac_seed0",  # a method of one run: evaluated once
                      f"ppo, refining the model={runs}/ppo-refining-the-model_seed0",
                      f"ppo, remixes={runs}/ppo-remixes_seed0", f"sac, remixes={runs}/sac-remixes_seed0",
                      f"ppo, imitation first={runs}/ppo-imitation-first_seed0",
                      f"sac, imitation first={runs}/sac-imitation-first_seed0",
                      f"ppo, reference match={runs}/ppo-reference-match_seed0",
                      f"sac, reference match={runs}/sac-reference-match_seed0",
                      f"sac, remixes, reference match={runs}/sac-remixes-reference-match_seed0"]  # fmt: skip
    assert passed[passed.index("--seeds") + 1 : passed.index("--cmaes-budget")] == ["0", "1"]
    assert "ppo, loudness matched" in passed and "ppo, best of its renders" in passed and passed[-1] == str(out)
    assert "kept model (0: before any update): ppo [64, 64]; sac [64]" in capsys.readouterr().out
    assert json.loads((out / "throughput.json").read_text())["2 envs vs 1"] == pytest.approx(13 / 12)  # runs 12, 13
    assert set(json.loads((out / "learning_curves.json").read_text())) == {"ppo", "sac", benchmark_rl.REFINE,
                                                                           benchmark_rl.REMIXED, "sac, remixes",
                                                                           benchmark_rl.IMITATED,
                                                                           "sac, imitation first",
                                                                           "ppo, reference match",
                                                                           "sac, reference match",
                                                                           "sac, remixes, reference match"}  # fmt: skip

    trained.clear()
    assert benchmark_rl.main(argv) == 0 and not trained  # finished runs are reused
    alone = (argv[: argv.index("--remixed") + 1] + argv[argv.index("--imitated") : argv.index("--imitated") + 1]
             + ["--matched"])  # fmt: skip
    assert benchmark_rl.main(alone + argv[argv.index("--cmaes-budget") :]) == 0 and not trained
    agents = called[-1][called[-1].index("--agents") + 1 : called[-1].index("--learned")]
    assert [a.split("=")[0] for a in agents if "remixes" in a] == ["ppo, remixes"]  # --remixed alone: PPO
    assert [a.split("=")[0] for a in agents if "imitation" in a] == ["ppo, imitation first"]  # so --imitated
    assert [a.split("=")[0] for a in agents if "match" in a] == ["ppo, reference match"]  # and --matched
    with pytest.raises(SystemExit) as exit_info:
        benchmark_rl.main([*argv, "--variant-seeds", "1"])
    assert exit_info.value.code == 2 and "--variant-seeds" in capsys.readouterr().err


def test_an_agents_name_says_how_it_trains() -> None:
    from experiments import benchmark_rl

    assert benchmark_rl.variant("td3") == ("td3", [], [])
    assert benchmark_rl.variant("td3, remixes, reference match") == (
        "td3", ["remix={'wide': 0.5}", "reference_match=True"], [],
    )  # fmt: skip
    assert benchmark_rl.variant("sac, imitation first, reference match") == (
        "sac", ["reference_match=True"], ["--imitate", str(benchmark_rl.IMITATION_EPISODES)],
    )  # fmt: skip
    assert benchmark_rl.variant(benchmark_rl.REFINE)[1] == ["action_mode='delta'"]
    for bad in ("td4", "td3, reference match, remixes", "td3, remixes, remixes", "td3, louder"):
        with pytest.raises(ValueError, match="unknown agent"):
            benchmark_rl.variant(bad)


def test_the_rl_benchmark_refuses_an_unknown_variant(capsys) -> None:
    from experiments import benchmark_rl

    with pytest.raises(SystemExit) as exit_info:
        benchmark_rl.main(["--variants", "td3, louder"])
    assert exit_info.value.code == 2 and "unknown agent 'td3, louder'" in capsys.readouterr().err
