"""The rl-baselines3-zoo configuration files: equal to the entry points' defaults, and the zoo trains with them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agents.algorithms import ALGORITHMS
from agents.zoo import HYPERPARAMS, write_all, zoo_hyperparams


@pytest.mark.parametrize("algo", sorted(ALGORITHMS))
def test_the_shipped_files_hold_the_entry_points_defaults(algo: str) -> None:
    shipped = yaml.safe_load((HYPERPARAMS / f"{algo}.yml").read_text(encoding="utf-8"))
    assert shipped == zoo_hyperparams(algo), f"run python -m agents.zoo: {algo}.yml is out of date"


def test_write_all_writes_one_file_per_algorithm(tmp_path: Path) -> None:
    written = write_all(tmp_path)
    assert sorted(p.name for p in written) == sorted(f"{a}.yml" for a in ALGORITHMS)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def _zoo_train(algo: str, out: Path, tiny_corpus: Path, models: tuple[Path, Path], *hyperparams: str) -> Path:
    """Train ``algo`` for a few steps with ``python -m rl_zoo3.train`` and the shipped file on the tiny corpus;
    returns the zoo's run folder."""
    pytest.importorskip("rl_zoo3")
    backbone, good_mix = models
    # The zoo replaces the file's env_kwargs with the command line's, so the embedding observation is repeated.
    env_kwargs = [f"data_path:'{tiny_corpus}'", f"backbone_path:'{backbone}'", f"good_mix_path:'{good_mix}'",
                  "clip_seconds:1.0", "max_episode_steps:4", "observation:'embedding'"]  # fmt: skip
    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", algo, "--env", "MixEnv-v0",
               "--gym-packages", "mixenv", "-conf", str(HYPERPARAMS / f"{algo}.yml"), "-n", "32", "-f", str(out),
               "--seed", "0", "--eval-freq", "-1", "--hyperparams", *hyperparams,
               "--env-kwargs", *env_kwargs]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return next(out.glob(f"{algo}/MixEnv-v0_*"))


def test_rl_zoo3_trains_mixenv_with_the_shipped_ppo_file(
    tmp_path: Path, tiny_corpus: Path, tiny_reward_models: tuple[Path, Path]
) -> None:
    from stable_baselines3 import PPO

    from agents.extractor import BackboneExtractor

    run = _zoo_train("ppo", tmp_path, tiny_corpus, tiny_reward_models, "n_steps:32", "batch_size:16", "n_epochs:1")
    model = PPO.load(run / "MixEnv-v0.zip", device="cpu")
    defaults = zoo_hyperparams("ppo")["MixEnv-v0"]
    assert model.gamma == defaults["gamma"] == 0.0  # absolute actions: each step is a bandit (discount())
    assert model.lr_schedule(1.0) == defaults["learning_rate"] == 1e-4
    assert isinstance(model.policy.features_extractor, BackboneExtractor)
    assert model.policy.log_std.detach().mean().item() == pytest.approx(-1.0, abs=0.05)  # one short update from -1


def test_rl_zoo3_trains_td3_with_the_action_penalty_from_the_shipped_file(
    tmp_path: Path, tiny_corpus: Path, tiny_reward_models: tuple[Path, Path]
) -> None:
    from stable_baselines3 import TD3

    from agents.td3_policy import ACTION_PENALTY, PenalisedMultiInputPolicy

    run = _zoo_train("td3", tmp_path, tiny_corpus, tiny_reward_models, "learning_starts:16", "batch_size:8")
    model = TD3.load(run / "MixEnv-v0.zip", device="cpu")
    assert type(model.policy) is PenalisedMultiInputPolicy and model.critic.penalty == ACTION_PENALTY
    assert (run / "MixEnv-v0" / "vecnormalize.pkl").is_file()  # rewards scaled, as the entry point scales them
