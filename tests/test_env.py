"""MixEnv-v0: the Gymnasium contract, determinism, defined behaviour for bad actions and bad configuration."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import mixenv  # noqa: F401  (registers MixEnv-v0)
from mixenv.data import DatasetError
from mixenv.env import MixEnv

NO_BACKBONE = {"fad": 0.0, "anomaly": 0.0}


@pytest.fixture
def make(tiny_corpus: Path, tiny_reward_models: tuple[Path, Path]):
    """Build a MixEnv on the tiny corpus (2 s clips: its songs last 3 s) with every default reward term.

    The backbone is untrained and the good-mix model fitted on the tiny corpus, so FAD and anomaly are real terms
    computed the real way, only not meaningful ones.
    """
    backbone, good_mix = tiny_reward_models

    def build(**kwargs) -> MixEnv:
        options = {
            "data_path": str(tiny_corpus),
            "clip_seconds": 2.0,
            "backbone_path": str(backbone),
            "good_mix_path": str(good_mix),
        }
        return MixEnv(**(options | kwargs))

    return build


def test_registered_ids_make_the_env(tiny_corpus: Path) -> None:
    for env_id in ("MixEnv-v0", "mixenv:MixEnv-v0"):
        env = gym.make(env_id, data_path=str(tiny_corpus), clip_seconds=2.0, reward_weights=NO_BACKBONE)
        assert isinstance(env.unwrapped, MixEnv)
        assert env.spec is not None and env.spec.max_episode_steps == 10  # Gymnasium's TimeLimit truncates
        assert env.unwrapped.max_episode_steps is None  # and the env's own limit is off under it


def test_make_passes_max_episode_steps_to_the_time_limit(tiny_corpus: Path) -> None:
    env = gym.make(
        "MixEnv-v0", data_path=str(tiny_corpus), clip_seconds=2.0, reward_weights=NO_BACKBONE, max_episode_steps=3
    )
    env.reset(seed=0)
    truncations = [env.step(env.action_space.sample())[3] for _ in range(3)]
    assert truncations == [False, False, True]


def test_episode_steps_still_works_with_a_deprecation_warning(make) -> None:
    with pytest.warns(DeprecationWarning, match="max_episode_steps"):
        env = make(episode_steps=2)
    env.reset(seed=0)
    assert [env.step(np.zeros(41, np.float32))[3] for _ in range(2)] == [False, True]


@pytest.mark.parametrize("reference_free", [False, True])
def test_gymnasium_and_sb3_checkers_pass_without_warnings(make, reference_free: bool) -> None:
    env = make(reference_free=reference_free)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env, skip_render_check=True)
        sb3_check_env(env, warn=True)


def test_spaces_have_the_documented_shapes(make) -> None:
    env = make()
    frames = env.features.num_frames(2 * 22_050, 22_050)
    assert env.action_space.shape == (41,)
    assert env.observation_space["stems"].shape == (4, 64, frames)
    assert env.observation_space["reference"].shape == (2, 64, frames)
    assert "reference" not in make(reference_free=True).observation_space


def _rollout(env: MixEnv, seed: int, steps: int = 20) -> list:
    actions = np.random.default_rng(seed).uniform(-1, 1, (steps, env.action_space.shape[0])).astype(np.float32)
    obs, _ = env.reset(seed=seed)
    trace = [obs]
    for action in actions:
        obs, reward, _, truncated, _ = env.step(action)
        trace.append((obs, reward))
        if truncated:
            obs, _ = env.reset()
            trace.append(obs)
    return trace


def _flatten(trace: list) -> list[np.ndarray]:
    out = []
    for item in trace:
        obs, reward = item if isinstance(item, tuple) else (item, 0.0)
        out += [*(obs[k] for k in sorted(obs)), np.array([reward])]
    return out


def test_same_seed_gives_bit_identical_rollouts(make) -> None:
    a, b = _flatten(_rollout(make(), seed=3)), _flatten(_rollout(make(), seed=3))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_other_seed_gives_another_episode(make) -> None:
    a, b = make(), make()
    _, info_a = a.reset(seed=1)
    _, info_b = b.reset(seed=2)
    assert (info_a["song"], info_a["clip_start_seconds"]) != (info_b["song"], info_b["clip_start_seconds"])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 7.0, -3.0])
def test_bad_actions_give_finite_rewards_and_are_counted(make, bad: float) -> None:
    env = make()
    env.reset(seed=0)
    action = np.zeros(env.action_space.shape, np.float32)
    action[[0, 5, 40]] = bad
    obs, reward, _, _, info = env.step(action)
    assert np.isfinite(reward)
    assert info["clipped_actions"] == 3
    assert np.isfinite(obs["settings"]).all() and np.all(np.abs(obs["settings"]) <= 1.0)


def test_ground_truth_action_reproduces_the_reference(make) -> None:
    env = make(split="train")
    env.reset(seed=0)
    truth = env.clip.settings.normalized()
    _, reward, _, _, info = env.step(truth)
    assert info["terms"]["spectral"] > -0.02
    assert abs(info["terms"]["loudness"]) < 0.05
    assert reward > 0.3  # from neutral to the truth is a large improvement


def test_return_telescopes_to_final_minus_initial_score(make) -> None:
    env = make(max_episode_steps=5)
    _, info = env.reset(seed=4)
    first, total = info["score"], 0.0
    for action in np.random.default_rng(0).uniform(-1, 1, (5, 41)):
        _, reward, terminated, truncated, info = env.step(action)
        total += reward
        assert not terminated
    assert truncated
    assert total == pytest.approx(info["score"] - first, abs=1e-9)


def test_info_reports_settings_terms_and_levels(make) -> None:
    env = make()
    _, info = env.reset(seed=0)
    assert set(info["terms"]) == {"spectral", "loudness", "fad", "anomaly"}
    assert all(np.isfinite(v) for v in info["terms"].values())
    assert info["settings"]["stems"]["vocals"]["gain_db"] == pytest.approx(0.0, abs=1e-5)
    assert -70 <= info["lufs"] < 0 and info["bus_overs"] >= 0 and info["clipped_samples"] == 0


def test_wrong_action_shape_is_refused(make) -> None:
    env = make()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(41,\)"):
        env.step(np.zeros(40, np.float32))


def test_step_before_reset_is_refused(make) -> None:
    with pytest.raises(RuntimeError, match="reset"):
        make().step(np.zeros(41, np.float32))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"data_source": "spotify"}, DatasetError, "unknown data source"),
        ({"data_path": "/nonexistent/corpus"}, DatasetError, "build one with"),
        ({"split": "val"}, DatasetError, "no songs in split 'val'"),
        ({"clip_seconds": 0.1}, ValueError, "clip_seconds"),
        ({"max_episode_steps": 0}, ValueError, "max_episode_steps"),
        ({"reward_weights": {"reverb": 1.0}}, ValueError, "unknown reward terms"),
        ({"reward_weights": {"loudness": -1.0}}, ValueError, "finite and >= 0"),
        ({"reference_free": True, "reward_weights": {"spectral": 1.0}}, ValueError, "spectral term needs a reference"),
        ({"good_mix_path": "/nonexistent/model.npz"}, FileNotFoundError, "fit one with rewards.goodmix"),
        ({"reference_free": True, "reference_match": True}, ValueError, "reference_match needs a reference"),
    ],
)
def test_bad_configuration_is_refused(make, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        make(**kwargs)


def test_song_shorter_than_the_clip_is_refused(make) -> None:
    env = make(clip_seconds=5.0)
    with pytest.raises(ValueError, match=r"shorter than clip_seconds=5\.0"):
        env.reset(seed=0)


def test_missing_reference_is_refused_unless_reference_free(make, tmp_path: Path, write_song) -> None:
    from conftest import noise

    for i in range(2):
        write_song(tmp_path / f"song{i}", {"vocals.wav": noise(3.0), "bass.wav": noise(3.0, seed=1)})
    with pytest.raises(ValueError, match="reference_free=True"):
        make(data_source="folder", data_path=str(tmp_path), split=None)
    env = make(data_source="folder", data_path=str(tmp_path), split=None, reference_free=True)
    obs, _ = env.reset(seed=0)
    assert obs["presence"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert np.all(obs["stems"][1] == 0) and obs["stems"][0].max() > 0


def test_rgb_render_pictures_mix_and_reference(make) -> None:
    env = make(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame is not None and frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert frame.shape[0] == 3 * (2 * 64 + 2)
    assert make().render() is None


def test_env_pickles_and_behaves_the_same(make) -> None:
    env = make()
    env.reset(seed=0)
    clone = pickle.loads(pickle.dumps(env))
    a, b = _flatten(_rollout(env, seed=9, steps=3)), _flatten(_rollout(clone, seed=9, steps=3))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_reference_free_scores_loudness_fad_and_anomaly(make) -> None:
    env = make(reference_free=True, target_lufs=-16.0)
    _, info = env.reset(seed=0)
    assert set(info["terms"]) == {"loudness", "fad", "anomaly"}
    assert info["terms"]["loudness"] == pytest.approx(-abs(info["lufs"] + 16.0), abs=1e-9)


def test_embedding_observations_are_the_backbone_embeddings(make) -> None:
    env = make(observation="embedding")
    obs, _ = env.reset(seed=0)
    assert obs["stems"].shape == (4 * 128,) and obs["mix"].shape == (128,) and obs["reference"].shape == (128,)
    assert obs in env.observation_space
    embedding, _ = env.observer.embedder.at_rate(22_050)(env.current_mix)
    np.testing.assert_allclose(obs["mix"], embedding, atol=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(env, warn=True)


def test_embedding_observations_are_deterministic(make) -> None:
    a, b = (
        _flatten(_rollout(make(observation="embedding"), 5, 4)),
        _flatten(_rollout(make(observation="embedding"), 5, 4)),
    )
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def _median_gain_db(match: np.ndarray, presence: np.ndarray) -> np.ndarray:
    """Each present stem's median fitted gain (dB) over the band groups where it plays (within 40 dB of its
    loudest), from a ``match`` observation."""
    features = match.reshape(len(presence), 16, 5) * 20.0
    medians = []
    for role in np.flatnonzero(presence):
        level = features[role, :, 4]
        medians.append(np.median(features[role, level > level.max() - 40.0, :4]))
    return np.array(medians)


@pytest.mark.parametrize("observation", ["embedding", "logmel"])
def test_reference_match_observes_what_is_left_to_change(make, observation: str) -> None:
    env = make(split="train", observation=observation, reference_match=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(env, warn=True)
    neutral, _ = env.reset(seed=0)
    assert neutral["match"].shape == (4 * 80,) and neutral in env.observation_space
    assert not neutral["match"].reshape(4, 80)[neutral["presence"] == 0].any()  # absent stems read zeros
    truth, *_ = env.step(env.clip.settings.normalized())
    # Under the ground truth every stem sits in the reference as its strip plays it, so the stems' fitted gains
    # agree up to the master bus's common gain (3-4 dB here); the neutral mix's spread by the faders and EQ it lacks.
    at_truth = _median_gain_db(truth["match"], truth["presence"])
    at_neutral = _median_gain_db(neutral["match"], neutral["presence"])
    assert np.ptp(at_truth) < 0.5 * np.ptp(at_neutral)
    again, _ = make(split="train", observation=observation, reference_match=True).reset(seed=0)
    np.testing.assert_array_equal(again["match"], neutral["match"])


def test_clip_and_current_state_are_exposed(make) -> None:
    env = make()
    with pytest.raises(RuntimeError, match="reset"):
        _ = env.clip
    env.reset(seed=0)
    assert env.clip.num_samples == 2 * 22_050 and env.clip.settings is not None
    song = next(ref for ref in env.songs if ref.name == env.clip.name).load()
    np.testing.assert_array_equal(env.clip.settings.values, song.settings.values)  # a clip keeps its song's truth
    np.testing.assert_array_equal(env.current_mix, env._episode.mix)
    np.testing.assert_allclose(env.current_settings.values, env.space.neutral().values, atol=1e-5)


def test_score_settings_agrees_with_step_and_does_not_step(make) -> None:
    env = make()
    env.reset(seed=0)
    action = np.random.default_rng(0).uniform(-1, 1, 41).astype(np.float32)
    terms = env.score_settings(action)
    assert env._episode.steps == 0
    _, _, _, _, info = env.step(action)
    assert terms == pytest.approx(info["terms"], abs=1e-6)


def test_measure_agrees_with_the_reward_terms(make) -> None:
    env = make()
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.random.default_rng(1).uniform(-1, 1, 41).astype(np.float32))
    metrics, terms = env.measure(), info["terms"]
    assert metrics["mrstft"] == pytest.approx(-terms["spectral"], abs=1e-9)
    assert metrics["lufs_error"] == pytest.approx(-terms["loudness"], abs=1e-9)
    assert (metrics["fad"], metrics["anomaly"]) == pytest.approx((-terms["fad"], -terms["anomaly"]), abs=1e-9)
    errors = np.array(list(metrics["errors"].values()))
    assert len(errors) == 41 and metrics["param_mae"] == pytest.approx(np.abs(errors).mean(), rel=1e-9)


def test_remixed_episodes_score_against_their_own_new_reference(make) -> None:
    env = make(remix={"wide": 1.0, "drop_role": 0.0})
    _, info = env.reset(seed=0)
    song = next(ref for ref in env.songs if ref.name == info["song"]).load()
    assert env.clip.settings != song.settings  # drawn from the wide prior
    _, _, _, _, info = env.step(env.clip.settings.normalized())
    assert info["terms"]["spectral"] > -0.02  # the remix's own settings reproduce its reference
    a, b = _flatten(_rollout(make(remix={"wide": 1.0}), 3, 4)), _flatten(_rollout(make(remix={"wide": 1.0}), 3, 4))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_remixed_episodes_keep_the_clips_sample_rate(make) -> None:
    with pytest.raises(ValueError, match="keep the clip's sample rate"):
        make(remix={"sample_rates": (44_100,)})


# --- action modes and starting states that make an episode a refinement -------------------------------------------


def test_delta_actions_move_the_settings_accumulate_and_clip(make) -> None:
    env = make(action_mode="delta", delta_scale=0.25)
    obs, _ = env.reset(seed=0)
    start = obs["settings"].copy()
    up = np.zeros(41, np.float32)
    up[0] = 1.0  # vocals.gain_db up by a quarter of its normalised range per step
    obs, *_ = env.step(up)
    obs, *_ = env.step(up)
    assert obs["settings"][0] == pytest.approx(start[0] + 0.5) and np.array_equal(obs["settings"][1:], start[1:])
    for _ in range(6):  # further steps hit the range end and stay there
        obs, *_ = env.step(up)
    assert obs["settings"][0] == 1.0
    bad = np.zeros(41, np.float32)
    bad[1], bad[2] = np.nan, 5.0  # NaN moves nothing; 5 is clipped to a full step
    before = obs["settings"].copy()
    obs, reward, _, _, info = env.step(bad)
    assert obs["settings"][1] == before[1] and obs["settings"][2] == pytest.approx(min(before[2] + 0.25, 1.0))
    assert info["clipped_actions"] == 2 and np.isfinite(reward)
    assert env.step(np.zeros(41, np.float32))[0]["settings"].tolist() == obs["settings"].tolist()  # zero: stay


def test_delta_mode_passes_both_checkers_and_is_deterministic(make) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(make(action_mode="delta"), skip_render_check=True)
        sb3_check_env(make(action_mode="delta"), warn=True)
    a, b = (_flatten(_rollout(make(action_mode="delta"), seed=5)) for _ in range(2))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("which", ["heuristic", "model"])
def test_an_episode_can_start_from_a_policys_settings(make, which: str) -> None:
    from agents.heuristics import LoudnessBalancePolicy
    from supervised.default import default_model_path
    from supervised.policy import SupervisedPolicy

    policy = LoudnessBalancePolicy() if which == "heuristic" else SupervisedPolicy(default_model_path())
    env = make(initial_settings=policy)
    obs, _ = env.reset(seed=2)
    # The start is exactly what the policy mixes at step 0 of an ordinary episode on the same clip.
    plain = make()
    plain_obs, _ = plain.reset(seed=2)
    policy.reset(plain)
    expected = env.space.sanitize(policy.act(plain_obs, plain))[0]
    assert np.array_equal(obs["settings"], expected)
    plain.step(expected)
    assert np.array_equal(env.current_mix, plain.current_mix)
    # An absolute step from there is scored against that start: the return measures the refinement.
    _, reward, *_ = env.step(expected)
    assert reward == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action_mode": "relative"}, "action_mode"),
        ({"delta_scale": 0.0}, "delta_scale"),
        ({"initial_settings": "best"}, "initial_settings"),
        ({"initial_settings": 3}, "initial_settings"),
    ],
)
def test_bad_action_modes_and_starts_are_refused(make, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(**kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_make_vec_runs_the_env_side_by_side(
    tiny_corpus: Path, tiny_reward_models: tuple[Path, Path], mode: str
) -> None:
    """``gymnasium.make_vec`` in both modes (async in spawned processes: torch does not survive a fork)."""
    backbone, good_mix = tiny_reward_models
    kwargs = {"data_path": str(tiny_corpus), "clip_seconds": 2.0, "backbone_path": str(backbone)}
    vector_kwargs = {"context": "spawn"} if mode == "async" else {}
    envs = gym.make_vec(
        "MixEnv-v0",
        num_envs=2,
        vectorization_mode=mode,
        vector_kwargs=vector_kwargs,
        good_mix_path=str(good_mix),
        **kwargs,
    )
    try:
        obs, _ = envs.reset(seed=0)
        assert obs["settings"].shape == (2, 41) and obs["mix"].shape[0] == 2
        obs, reward, terminated, _, _ = envs.step(np.zeros((2, 41), np.float32))
        assert reward.shape == (2,) and np.isfinite(reward).all() and not terminated.any()
        # Each env draws its own episode from the seed: seed and seed + 1.
        single = MixEnv(**kwargs, good_mix_path=str(good_mix))
        single.reset(seed=1)
        assert np.array_equal(single.step(np.zeros(41, np.float32))[0]["mix"], obs["mix"][1])
    finally:
        envs.close()
