"""Imitation before reinforcement: an agent's policy first regressed onto the settings that made the references.

MixEnv's generated songs carry the settings that made their reference mixes (the ground truth). With absolute
actions the best action from any state is those settings; with moves it is the step toward them. So before
reinforcement learning starts, the policy's deterministic action (PPO's Gaussian mean, SAC's and TD3's actor) is
fitted to them on demonstrations from the training split, with early stopping on demonstrations from the
validation split (``--imitate EPISODES``). The agent then starts where a supervised model on the same
observations would be, and reinforcement learning refines that policy on the env's reward instead of finding a
mix from nothing: transfer from supervised learning to RL, as in AlphaGo's policy network or DDPGfD.

Each demonstration episode gives two examples: the observation at reset (the neutral mix, or the start policy's)
and one after a step to the ground truth plus noise, so the policy also learns what to do from a mix near the goal,
where its later steps will be.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from tqdm.auto import tqdm

from mixenv.env import MixEnv

NEAR_GOAL_NOISE = 0.3
"""Std of the noise (normalised units) around the ground truth for each episode's second example."""
BATCH_SIZE = 64
LEARNING_RATE = 1e-3
MAX_EPOCHS = 200
PATIENCE = 10
"""Epochs without a better validation loss before fitting stops (the best epoch's weights are kept)."""


@dataclass(frozen=True)
class Demonstrations:
    """Observations and the actions that imitate the ground truth from them.

    Attributes:
        observations: Each observation key stacked ``(n, ...)`` (a flat space: one array under ``""``).
        actions: The target actions ``(n, action_dim)`` in the action box.
    """

    observations: dict[str, np.ndarray]
    actions: np.ndarray

    def __len__(self) -> int:
        return int(self.actions.shape[0])


def demonstrations(
    env: MixEnv, episodes: int, seed: int, flatten: bool = False, progress: bool = True
) -> Demonstrations:
    """``2 * episodes`` examples from ``env``'s split: the reset observation and one near the ground truth.

    Args:
        env: The env the agent acts in (its action mode and start policy), on songs with ground-truth settings.
        episodes: Episodes to draw; episode ``i`` is reset with ``seed + i``.
        seed: See ``episodes``.
        flatten: Flatten the observations (for the policies of ``agents.algorithms.FLAT_OBSERVATIONS``).
        progress: Show a progress bar.

    Raises:
        ValueError: If a song has no ground-truth settings (a folder of stems and a mix): there is nothing to imitate.
    """
    rng = np.random.default_rng(seed)
    observations: list[dict[str, np.ndarray]] = []
    actions: list[np.ndarray] = []
    for episode in tqdm(range(episodes), desc="demonstrations", unit="episode", disable=not progress):
        obs, _ = env.reset(seed=seed + episode)
        truth = env.clip.settings
        if truth is None:
            raise ValueError(
                f"song {env.clip.name!r} has no ground-truth settings to imitate; train without --imitate on "
                "collections without them (the generated corpus has them)"
            )
        goal = np.clip(truth.normalized(), -1.0, 1.0).astype(np.float32)
        near = np.clip(goal + NEAR_GOAL_NOISE * rng.standard_normal(goal.shape), -1.0, 1.0).astype(np.float32)
        for observation in (obs, env.step(_action_to(env, obs, near))[0]):
            observations.append(observation)
            actions.append(_action_to(env, observation, goal))
    if flatten:
        assert isinstance(env.observation_space, spaces.Dict)
        stacked = {"": np.stack([spaces.flatten(env.observation_space, o) for o in observations])}
    else:
        stacked = {key: np.stack([o[key] for o in observations]) for key in observations[0]}
    return Demonstrations(stacked, np.stack(actions))


def _action_to(env: MixEnv, observation: dict[str, np.ndarray], goal: np.ndarray) -> np.ndarray:
    """The action that takes the mix of ``observation`` to the normalised settings ``goal`` (or as far as one move
    goes)."""
    if env.action_mode == "delta":
        return np.clip((goal - observation["settings"]) / env.delta_scale, -1.0, 1.0).astype(np.float32)
    return goal


def imitate(
    model: BaseAlgorithm, train: Demonstrations, val: Demonstrations, seed: int, progress: bool = True
) -> list[dict[str, float]]:
    """Fit ``model``'s deterministic action to ``train``'s actions (mean squared error), keeping the epoch with the
    lowest error on ``val``; returns each epoch's train and validation loss.

    Only the actor's weights are trained (PPO's value head and the critics are left to reinforcement learning);
    a target actor (TD3's) is set to the result.
    """
    policy = model.policy
    actor = getattr(policy, "actor", policy)
    optimiser = torch.optim.Adam(actor.parameters(), lr=LEARNING_RATE)
    generator = torch.Generator().manual_seed(seed)
    history: list[dict[str, float]] = []
    best, best_state, waited = float("inf"), None, 0
    policy.set_training_mode(False)  # the loss needs no dropout or batch-norm statistics of its own batches
    for epoch in tqdm(range(MAX_EPOCHS), desc="imitating", unit="epoch", disable=not progress):
        order = torch.randperm(len(train), generator=generator)
        losses = []
        for batch in order.split(BATCH_SIZE):
            loss = _loss(policy, train, batch.numpy())
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        with torch.no_grad():
            val_loss = float(_loss(policy, val, np.arange(len(val))))
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_loss": val_loss})
        if val_loss < best:
            best, best_state, waited = val_loss, {k: v.clone() for k, v in actor.state_dict().items()}, 0
        else:
            waited += 1
            if waited >= PATIENCE:
                break
    assert best_state is not None
    actor.load_state_dict(best_state)
    if hasattr(policy, "actor_target"):
        policy.actor_target.load_state_dict(policy.actor.state_dict())
    return history


def _loss(policy: torch.nn.Module, demos: Demonstrations, rows: np.ndarray) -> torch.Tensor:
    """Mean squared error of the policy's deterministic action on ``rows`` of ``demos``."""
    observations = {key: value[rows] for key, value in demos.observations.items()}
    obs, _ = policy.obs_to_tensor(observations.get("", observations))
    # _predict is SB3's deterministic action before clipping, differentiable for every policy family here:
    # PPO's Gaussian mean, SAC's and TQC's squashed mean, TD3's and CrossQ's actor output.
    action = policy._predict(obs, deterministic=True)
    return torch.nn.functional.mse_loss(action, torch.as_tensor(demos.actions[rows], device=action.device))
