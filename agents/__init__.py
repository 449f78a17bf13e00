"""RL agents (PPO, SAC, TD3) and classic heuristics for MixEnv-v0, all sharing one evaluation."""
