"""The agents' hyper-parameters as rl-baselines3-zoo configuration files, written from :mod:`agents.algorithms`.

``python -m agents.zoo`` writes ``agents/hyperparams/<algo>.yml`` (shipped, and tested to match what the entry
points use), so the zoo trains what ``python -m agents.<algo>`` trains::

    python -m rl_zoo3.train --algo ppo --env MixEnv-v0 --gym-packages mixenv -conf agents/hyperparams/ppo.yml

The files are generated, not written by hand, so they cannot drift from the entry points' defaults.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from gymnasium import spaces
from stable_baselines3.common.noise import NormalActionNoise

from agents.algorithms import ALGORITHMS, FLAT_OBSERVATIONS, NORMALIZED_REWARDS, algorithm_kwargs, policy_for
from agents.args import MIXENV_ID, TrainArgs
from agents.envs import TRAINING_CLIP_SECONDS
from mixenv.data.atomic import atomic_path
from mixenv.params import ParamSpace

HYPERPARAMS = Path(__file__).parent / "hyperparams"
"""Where the shipped configuration files live."""
_CLI_ONLY = frozenset({"seed", "device", "verbose"})
"""Arguments the zoo takes on its command line, not from the file."""


def _python(value: Any) -> str:
    """``value`` as the Python expression the zoo evaluates (classes by import path, dicts as ``dict(...)``)."""
    if isinstance(value, type):
        return f"__import__('{value.__module__}', fromlist=['{value.__name__}']).{value.__name__}"
    if isinstance(value, dict):
        return "dict(" + ", ".join(f"{k}={_python(v)}" for k, v in value.items()) + ")"
    return repr(value)


def zoo_hyperparams(algo: str) -> dict[str, Any]:
    """The zoo's entry for ``algo`` on MixEnv-v0: the entry point's defaults (frozen backbone, embedding
    observations on training clips, one env)."""
    args = TrainArgs()
    action_space = spaces.Box(-1.0, 1.0, (ParamSpace().size,), np.float32)
    flat = algo in FLAT_OBSERVATIONS
    # What the entry point's policy sees: MixEnv's embedding Dict, or that Dict flattened to one vector.
    observation_space: spaces.Space = (
        spaces.Box(-1.0, 1.0, (1,)) if flat else spaces.Dict({"mix": spaces.Box(-1.0, 1.0, (1,))})
    )
    policy, policy_kwargs = policy_for(algo, args, observation_space)
    entry: dict[str, Any] = {
        "n_timesteps": args.total_timesteps,
        "n_envs": args.n_envs,
        "policy": policy if isinstance(policy, str) else f"{policy.__module__}.{policy.__name__}",  # zoo imports it
        "env_kwargs": {"observation": "embedding", "clip_seconds": TRAINING_CLIP_SECONDS},
    }
    if flat:
        entry["env_wrapper"] = "gymnasium.wrappers.FlattenObservation"
    for key, value in algorithm_kwargs(algo, args, action_space).items():
        if key in _CLI_ONLY:
            continue
        if isinstance(value, NormalActionNoise):
            entry["noise_type"], entry["noise_std"] = "normal", float(np.asarray(value._sigma).flat[0])
        else:
            entry[key] = value
    if algo in NORMALIZED_REWARDS:  # the zoo's VecNormalize takes its gamma from the entry's
        entry["normalize"] = "dict(norm_obs=False, norm_reward=True)"
    entry["policy_kwargs"] = _python(policy_kwargs)
    return {MIXENV_ID: entry}


def write_all(folder: Path = HYPERPARAMS) -> list[Path]:
    """Write one file per algorithm into ``folder`` (atomically) and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for algo in ALGORITHMS:
        path = folder / f"{algo}.yml"
        header = f"# Written by `python -m agents.zoo` from agents/algorithms.py: {algo} on {MIXENV_ID}.\n"
        with atomic_path(path) as tmp:
            tmp.write_text(header + yaml.safe_dump(zoo_hyperparams(algo), sort_keys=False), encoding="utf-8")
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HYPERPARAMS, help="folder of the .yml files")
    for path in write_all(parser.parse_args().out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
