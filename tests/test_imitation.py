"""Imitation before reinforcement (agents.imitation, ``--imitate``): demonstrations, the fit, the entry point."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest

from agents.algorithms import build_model
from agents.args import parse_args
from agents.envs import make_vec_env
from agents.imitation import Demonstrations, _loss, demonstrations, imitate
from agents.train import train
from mixenv.env import MixEnv


@pytest.fixture(scope="module")
def env_kwargs(tiny_corpus: Path, tiny_reward_models: tuple[Path, Path]) -> dict:
    backbone, good_mix = tiny_reward_models
    return {
        "data_path": str(tiny_corpus),
        "split": "train",
        "clip_seconds": 1.0,
        "max_episode_steps": 4,
        "observation": "embedding",
        "backbone_path": str(backbone),
        "good_mix_path": str(good_mix),
    }


def test_demonstrations_are_the_ground_truth_from_the_reset_mix_and_from_near_it(env_kwargs: dict) -> None:
    with MixEnv(**env_kwargs) as env:
        demos = demonstrations(env, 3, seed=5, progress=False)
        assert len(demos) == 6 and set(demos.observations) == set(env.observation_space.spaces)
        for episode in range(3):
            env.reset(seed=5 + episode)
            truth = np.clip(env.clip.settings.normalized(), -1, 1)
            np.testing.assert_allclose(demos.actions[2 * episode], truth)  # absolute: the settings themselves
            np.testing.assert_allclose(demos.actions[2 * episode + 1], truth)
        neutral = env.space.neutral_vector()
        np.testing.assert_allclose(demos.observations["settings"][0], neutral)  # the reset mix
        assert np.abs(demos.observations["settings"][1] - neutral).max() > 0.1  # a mix near the goal instead
        again = demonstrations(env, 3, seed=5, progress=False)
        np.testing.assert_array_equal(again.actions, demos.actions)  # same seed, same demonstrations
        flat = demonstrations(env, 3, seed=5, flatten=True, progress=False)  # for CrossQ's flat policies
        first = {key: value[0] for key, value in demos.observations.items()}
        np.testing.assert_array_equal(flat.observations[""][0], gym.spaces.flatten(env.observation_space, first))
        assert set(flat.observations) == {""} and np.array_equal(flat.actions, demos.actions)


def test_demonstrations_in_delta_mode_are_bounded_moves_toward_the_ground_truth(env_kwargs: dict) -> None:
    with MixEnv(**env_kwargs, action_mode="delta", delta_scale=0.25) as env:
        demos = demonstrations(env, 2, seed=0, progress=False)
        env.reset(seed=0)
        goal = np.clip(env.clip.settings.normalized(), -1, 1)
    assert np.abs(demos.actions).max() <= 1.0
    start = demos.observations["settings"][0]
    moved = np.clip(start + 0.25 * demos.actions[0], -1, 1)
    assert np.abs(moved - goal).sum() < np.abs(start - goal).sum()  # every move goes toward the goal
    reachable = np.abs(goal - start) <= 0.25
    np.testing.assert_allclose(moved[reachable], goal[reachable], atol=1e-6)  # and reaches it where it can


def test_imitation_fits_the_policy_to_the_ground_truth(env_kwargs: dict) -> None:
    with MixEnv(**env_kwargs) as env:
        train_demos = demonstrations(env, 12, seed=0, progress=False)
    for algo in ("ppo", "td3"):
        args = parse_args(algo, ["--env-kwargs", *(f"{k}={v!r}" for k, v in env_kwargs.items())])
        vec = make_vec_env("MixEnv-v0", env_kwargs, 1, 0, False)
        model = build_model(algo, args, vec)
        before = _loss(model.policy, train_demos, np.arange(len(train_demos))).item()
        history = imitate(model, train_demos, train_demos, seed=0, progress=False)
        after = _loss(model.policy, train_demos, np.arange(len(train_demos))).item()
        assert after == pytest.approx(min(h["val_loss"] for h in history), rel=1e-5)  # the best epoch is kept
        assert after < 0.5 * before, (algo, before, after)
        if algo == "td3":  # its target actor starts where the actor is
            for a, b in zip(model.policy.actor.parameters(), model.policy.actor_target.parameters(), strict=True):
                np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
        vec.close()


def test_a_song_without_ground_truth_is_refused_by_name() -> None:
    clip = SimpleNamespace(name="my song", settings=None)
    env = SimpleNamespace(reset=lambda seed: ({"settings": np.zeros(3, np.float32)}, {}), clip=clip)
    with pytest.raises(ValueError, match="'my song' has no ground-truth settings"):
        demonstrations(env, 1, seed=0, progress=False)  # type: ignore[arg-type]


def test_the_entry_point_imitates_then_validates_from_step_zero(env_kwargs: dict, tmp_path: Path) -> None:
    kwargs = {k: v for k, v in env_kwargs.items() if k not in ("split", "observation", "backbone_path")}
    argv = ["--total-timesteps", "64", "--out", str(tmp_path / "run"), "--backbone-path", env_kwargs["backbone_path"],
            "--eval-freq", "64", "--eval-episodes", "1", "--eval-split", "test", "--no-progress", "--imitate", "6",
            "--env-kwargs", *(f"{k}={v!r}" for k, v in kwargs.items()),
            "--algo-kwargs", "n_steps=32", "batch_size=32", "n_epochs=1"]  # fmt: skip
    run = train("ppo", argv)
    imitation = json.loads((run / "imitation.json").read_text())
    assert imitation["examples"] == {"train": 12, "val": 16} and imitation["history"]
    assert imitation["val_loss"] == min(h["val_loss"] for h in imitation["history"])
    validation = json.loads((run / "validation.json").read_text())
    assert [v["timesteps"] for v in validation] == [0, 64]  # the imitated policy is validated before any update


def test_imitation_needs_mixenv_and_a_count(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--imitate", "-1"], ["--env", "CartPole-v1", "--imitate", "4"]):
        with pytest.raises(SystemExit):
            parse_args("ppo", argv)
    assert "ground-truth settings" in capsys.readouterr().err
    assert len(Demonstrations({"x": np.zeros((2, 1))}, np.zeros((2, 3)))) == 2
