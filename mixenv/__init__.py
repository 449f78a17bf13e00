"""mixenv: a Gymnasium environment, rewards, agents and baselines for AI music mixing and mastering."""

__version__ = "0.1.0"
