"""RL entry points, the backbone extractor, the heuristics and the shared evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.algorithms import algorithm_kwargs, build_model, with_rewards_scaled
from agents.args import parse_args
from agents.envs import env_kwargs_for, make_vec_env, training_env_kwargs
from agents.episodes import BestOfEpisode, evaluate_policy, evaluate_song, validation_score
from agents.evaluate import main as evaluate_main
from agents.extractor import BackboneExtractor
from agents.heuristics import (
    EQ_GAINS,
    CMAESPolicy,
    LoudnessBalancePolicy,
    NeutralPolicy,
    ReferenceMatchPolicy,
    RefinedPolicy,
    StemMatchPolicy,
    env_loss,
    eq_scaled,
    matched_on_env,
    mid_bands_on_env,
    refine,
    searched_controls,
    try_mid_bands,
)
from agents.policies import AgentPolicy, LoudnessMatchedPolicy, load_agent
from agents.train import main as train_main
from agents.train import train as train_agent
from agents.trained import make_start, start_reference
from experiments.methods import GroundTruthPolicy
from mixenv.cliargs import parse_key_values
from mixenv.env import REFERENCE_WEIGHTS, MixEnv
from mixenv.loudness import integrated_lufs
from mixenv.params import ParamSpace
from mixenv.search import remembered, search

pytestmark = pytest.mark.usefixtures("quick_compressor_reading")  # tests of mixing, not of the reading


@pytest.fixture(scope="module")
def env_kwargs(tiny_corpus: Path, tiny_reward_models: tuple[Path, Path]) -> list[str]:
    """--env-kwargs for a fast MixEnv on the tiny corpus with the tiny backbone."""
    backbone, good_mix = tiny_reward_models
    return [
        f"data_path='{tiny_corpus}'",
        "clip_seconds=1.0",
        "max_episode_steps=4",
        f"good_mix_path='{good_mix}'",
    ], str(backbone)


def _train(
    algo: str, out: Path, env_kwargs, seed: int = 0, extra: tuple[str, ...] = (), env_extra: tuple[str, ...] = (),
    start=None,
) -> Path:  # fmt: skip
    kwargs, backbone = env_kwargs
    algo_kwargs = {"ppo": ["n_steps=64", "batch_size=32", "n_epochs=2"], "sac": ["learning_starts=40"]}
    algo_kwargs["td3"] = algo_kwargs["tqc"] = algo_kwargs["crossq"] = algo_kwargs["sac"]
    argv = ["--total-timesteps", "128", "--seed", str(seed), "--out", str(out), "--backbone-path", backbone,
            "--eval-freq", "64", "--eval-episodes", "1", "--eval-split", "test", "--no-progress",
            "--env-kwargs", *kwargs, *env_extra, "--algo-kwargs", *algo_kwargs[algo], *extra]  # fmt: skip
    return train_agent(algo, argv, start=start)


@pytest.fixture(scope="module")
def ppo_run(env_kwargs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short PPO run (seed 0), shared by the tests that only read it."""
    return _train("ppo", tmp_path_factory.mktemp("ppo") / "run", env_kwargs)


@pytest.mark.parametrize("algo", ["ppo", "sac", "td3", "tqc", "crossq"])
def test_each_entry_point_trains_and_writes_a_loadable_checkpoint(
    algo: str, tmp_path: Path, env_kwargs, ppo_run: Path
) -> None:
    run = ppo_run if algo == "ppo" else _train(algo, tmp_path / algo, env_kwargs)
    assert {"config.json", "model.zip", "best_model.zip", "validation.json", "progress.csv"} <= {
        p.name for p in run.iterdir()
    }
    assert json.loads((run / "config.json").read_text())["env_kwargs"]["observation"] == "embedding"
    policy = AgentPolicy(run)
    rows = evaluate_policy(policy, policy.env("test"))
    assert len(rows) == 1 and np.isfinite(rows[0]["mrstft"]) and np.isfinite(rows[0]["param_mae"])


def test_the_discount_follows_the_action_mode_and_the_user_wins() -> None:
    box = gym.spaces.Box(-1.0, 1.0, (41,), np.float32)
    assert algorithm_kwargs("sac", parse_args("sac", []), box)["gamma"] == 0.0  # absolute: a bandit per step
    delta = parse_args("ppo", ["--env-kwargs", "action_mode='delta'"])
    assert algorithm_kwargs("ppo", delta, box)["gamma"] == 0.9  # a move's effect lasts
    given = parse_args("td3", ["--algo-kwargs", "gamma=0.5"])
    assert algorithm_kwargs("td3", given, box)["gamma"] == 0.5


def test_off_policy_agents_learn_from_rewards_scaled_by_their_spread_and_ppo_from_raw_ones() -> None:
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    env = DummyVecEnv([lambda: gym.make("Pendulum-v1")])
    assert with_rewards_scaled("ppo", parse_args("ppo", []), env) is env
    for algo in ("tqc", "crossq", "td3"):  # td3: its action penalty is sized for scaled rewards
        assert isinstance(with_rewards_scaled(algo, parse_args(algo, []), env), VecNormalize)
    given = with_rewards_scaled("sac", parse_args("sac", ["--algo-kwargs", "gamma=0.5"]), env)
    assert isinstance(given, VecNormalize) and given.gamma == 0.5  # the user's discount, as the algorithm's
    sac = with_rewards_scaled("sac", parse_args("sac", []), env)
    assert isinstance(sac, VecNormalize) and sac.norm_reward and not sac.norm_obs and sac.gamma == 0.0
    sac.seed(0)
    sac.reset()
    for _ in range(50):
        _, scaled, _, _ = sac.step(np.array([sac.action_space.sample()]))
        raw = sac.get_original_reward()
        expected = np.clip(raw / np.sqrt(sac.ret_rms.var + sac.epsilon), -sac.clip_reward, sac.clip_reward)
        np.testing.assert_allclose(scaled, expected, rtol=1e-5)
    assert np.sqrt(sac.ret_rms.var) > 1.0  # Pendulum's rewards spread over several units: scaled down


def test_training_envs_step_on_shorter_clips_only_where_the_observation_allows() -> None:
    embedding = parse_args("sac", ["--env-kwargs", "clip_seconds=4.0"])
    assert training_env_kwargs(embedding)["clip_seconds"] == 2.0  # embeddings have one size at any clip length
    assert env_kwargs_for(embedding, "val")["clip_seconds"] == 4.0  # validation and evaluation keep the env's
    short = parse_args("sac", ["--env-kwargs", "clip_seconds=1.0"])
    assert training_env_kwargs(short)["clip_seconds"] == 1.0  # never longer than the env's own
    logmel = parse_args("ppo", ["--backbone", "finetune", "--env-kwargs", "clip_seconds=4.0"])
    assert training_env_kwargs(logmel)["clip_seconds"] == 4.0  # images are as long as the clip
    with pytest.raises(ValueError, match="log-mel observations are as long as the clip"):
        training_env_kwargs(parse_args("ppo", ["--backbone", "finetune", "--train-clip-seconds", "2"]))


def test_a_run_records_the_env_it_trained_in_beside_the_one_it_acts_in(ppo_run: Path) -> None:
    config = json.loads((ppo_run / "config.json").read_text())
    assert config["training_env_kwargs"]["split"] == "train" and config["env_kwargs"]["clip_seconds"] == 1.0
    assert AgentPolicy(ppo_run).env("test").clip_seconds == 1.0


def test_an_algorithm_of_flat_observations_refuses_log_mel_images(tmp_path: Path, env_kwargs, capsys) -> None:
    kwargs, backbone = env_kwargs
    argv = [
        "--out",
        str(tmp_path / "c"),
        "--backbone-path",
        backbone,
        "--backbone",
        "finetune",
        "--env-kwargs",
        *kwargs,
    ]
    assert train_main("crossq", argv) == 2
    assert "flat observations" in capsys.readouterr().err and not (tmp_path / "c" / "model.zip").exists()


def test_agent_in_an_env_with_other_observations_is_a_clear_error(ppo_run: Path) -> None:
    policy = AgentPolicy(ppo_run)
    logmel_env = MixEnv(**policy.env_kwargs | {"split": "test", "observation": "logmel"})
    with pytest.raises(ValueError, match=r"trained on 'embedding' observations.*policy\.env"):
        evaluate_policy(policy, logmel_env)


def test_training_changes_the_policy(ppo_run: Path, env_kwargs) -> None:
    run = ppo_run
    trained = AgentPolicy(run, best=False).model.policy
    untrained = build_model(
        "ppo", parse_args("ppo", ["--env-kwargs", *env_kwargs[0], "--backbone-path", env_kwargs[1]]),
        make_vec_env("MixEnv-v0", json.loads((run / "config.json").read_text())["env_kwargs"], 1, 0),
    ).policy  # fmt: skip
    weights = [(a - b).abs().max().item() for a, b in zip(trained.parameters(), untrained.parameters(), strict=True)]
    assert max(weights) > 1e-4


def test_same_seed_gives_the_same_evaluation(tmp_path: Path, env_kwargs, ppo_run: Path) -> None:
    outputs = []
    for name, run in (("a", ppo_run), ("b", _train("ppo", tmp_path / "again", env_kwargs, seed=0))):
        out = tmp_path / f"{name}.json"
        assert evaluate_main(["--model", str(run), "--split", "test", "--json", str(out)]) == 0
        outputs.append(json.loads(out.read_text())["songs"])
    assert outputs[0] == outputs[1]


def test_an_agent_is_evaluated_on_its_best_renders_on_request(tmp_path: Path, ppo_run: Path) -> None:
    runs = {}
    for name, extra in (("last", []), ("best", ["--best-of-episode"])):
        out = tmp_path / f"{name}.json"
        assert evaluate_main(["--model", str(ppo_run), "--split", "test", "--json", str(out), *extra]) == 0
        runs[name] = json.loads(out.read_text())
    assert runs["best"]["policy"].endswith(", best of its renders")
    for last, best in zip(runs["last"]["songs"], runs["best"]["songs"], strict=True):
        assert best["score"] >= last["score"] and best["return"] >= 0.0 and "best_step" in best


def test_finetuning_runs_the_backbone_on_log_mel(tmp_path: Path, env_kwargs) -> None:
    extra = ("--backbone", "finetune", "--eval-freq", "0", "--total-timesteps", "64")  # one rollout, one update
    run = _train("ppo", tmp_path / "ft", env_kwargs, extra=extra)
    model = AgentPolicy(run).model
    extractor = model.policy.features_extractor
    assert not extractor.embedded and any(p.requires_grad for p in extractor.backbone.parameters())


def test_missing_checkpoint_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluate_main(["--model", str(tmp_path / "nowhere")]) == 2
    assert "no config.json" in capsys.readouterr().err
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text('{"algo": "ppo", "env_kwargs": {}}')
    with pytest.raises(FileNotFoundError, match=r"holds no model\.zip"):
        AgentPolicy(tmp_path / "run")


def test_wrong_env_id_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args("ppo", ["--env", "MixEnv-v9"])
    assert "unknown env id 'MixEnv-v9'" in capsys.readouterr().err


@pytest.mark.parametrize("item", ["clip_seconds", "=2", "split"])
def test_malformed_env_kwargs_are_a_clear_error(item: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args("ppo", ["--env-kwargs", item])
    assert "--env-kwargs: expected KEY=VALUE items" in capsys.readouterr().err


def test_env_kwargs_values_are_python_literals() -> None:
    assert parse_key_values(["clip_seconds=2.5", "split=train", "reward_weights={'fad': 0}"]) == {
        "clip_seconds": 2.5, "split": "train", "reward_weights": {"fad": 0},
    }  # fmt: skip


def test_help_is_built_from_the_typed_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args("sac", ["--help"])
    out = capsys.readouterr().out
    for flag in ("--total-timesteps", "--n-envs", "--env-kwargs", "--backbone", "--device", "--out"):
        assert flag in out


def test_extractor_concatenates_embedding_observations() -> None:
    from gymnasium import spaces

    embedding = spaces.Box(-100, 100, (8,))
    space = spaces.Dict({
        "stems": spaces.Box(-100, 100, (4 * 8,)), "mix": embedding, "reference": embedding,
        "settings": spaces.Box(-1, 1, (41,)), "presence": spaces.Box(0, 1, (4,)),
    })  # fmt: skip
    extractor = BackboneExtractor(space)
    obs = {k: torch.ones(2, *v.shape) for k, v in space.spaces.items()}
    assert extractor.embedded and extractor(obs).shape == (2, 32 + 8 + 8 + 41 + 4) == (2, extractor.features_dim)


# --- heuristics ---------------------------------------------------------------------------------------------------


@pytest.fixture
def env(tiny_corpus: Path, tiny_reward_models: tuple[Path, Path]) -> MixEnv:
    backbone, good_mix = tiny_reward_models
    return MixEnv(data_path=str(tiny_corpus), clip_seconds=2.0, max_episode_steps=2, backbone_path=str(backbone),
                  good_mix_path=str(good_mix))  # fmt: skip


def test_neutral_heuristic_plays_the_neutral_vector(env: MixEnv) -> None:
    env.reset(seed=0)
    policy = NeutralPolicy()
    policy.reset(env)
    np.testing.assert_array_equal(policy.act({}, env), env.space.neutral_vector())


def test_loudness_balance_masters_the_bus_to_minus_14(env: MixEnv) -> None:
    env.reset(seed=0)
    policy = LoudnessBalancePolicy()
    policy.reset(env)
    env.step(policy.act({}, env))
    assert integrated_lufs(env.current_mix, 22_050) == pytest.approx(-14.0, abs=1.0)


def test_reference_matching_gets_closer_to_the_reference_than_neutral(env: MixEnv) -> None:
    neutral = evaluate_policy(NeutralPolicy(), env)
    matched = evaluate_policy(ReferenceMatchPolicy(), env)
    assert np.mean([r["lufs_error"] for r in matched]) < 0.5 < np.mean([r["lufs_error"] for r in neutral])
    assert np.mean([r["mrstft"] for r in matched]) < np.mean([r["mrstft"] for r in neutral])


def test_stem_matching_gets_closer_to_the_reference_than_matching_the_bus(env: MixEnv) -> None:
    """Each stem's tone, fader and pan read from the reference beat the bus's tone alone, loudness matched both."""
    bus = evaluate_policy(ReferenceMatchPolicy(), env)
    stems = evaluate_policy(StemMatchPolicy(), env)
    assert np.mean([r["lufs_error"] for r in stems]) < 0.5
    assert np.mean([r["mrstft"] for r in stems]) < 0.8 * np.mean([r["mrstft"] for r in bus])


def test_cmaes_improves_the_env_score_and_is_seeded(env: MixEnv) -> None:
    env.reset(seed=0, options={"song": env.songs[0].name})
    start = env.reward.total(env.score_settings(env.space.neutral_vector()))
    actions = []
    for _ in range(2):
        policy = CMAESPolicy(budget=40, seed=1)
        policy.reset(env)
        actions.append(policy.act({}, env))
    assert env.reward.total(env.score_settings(actions[0])) > start
    np.testing.assert_array_equal(actions[0], actions[1])


def test_refining_starts_from_a_policy_keeps_it_if_nothing_beats_it_and_spends_the_budget(
    env: MixEnv, tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.reset(seed=0, options={"song": env.songs[0].name})
    calls = []
    score = env.score_settings
    monkeypatch.setattr(env, "score_settings", lambda action: calls.append(1) or score(action))
    policy = RefinedPolicy(NeutralPolicy(), budget=12, seed=1)
    policy.reset(env)
    refined = policy.act({}, env)
    # The start, then whole generations of CMA-ES's population until the budget less one is reached, then the
    # re-match of what it found to the reference. With a reference only the 15 controls the match cannot read are
    # searched (the 4 strips' high-pass and compressor, the bus compressor and limiter): 4 + 3 ln 15 = 12 each.
    assert policy.name == "neutral, refined" and len(calls) == 1 + 12 + 1
    total = env.reward.total
    assert total(score(refined)) >= total(score(env.space.neutral_vector()))
    # On the spectral distance alone nothing beats the ground truth, which renders the reference: it is kept, or
    # its re-match, which reads the truth back to within 3e-4 (the inversion's ridge) and so scores as it does.
    spectral = MixEnv(data_path=str(tiny_corpus), clip_seconds=2.0, reward_weights={"fad": 0, "anomaly": 0})
    spectral.reset(seed=0)
    truth = RefinedPolicy(GroundTruthPolicy(), budget=6, seed=1)
    truth.reset(spectral)
    np.testing.assert_allclose(truth.act({}, spectral), spectral.clip.settings.normalized(), atol=3e-4)


class _Proposals:
    """Plays the given normalised settings, one per step (the last repeated)."""

    name = "proposals"

    def __init__(self, *proposals: np.ndarray) -> None:
        self.proposals, self.step = proposals, 0

    def reset(self, env: MixEnv) -> None:
        self.step = 0

    def act(self, observation: dict[str, np.ndarray], env: MixEnv) -> np.ndarray:
        self.step += 1
        return self.proposals[min(self.step, len(self.proposals)) - 1]


def test_a_policy_that_keeps_its_best_ends_on_its_best_scoring_render_the_start_included(
    tiny_corpus: Path, tiny_reward_models: tuple[Path, Path]
) -> None:
    backbone, good_mix = tiny_reward_models
    env = MixEnv(data_path=str(tiny_corpus), clip_seconds=2.0, max_episode_steps=3, backbone_path=str(backbone),
                 good_mix_path=str(good_mix))  # fmt: skip
    song = env.songs[0].name
    env.reset(seed=5, options={"song": song})
    truth = env.clip.settings.normalized()
    worst = np.where(truth > 0, -1.0, 1.0).astype(np.float32)
    total = env.reward.total
    start_score = total(env.score_settings(env.space.neutral_vector()))
    truth_score, worst_score = total(env.score_settings(truth)), total(env.score_settings(worst))
    assert worst_score < start_score < truth_score

    # The truth at step 2 of 3: the last step (the worst mix) is measured, unless the policy keeps its best.
    last = evaluate_song(_Proposals(worst, truth, worst), env, song, 5)
    best = evaluate_song(BestOfEpisode(_Proposals(worst, truth, worst)), env, song, 5)
    assert best["best_step"] == 2 and "best_step" not in last
    assert best["score"] == pytest.approx(truth_score) and last["score"] == pytest.approx(worst_score)
    assert best["return"] == pytest.approx(truth_score - start_score)
    assert best["mrstft"] < 0.01 < last["mrstft"] and best["param_mae"] < 1e-5 < last["param_mae"]
    np.testing.assert_allclose(best["settings"], truth, atol=1e-6)
    # Nothing beats the start: the start's mix is the row (a refining agent never ends worse than it began).
    kept = evaluate_song(BestOfEpisode(_Proposals(worst)), env, song, 5)
    assert kept["best_step"] == 0 and kept["return"] == 0.0
    np.testing.assert_allclose(kept["settings"], env.space.neutral_vector(), atol=1e-6)
    neutral = evaluate_song(NeutralPolicy(), env, song, 5)
    assert kept["mrstft"] == pytest.approx(neutral["mrstft"]) and kept["score"] == pytest.approx(neutral["score"])


def test_refining_keeps_the_re_match_only_where_it_scores_better() -> None:
    target = np.full(41, 0.3)
    calls = []

    def loss(x: np.ndarray) -> float:
        calls.append(1)
        return float(np.sum((np.asarray(x) - target) ** 2))

    start = np.zeros(41)
    assert np.array_equal(refine(loss, lambda x: target.copy(), start, 12, 0.05, seed=0), target)
    assert len(calls) == 1 + 15 + 1  # the start and a generation (the budget less one), then the re-match
    found = refine(loss, lambda x: -target, start, 12, 0.05, seed=0)
    assert loss(found) < loss(-target) and loss(found) <= loss(start)
    calls.clear()
    refine(loss, lambda x: x, start, 12, 0.05, seed=0)  # nothing to match against: nothing more is scored
    assert len(calls) == 1 + 15


def test_refining_in_rounds_splits_the_budget_and_re_matches_after_each_round() -> None:
    target, start = np.full(41, 0.3), np.zeros(41)
    calls, rematched = [], []

    def loss(x: np.ndarray) -> float:
        calls.append(1)
        return float(np.sum((np.asarray(x) - target) ** 2))

    def rematch(x: np.ndarray) -> np.ndarray:
        rematched.append(x.copy())
        return x + 0.5 * (target - x)  # halfway to what the reference shows

    found = refine(loss, rematch, start, 24, 0.05, seed=0, rounds=2)
    # Two rounds of 12: the start, a generation of 15, the re-match; the second from what the first kept, whose
    # score it takes from memory.
    assert len(calls) == 2 * (1 + 15 + 1) - 1 and len(rematched) == 2
    assert loss(found) <= loss(start) / 16 + 1e-9  # each re-match halves the distance: a sixteenth of the loss
    calls.clear(), rematched.clear()
    refine(loss, rematch, start, 7, 0.05, seed=0, rounds=5)  # shares of at least 3: two rounds
    assert len(rematched) == 2


def test_eq_scaled_starts_scale_each_stems_eq_gains_in_db_and_nothing_else() -> None:
    space = ParamSpace()
    vector = np.random.default_rng(0).uniform(-1.0, 1.0, space.size)
    full, half, flat = (space.to_physical(row).values for row in eq_scaled(space, vector, (1.0, 0.5, 0.0)))
    gains = space.controls_named(EQ_GAINS)
    assert gains.sum() == 3 * len(space.roles) and np.abs(full[gains]).min() > 0.1
    np.testing.assert_allclose(full, space.to_physical(vector).values, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(half[gains], 0.5 * full[gains], atol=1e-4)
    np.testing.assert_allclose(flat[gains], 0.0, atol=1e-4)
    np.testing.assert_allclose(half[~gains], full[~gains], rtol=1e-6)
    np.testing.assert_allclose(flat[~gains], full[~gains], rtol=1e-6)


def test_refining_from_matched_starts_scores_each_start_once_and_ends_at_least_at_the_best(
    env: MixEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.reset(seed=0, options={"song": env.songs[0].name})
    truth = env.clip.settings.normalized()
    starts = [
        matched_on_env(env, env.space.to_physical(row), match_stems=True).normalized()
        for row in eq_scaled(env.space, truth)
    ]
    total, score = env.reward.total, env.score_settings
    best = max(total(score(s)) for s in starts)
    calls = []
    monkeypatch.setattr(env, "score_settings", lambda action: calls.append(1) or score(action))
    policy = RefinedPolicy(GroundTruthPolicy(), budget=5, seed=1, match_starts=True)
    policy.reset(env)
    refined = policy.act({}, env)
    # The three matched starts, then the best's refinement in the 3 renders left (none left for other mid bands):
    # its start from memory, a generation of 12 (the 15 controls the match cannot read), the re-match.
    assert len(calls) == 3 + 12 + 1
    assert total(score(refined)) >= best - 1e-9
    calls.clear()
    policy = RefinedPolicy(GroundTruthPolicy(), budget=12, seed=1, match_starts=True)
    policy.reset(env)
    refined = policy.act({}, env)
    # With 7 renders to spare, each stem's mid band tried in its other regions too (at most 7 of them scored).
    assert 3 + 12 + 1 < len(calls) <= 3 + 7 + 12 + 1
    assert total(score(refined)) >= best - 1e-9
    with pytest.raises(ValueError, match="at least 5 renders"):
        RefinedPolicy(GroundTruthPolicy(), budget=4, match_starts=True)


def test_trying_mid_bands_keeps_only_readings_that_score_better_one_after_another_within_the_budget(
    env: MixEnv,
) -> None:
    env.reset(seed=0, options={"song": env.songs[0].name})
    start = env.clip.settings
    calls = []

    def loss(vector: np.ndarray) -> float:  # prefers every mid band at 5 kHz
        calls.append(1)
        centres = [env.space.to_physical(vector)[f"{r}.mid_freq_hz"] for r in env.space.roles]
        return float(np.sum(np.log(np.asarray(centres) / 5_000.0) ** 2))

    remembering = remembered(loss)
    readings = mid_bands_on_env(env, start)
    found, spent = try_mid_bands(env.space, start.normalized(), readings, remembering, lambda x: x, budget=0)
    assert spent == 0 and np.array_equal(found, start.normalized())
    calls.clear()
    found, spent = try_mid_bands(env.space, start.normalized(), readings, remembering, lambda x: x, budget=50)
    assert spent == len(calls) >= 2  # the start from memory, each reading once
    assert loss(found) < loss(start.normalized())
    ends = env.space.to_physical(found)
    moved = [r for r in env.space.roles if abs(ends[f"{r}.mid_freq_hz"] - start[f"{r}.mid_freq_hz"]) > 1.0]
    for role in moved:  # each reading kept brought its stem's centre nearer 5 kHz
        after, before = (abs(np.log2(s[f"{role}.mid_freq_hz"] / 5_000.0)) for s in (ends, start))
        assert after < before
    assert moved
    _, few = try_mid_bands(env.space, start.normalized(), readings, remembered(loss), lambda x: x, budget=1)
    assert few == 1


def test_refining_searches_only_the_controls_it_is_given_and_keeps_the_others_at_the_start() -> None:
    space = ParamSpace()
    searched = searched_controls(space, matched=True)
    assert [n.split(".")[-1] for n in np.array(space.names)[searched]] == [
        *[c for _ in space.roles for c in ("hpf_hz", "comp_threshold_db", "comp_ratio")],
        "master_comp_threshold_db",
        "master_comp_ratio",
        "master_limiter_db",
    ]
    assert searched_controls(space, matched=False).all()  # nothing re-matched: every control is searched
    target, start = np.full(space.size, 0.3), np.zeros(space.size)

    def loss(x: np.ndarray) -> float:
        return float(np.sum((np.asarray(x) - target) ** 2))

    found = refine(loss, lambda x: x, start, 40, 0.1, seed=0, searched=searched)
    assert np.array_equal(found[~searched], start[~searched])
    assert np.abs(found[searched] - target[searched]).mean() < np.abs(start[searched] - target[searched]).mean()
    everything = refine(loss, lambda x: x, start, 40, 0.1, seed=0)
    assert np.count_nonzero(everything != start) == space.size


@pytest.mark.parametrize(("budget", "keep_start", "calls"), [(15, False, 15), (16, True, 16), (17, True, 31),
                                                             (30, False, 30), (100, False, 105)])  # fmt: skip
def test_a_search_spends_its_budget_rounded_up_to_whole_generations(budget: int, keep_start: bool, calls: int) -> None:
    counted = []

    def loss(x: np.ndarray) -> float:
        counted.append(1)
        return float(np.sum(np.square(x)))

    search(loss, np.full(41, 0.5), budget, 0.05, seed=0, keep_start=keep_start)
    assert len(counted) == calls  # generations of 15 (4 + 3 ln 41), the start included where it is scored


def test_a_search_climbs_the_weights_it_is_given(env: MixEnv) -> None:
    env.reset(seed=0, options={"song": env.songs[0].name})
    action = env.space.neutral_vector()
    terms = env.score_settings(action)
    assert env_loss(env)(action) == pytest.approx(-env.reward.total(terms))
    climbed = env_loss(env, REFERENCE_WEIGHTS)(action)
    assert climbed == pytest.approx(-(terms["spectral"] + env.reward.weights["loudness"] * terms["loudness"]))
    with pytest.raises(ValueError, match=r"unknown reward terms \['spectrum'\]"):
        env_loss(env, {"spectrum": 1.0})
    found = CMAESPolicy(budget=20, seed=1, weights=REFERENCE_WEIGHTS)
    found.reset(env)
    assert env_loss(env, REFERENCE_WEIGHTS)(found.act({}, env)) < climbed


def test_heuristic_act_before_reset_is_refused() -> None:
    with pytest.raises(RuntimeError, match="reset"):
        NeutralPolicy().act({}, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("use_reference", [True, False])
def test_loudness_matching_masters_any_policy_to_the_reference(env: MixEnv, use_reference: bool) -> None:
    policy = LoudnessMatchedPolicy(NeutralPolicy(), target_lufs=-16.0, use_reference=use_reference)
    env.reset(seed=0)
    policy.reset(env)
    action = policy.act({}, env)
    env.step(action)
    wanted = integrated_lufs(env.clip.reference, 22_050) if use_reference else -16.0
    assert integrated_lufs(env.current_mix, 22_050) == pytest.approx(wanted, abs=0.3)
    np.testing.assert_array_equal(policy.act({}, env), action)  # the same settings, not measured again
    assert policy.name == "neutral, loudness matched"


def test_balance_matching_moves_the_faders_toward_the_ground_truth(env: MixEnv) -> None:
    """From the neutral mix, faders matched to the reference's balance land closer to the ground truth's faders
    than loudness matching alone leaves them (which moves all faders alike), song by song."""
    faders = [i for i, name in enumerate(env.space.names) if name.endswith(".gain_db")]
    plain, balanced = LoudnessMatchedPolicy(NeutralPolicy()), LoudnessMatchedPolicy(NeutralPolicy(), match_stems=True)
    assert balanced.name == "neutral, balance, tone and loudness matched"
    for seed in range(3):
        env.reset(seed=seed)
        truth = env.clip.settings.normalized()[faders]
        errors = []
        for policy in (plain, balanced):
            policy.reset(env)
            action = policy.act({}, env)
            centred = action[faders] - np.median(action[faders]) - (truth - np.median(truth))
            errors.append(np.abs(centred).mean())
        assert errors[1] < errors[0]


def test_an_agent_trained_on_remixes_is_evaluated_on_the_songs_own_mixes(ppo_run: Path) -> None:
    policy = AgentPolicy(ppo_run)
    policy.config["env_kwargs"]["remix"] = {"wide": 1.0}  # as a run on remixed episodes records it
    assert policy.env("test").remix is None


@pytest.mark.usefixtures("one_thread")
def test_an_agent_refines_a_start_policys_settings_in_delta_mode(tmp_path: Path, env_kwargs) -> None:
    run = _train(
        "ppo", tmp_path / "refine", env_kwargs, env_extra=("action_mode='delta'",), start=LoudnessBalancePolicy
    )
    config = json.loads((run / "config.json").read_text())
    assert config["start"] == LoudnessBalancePolicy.name and config["env_kwargs"]["action_mode"] == "delta"
    assert config["start_factory"] == "agents.heuristics:LoudnessBalancePolicy"
    policy = load_agent(run)
    with pytest.raises(ValueError, match="trained to refine the settings of"):
        policy.reset(policy.env("test", initial_settings="neutral"))  # not what it learnt to refine
    env = policy.env("test")  # the run's start, made again from its factory
    start = env.unwrapped.initial_settings
    assert isinstance(start, LoudnessBalancePolicy)
    obs, _ = env.reset(seed=3)
    start.reset(env)
    assert np.allclose(obs["settings"], env.space.sanitize(start.act(obs, env))[0], atol=1e-6)  # step 0: the start
    rows = evaluate_policy(policy, env)
    assert len(rows) == 1 and np.isfinite(rows[0]["mrstft"])
    out = tmp_path / "evaluation.json"  # the command line starts its episodes there too
    assert evaluate_main(["--model", str(run), "--split", "test", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["songs"][0]["mrstft"] == pytest.approx(rows[0]["mrstft"])

    del config["start_factory"]  # as runs recorded their start before
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="does not record how to make that start"):
        load_agent(run).env("test")


@pytest.mark.usefixtures("one_thread")
def test_a_refining_agent_validated_on_its_best_renders_keeps_the_model_that_proposes_the_best(
    tmp_path: Path, env_kwargs, monkeypatch
) -> None:
    import agents.train

    judged: list[tuple[object, dict[str, float]]] = []

    def recorded(policy, env, episodes, seed):
        result = validation_score(policy, env, episodes, seed)
        judged.append((policy, result))
        return result

    monkeypatch.setattr(agents.train, "validation_score", recorded)
    run = _train(
        "ppo", tmp_path / "refine", env_kwargs, extra=("--best-of-episode",), env_extra=("action_mode='delta'",),
        start=LoudnessBalancePolicy,
    )  # fmt: skip
    assert len(judged) == 3 and all(isinstance(policy, BestOfEpisode) for policy, _ in judged)
    history = json.loads((run / "validation.json").read_text())
    assert [h["return"] for h in history] == [r["return"] for _, r in judged]
    assert history[0]["return"] == 0.0  # the untrained policy holds still: its best render is the start
    assert min(h["return"] for h in history) >= 0.0  # never worse than the start by the score
    with pytest.raises(SystemExit):
        parse_args("ppo", ["--best-of-episode", "--eval-freq", "0"])  # nothing to choose among


def test_td3s_actor_climbs_its_first_critic_less_an_action_penalty_and_the_model_reloads_with_it(
    tmp_path: Path,
) -> None:
    from stable_baselines3 import TD3

    from agents.td3_policy import ACTION_PENALTY, PenalisedCritic, PenalisedTD3Policy

    model = build_model("td3", parse_args("td3", ["--env", "Pendulum-v1"]), make_vec_env("Pendulum-v1", {}, 1, 0))
    model.save(tmp_path / "td3.zip")
    loaded = TD3.load(tmp_path / "td3.zip", device="cpu")
    observations, actions = torch.randn(6, 3), torch.linspace(-1.0, 1.0, 6).reshape(6, 1)
    for critic in (model.critic, loaded.critic):
        assert isinstance(critic, PenalisedCritic) and critic.penalty == ACTION_PENALTY == 20.0
        plain = critic(observations, actions)[0]  # what the critics fit: the plain Q-values
        penalty = ACTION_PENALTY * actions.pow(2)  # one action dimension: its square is its mean square
        torch.testing.assert_close(critic.q1_forward(observations, actions), plain - penalty)
    assert type(loaded.policy) is PenalisedTD3Policy
    torch.testing.assert_close(loaded.critic(observations, actions)[0], model.critic(observations, actions)[0])


@pytest.mark.usefixtures("one_thread")
def test_patience_stops_training_after_that_many_validations_without_a_new_best(
    tmp_path: Path, env_kwargs, monkeypatch
) -> None:
    import agents.train

    scores = iter([0.0, 0.5, 0.4, 0.3, 0.9, 0.9])  # the best at step 64, then two worse: stop at 192
    monkeypatch.setattr(agents.train, "validation_score", lambda *_: {"score": next(scores), "return": 0.0})
    extra = ("--patience", "2", "--total-timesteps", "640")
    run = _train("ppo", tmp_path / "patient", env_kwargs, extra=extra)
    history = json.loads((run / "validation.json").read_text())
    assert [(h["timesteps"], h["score"]) for h in history] == [(0, 0.0), (64, 0.5), (128, 0.4), (192, 0.3)]
    assert json.loads((run / "training.json").read_text())["steps"] == 192  # of the 640 asked
    for argv in (["--patience", "2", "--eval-freq", "0"], ["--patience", "-1"]):
        with pytest.raises(SystemExit):
            parse_args("ppo", argv)  # nothing to count, or a negative count


@pytest.mark.parametrize("factory", [lambda: LoudnessBalancePolicy(), LoudnessBalancePolicy().reset])
def test_a_start_is_recorded_only_by_a_factory_importable_by_name(factory) -> None:
    assert start_reference(LoudnessBalancePolicy) == "agents.heuristics:LoudnessBalancePolicy"
    assert isinstance(make_start(start_reference(LoudnessBalancePolicy)), LoudnessBalancePolicy)
    with pytest.raises(ValueError, match="importable by name"):
        start_reference(factory)


@pytest.mark.usefixtures("one_thread")
def test_an_agent_on_remixes_is_validated_on_the_songs_own_mixes(tmp_path: Path, env_kwargs, monkeypatch) -> None:
    import agents.train

    made: list[dict] = []
    original = agents.train.MixEnv
    monkeypatch.setattr(agents.train, "MixEnv", lambda **kwargs: made.append(kwargs) or original(**kwargs))
    run = _train("ppo", tmp_path / "remixed", env_kwargs, env_extra=("remix={'wide': 1.0}",))
    assert json.loads((run / "config.json").read_text())["training_env_kwargs"]["remix"] == {"wide": 1.0}
    assert len(made) == 1 and "remix" not in made[0]  # the validation env: what it will be evaluated on


@pytest.mark.usefixtures("one_thread")
def test_an_agent_observing_reference_matching_acts_on_what_it_observed(tmp_path: Path, env_kwargs) -> None:
    run = _train("td3", tmp_path / "matched", env_kwargs, env_extra=("reference_match=True",))
    agent = load_agent(run)
    env = agent.env("test")
    observation, _ = env.reset(seed=0)
    assert observation["match"].shape == (4 * 80,)  # the run records it, so its env observes it again
    extractor = agent.model.actor.features_extractor
    assert extractor.has_match and extractor.features_dim == 4 * 80 + 4 * 128 + 2 * 128 + 41 + 4
    action = agent.act(observation, env)
    assert action.shape == (41,) and np.all(np.abs(action) <= 1.0)
    shifted = dict(observation, match=observation["match"] + 0.5)
    assert not np.array_equal(agent.act(shifted, env), action)  # and reads it


def test_an_untrained_ppo_of_delta_actions_keeps_the_settings(env_kwargs) -> None:
    kwargs, backbone = env_kwargs
    args = parse_args("ppo", ["--backbone-path", backbone, "--env-kwargs", *kwargs, "action_mode='delta'"])
    env = make_vec_env("MixEnv-v0", env_kwargs_for(args, "train"), 1, 0)
    try:
        model = build_model("ppo", args, env)
        action, _ = model.predict(env.reset(), deterministic=True)
    finally:
        env.close()
    assert np.all(action == 0.0)  # a move of nothing: the start's settings stay
    absolute = parse_args("ppo", ["--backbone-path", backbone, "--env-kwargs", *kwargs])
    env = make_vec_env("MixEnv-v0", env_kwargs_for(absolute, "train"), 1, 0)
    try:
        assert build_model("ppo", absolute, env).policy.action_net.weight.abs().sum() > 0  # SB3's own start
    finally:
        env.close()
