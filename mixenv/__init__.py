"""mixenv: a Gymnasium environment, rewards, agents and baselines for AI music mixing and mastering.

Importing the package registers ``MixEnv-v0`` with Gymnasium (1.x has no plugin entry points), so
``gymnasium.make("MixEnv-v0")`` works after ``import mixenv``, and ``gymnasium.make("mixenv:MixEnv-v0")`` without.
Gymnasium's ``TimeLimit`` truncates its episodes (``max_episode_steps``, 10 unless ``gymnasium.make`` says
otherwise); the env's own limit is switched off under it.
"""

from gymnasium.envs.registration import register

__version__ = "0.1.0"

DEFAULT_MAX_EPISODE_STEPS = 10
"""Steps of a MixEnv episode unless told otherwise."""

register(
    id="MixEnv-v0",
    entry_point="mixenv.env:MixEnv",
    max_episode_steps=DEFAULT_MAX_EPISODE_STEPS,
    kwargs={"max_episode_steps": None},
)
