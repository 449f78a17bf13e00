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


def test_rl_zoo3_trains_mixenv_with_the_shipped_ppo_file(
    tmp_path: Path, tiny_corpus: Path, tiny_reward_models: tuple[Path, Path]
) -> None:
    pytest.importorskip("rl_zoo3")
    from stable_baselines3 import PPO

    from agents.extractor import BackboneExtractor

    backbone, good_mix = tiny_reward_models
    # The zoo replaces the file's env_kwargs with the command line's, so the embedding observation is repeated.
    env_kwargs = [f"data_path:'{tiny_corpus}'", f"backbone_path:'{backbone}'", f"good_mix_path:'{good_mix}'",
                  "clip_seconds:1.0", "max_episode_steps:4", "observation:'embedding'"]  # fmt: skip
    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", "ppo", "--env", "MixEnv-v0",
               "--gym-packages", "mixenv", "-conf", str(HYPERPARAMS / "ppo.yml"), "-n", "32", "-f", str(tmp_path),
               "--seed", "0", "--eval-freq", "-1", "--hyperparams", "n_steps:32", "batch_size:16", "n_epochs:1",
               "--env-kwargs", *env_kwargs]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    model = PPO.load(next(tmp_path.glob("ppo/MixEnv-v0_*/MixEnv-v0.zip")), device="cpu")
    defaults = zoo_hyperparams("ppo")["MixEnv-v0"]
    assert model.gamma == defaults["gamma"] == 0.0  # absolute actions: each step is a bandit (discount())
    assert model.lr_schedule(1.0) == defaults["learning_rate"] == 1e-4
    assert isinstance(model.policy.features_extractor, BackboneExtractor)
    assert model.policy.log_std.detach().mean().item() == pytest.approx(-1.0, abs=0.05)  # one short update from -1


def test_rl_zoo3_trains_td3_with_the_action_penalty_from_the_shipped_file(
    tmp_path: Path, tiny_corpus: Path, tiny_reward_models: tuple[Path, Path]
) -> None:
    pytest.importorskip("rl_zoo3")
    from stable_baselines3 import TD3

    from agents.td3_policy import ACTION_PENALTY, PenalisedMultiInputPolicy

    backbone, good_mix = tiny_reward_models
    env_kwargs = [f"data_path:'{tiny_corpus}'", f"backbone_path:'{backbone}'", f"good_mix_path:'{good_mix}'",
                  "clip_seconds:1.0", "max_episode_steps:4", "observation:'embedding'"]  # fmt: skip
    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", "td3", "--env", "MixEnv-v0",
               "--gym-packages", "mixenv", "-conf", str(HYPERPARAMS / "td3.yml"), "-n", "24", "-f", str(tmp_path),
               "--seed", "0", "--eval-freq", "-1", "--hyperparams", "learning_starts:16", "batch_size:8",
               "--env-kwargs", *env_kwargs]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    model = TD3.load(next(tmp_path.glob("td3/MixEnv-v0_*/MixEnv-v0.zip")), device="cpu")
    assert type(model.policy) is PenalisedMultiInputPolicy and model.critic.penalty == ACTION_PENALTY
    assert next(tmp_path.glob("td3/MixEnv-v0_*/MixEnv-v0/vecnormalize.pkl")).is_file()  # rewards scaled, as ours
