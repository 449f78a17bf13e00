"""Reward terms and evaluation metrics: one implementation serves the env, the agents, the models and benchmarks."""
