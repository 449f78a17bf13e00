"""mixenv: a Gymnasium environment, rewards, agents and baselines for AI music mixing and mastering.

Importing the package registers ``MixEnv-v0`` with Gymnasium (1.x has no plugin entry points), so
``gymnasium.make("MixEnv-v0")`` works after ``import mixenv``, and ``gymnasium.make("mixenv:MixEnv-v0")`` without.
"""

from gymnasium.envs.registration import register

__version__ = "0.1.0"

register(id="MixEnv-v0", entry_point="mixenv.env:MixEnv")
