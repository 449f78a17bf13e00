"""RLlib PPO on the registered env (agents.rllib): training, the run folder, evaluation, the clear errors."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray")

from agents.episodes import evaluate_policy
from agents.evaluate import main as evaluate_main
from agents.policies import load_agent
from agents.rllib import RLlibPolicy, main, parse_args, run_env_kwargs, train
from mixenv.engines import Engine


@pytest.fixture(scope="module")
def env_kwargs(tiny_corpus: Path, tiny_reward_models: tuple[Path, Path]) -> tuple[list[str], str]:
    """--env-kwargs for a fast MixEnv on the tiny corpus, and the tiny backbone (as tests/test_agents.py)."""
    backbone, good_mix = tiny_reward_models
    kwargs = [f"data_path='{tiny_corpus}'", "clip_seconds=1.0", "max_episode_steps=4", f"good_mix_path='{good_mix}'"]
    return kwargs, str(backbone)


@pytest.fixture(scope="module")
def rllib_run(local_ray: Engine, env_kwargs: tuple[list[str], str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PPO for 256 env steps (two iterations of 128) with 2 env runners on the tiny corpus, validated after each
    iteration, into a relative ``--out`` (RLlib itself saves only to absolute paths)."""
    kwargs, backbone = env_kwargs
    here = tmp_path_factory.mktemp("rllib")
    argv = ["--algo", "PPO", "--env", "MixEnv-v0", "--num-env-runners", "2", "--steps", "256", "--seed", "3",
            "--train-batch-size", "128", "--minibatch-size", "64", "--num-epochs", "2", "--out", "run",
            "--backbone-path", backbone, "--eval-freq", "128", "--eval-episodes", "2", "--eval-split", "test",
            "--no-progress", "--env-kwargs", *kwargs]  # fmt: skip
    cwd = os.getcwd()
    os.chdir(here)
    try:
        run = train(argv)
    finally:
        os.chdir(cwd)
    assert run == here / "run"
    return run


@pytest.mark.slow
def test_rllib_ppo_trains_with_two_runners_and_its_checkpoint_evaluates(
    rllib_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = json.loads((rllib_run / "config.json").read_text())
    assert config["engine"] == "rllib" and config["algo"] == "PPO" and config["num_env_runners"] == 2
    assert config["env_kwargs"]["observation"] == "embedding" and config["training_env_kwargs"]["split"] == "train"
    assert config["steps"] == 256 and config["seed"] == 3 and config["versions"]["ray"]
    training = json.loads((rllib_run / "training.json").read_text())
    assert training["steps"] >= 256 and len(training["iterations"]) >= 2 and training["steps_per_second"] > 0
    assert (rllib_run / "checkpoint" / "rllib_checkpoint.json").is_file()
    validation = json.loads((rllib_run / "validation.json").read_text())
    # Validated after each iteration at the steps done by then: 128, 256 as a rule, more where a loaded machine let
    # RLlib's two runners overshoot an iteration's 128 (a CI run once saw 192, 320).
    steps = [iteration["steps"] for iteration in training["iterations"]]
    assert [v["timesteps"] for v in validation] == steps and steps[0] >= 128 and steps[-1] >= 256
    assert all(np.isfinite(v["score"]) for v in validation)
    assert config["log_std_init"] == -1.0 and not list(rllib_run.glob(".*"))  # nothing half-written left

    policy = load_agent(rllib_run)
    assert isinstance(policy, RLlibPolicy) and policy.module_dir == rllib_run / "best"
    final = RLlibPolicy(rllib_run, best=False)
    assert final.module_dir.is_relative_to(rllib_run / "checkpoint")
    for module in (policy.module, final.module):  # agents.ppo's start, moved a little by 8 updates at 1e-4
        np.testing.assert_allclose(module.pi.log_std.detach().numpy(), -1.0, atol=0.05)
        assert module.pi.net.mlp[-1].weight.abs().max() < 0.01  # PyTorch's default scale reaches 0.06 here
    runs = [evaluate_policy(load_agent(rllib_run), policy.env("test"), episodes=2, seed=5) for _ in range(2)]
    assert runs[0] == runs[1]  # same checkpoint, same seed: the same rows
    for row in runs[0]:
        assert np.isfinite([row["return"], row["score"], row["mrstft"], row["param_mae"]]).all()
        assert np.all(np.abs(row["settings"]) <= 1.0)

    env = policy.env("train")
    actions = []
    for index, song in enumerate(s.name for s in env.songs[:3]):
        obs, _ = env.reset(seed=index, options={"song": song})
        policy.reset(env)
        action = policy.act(obs, env)
        assert action.shape == env.action_space.shape and action.dtype == np.float32
        assert env.action_space.contains(action)
        np.testing.assert_array_equal(action, policy.act(obs, env))  # deterministic: the mean
        actions.append(action)
    assert max(float(np.abs(a - actions[0]).max()) for a in actions[1:]) > 1e-6  # it reads the observation
    monkeypatch.chdir(rllib_run.parent)  # a run named by a relative path loads too
    np.testing.assert_array_equal(load_agent(rllib_run.name).act(obs, env), actions[-1])


@pytest.mark.slow
def test_evaluate_cli_takes_an_rllib_run(rllib_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    assert evaluate_main(["--model", str(rllib_run), "--split", "test", "--episodes", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["policy"].startswith("RLlib PPO") and np.isfinite(result["songs"][0]["mrstft"])


@pytest.mark.slow
def test_the_benchmark_takes_an_rllib_run_as_an_agent(rllib_run: Path) -> None:
    from experiments import methods

    data = dict(json.loads((rllib_run / "config.json").read_text())["env_kwargs"], split="test")
    chosen = methods.agent(load_agent(rllib_run), data, "rllib")
    assert set(chosen) == {"rllib", "rllib, best of its renders", "rllib, loudness matched"}
    policy, env = chosen["rllib, loudness matched"]
    row = evaluate_policy(policy, env, episodes=1, seed=0)[0]
    assert np.isfinite(row["mrstft"]) and row["lufs_error"] < 0.5  # mastered to the reference's loudness


@pytest.mark.slow
def test_an_env_with_other_observations_is_a_clear_error(rllib_run: Path) -> None:
    policy = load_agent(rllib_run)
    logmel = policy.env("test", observation="logmel")
    with pytest.raises(ValueError, match=r"trained on 'embedding' observations.*policy\.env"):
        policy.reset(logmel)


def test_the_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "unfinished"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"algo": "PPO", "engine": "rllib", "env_kwargs": {}}))
    with pytest.raises(FileNotFoundError, match=f"{re.escape(str(run))}.*no RLlib checkpoint"):
        load_agent(run)
    assert evaluate_main(["--model", str(run)]) == 2 and str(run) in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match=r"no config\.json"):
        RLlibPolicy(tmp_path / "nothing")

    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--algo", "DQN"])
    assert exit_info.value.code == 2 and "invalid choice: 'DQN'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--address", "auto", "--num-cpus", "2"])
    with pytest.raises(ValueError, match="embedding observation"):
        run_env_kwargs(parse_args(["--env-kwargs", "observation='logmel'"]))

    monkeypatch.setitem(sys.modules, "ray", None)  # as if the scale extra were not installed
    assert main(["--steps", "8", "--out", str(tmp_path / "r")]) == 2
    assert "pip install -e '.[scale]'" in capsys.readouterr().err


def test_patience_stops_the_training_loop_when_validation_says_so(tmp_path: Path) -> None:
    from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED
    from tqdm import tqdm

    from agents.episodes import ValidationLog
    from agents.rllib import _iterate

    class Sampling:
        """Stands in for an RLlib Algorithm: each iteration samples 100 env steps."""

        def train(self) -> dict:
            return {ENV_RUNNER_RESULTS: {NUM_ENV_STEPS_SAMPLED: 100}}

    log = ValidationLog(tmp_path, patience=2)

    def validate(done: int) -> bool:  # scores: the best at 200 steps, then two worse
        log.add({"timesteps": done, "score": {100: 0.1, 200: 0.5}.get(done, 0.2)}, lambda: None)
        return log.exhausted

    with tqdm(total=1_000, disable=True) as bar:
        history = _iterate(Sampling(), 1_000, bar, validate)  # type: ignore[arg-type]
    assert [record["steps"] for record in history] == [100, 200, 300, 400]
    assert json.loads((tmp_path / "validation.json").read_text())[-1] == {"timesteps": 400, "score": 0.2}
    with pytest.raises(SystemExit):
        parse_args(["--patience", "1", "--eval-freq", "0"])
