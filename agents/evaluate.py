"""Evaluate any mixing policy on a split: per-song and mean metrics, as a table and as JSON.

``python -m agents.evaluate --model RUN --split test`` for a trained agent,
``python -m agents.evaluate --heuristic loudness --split test`` for a baseline.

Every song of the split is one episode from a fixed seed (``seed + index``), so the same policy and seed give
the same numbers (the episodes: :mod:`agents.episodes`). The final mix is measured by
:meth:`mixenv.env.MixEnv.measure` (:func:`rewards.metrics.clip_metrics`): MRSTFT and LUFS error against the
reference clip, FAD and anomaly against the good-mix model, parameter MAE/MSE and each control's error against the
ground truth. ``--best-of-episode`` measures each episode's best-scoring mix instead of its last
(:class:`agents.episodes.BestOfEpisode`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.envs import acting_env_kwargs
from agents.episodes import BestOfEpisode, MixPolicy, evaluate_policy
from agents.heuristics import HEURISTICS
from agents.policies import load_agent
from mixenv.cliargs import parse_key_values
from mixenv.data.atomic import write_json
from mixenv.env import MixEnv
from mixenv.table import format_table
from rewards.metrics import METRICS, MetricSuite, summarize


def rescore(rows: Sequence[dict[str, Any]], env: MixEnv, suite: MetricSuite | None = None) -> list[dict[str, Any]]:
    """The rows of :func:`evaluate_policy` measured again: each song's clip (its episode's seed) rendered under its
    final settings in ``env`` (absolute actions) and scored with ``suite``; the return and score stay as played.

    Raises:
        ValueError: If a row lacks its settings (written before they were kept) or ``env`` takes moves.
    """
    if env.unwrapped.action_mode != "absolute":
        raise ValueError("re-score in an env of absolute actions: the rows hold whole settings")
    out = []
    for row in rows:
        if "settings" not in row or "episode_seed" not in row:
            raise ValueError(f"row of song {row.get('song')!r} holds no final settings; run the method again")
        env.reset(seed=row["episode_seed"], options={"song": row["song"]})
        env.step(np.asarray(row["settings"], dtype=np.float32))
        kept = {k: row[k] for k in ("song", "episode_seed", "return", "score", "settings")}
        out.append(kept | env.unwrapped.measure(suite))
    return out


def format_rows(rows: Sequence[dict[str, Any]], title: str) -> str:
    """Per-song rows and a mean line, metric columns in :data:`~rewards.metrics.METRICS` order."""
    columns = ["return", *[m for m in METRICS if any(m in r for r in rows)]]
    summary = summarize(rows)
    means = ["mean", float(np.mean([r["return"] for r in rows])), *(summary[c]["mean"] for c in columns[1:])]
    body = [[row["song"], *(row.get(c) for c in columns)] for row in rows]
    return format_table(["song", *columns], [*body, means], title=title)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m agents.evaluate``."""
    parser = argparse.ArgumentParser(
        prog="python -m agents.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", type=Path, help="a training run folder (python -m agents.ppo --out RUN)")
    which.add_argument("--heuristic", choices=sorted(HEURISTICS), help="a classic baseline")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"), help="songs to evaluate on")
    parser.add_argument("--episodes", type=int, default=None, help="evaluate only the first N songs")
    parser.add_argument("--seed", type=int, default=0, help="episode i is reset with seed + i")
    parser.add_argument("--env-kwargs", nargs="*", default=[], metavar="KEY=VALUE", help="extra MixEnv arguments")
    parser.add_argument("--budget", type=int, default=200, help="renders per song for --heuristic cmaes")
    parser.add_argument("--json", type=Path, default=None, help="where to write the results (default: beside)")
    parser.add_argument(
        "--best-of-episode",
        action="store_true",
        help="end each episode on the best mix it rendered by the env's score, the start included (no render more)",
    )
    args = parser.parse_args(argv)
    try:
        extra = parse_key_values(args.env_kwargs)
    except ValueError as err:
        parser.error(f"--env-kwargs: {err}")
    if args.model is not None:
        try:
            agent = load_agent(args.model)
        except (FileNotFoundError, ImportError) as err:
            print(f"agents.evaluate: error: {err}", file=sys.stderr)
            return 2
        env = agent.env(args.split, **extra)  # observes what it trained on, starts where its training did
        env_kwargs = acting_env_kwargs(agent.env_kwargs) | extra | {"split": args.split}
        policy: MixPolicy = agent
        out = args.json or args.model / f"evaluation_{args.split}.json"
    else:
        cls = HEURISTICS[args.heuristic]
        policy = cls(budget=args.budget, seed=args.seed) if args.heuristic == "cmaes" else cls()
        env_kwargs = extra | {"split": args.split}
        env = MixEnv(**env_kwargs)
        out = args.json or Path("outputs") / f"evaluation_{args.heuristic}_{args.split}.json"
    if args.best_of_episode:
        policy = BestOfEpisode(policy)
    rows = evaluate_policy(policy, env, episodes=args.episodes, seed=args.seed, progress=True)
    print(format_rows(rows, f"{policy.name} on {args.split} ({len(rows)} songs)"))
    write_json(
        out,
        {
            "policy": policy.name,
            "split": args.split,
            "seed": args.seed,
            "env_kwargs": env_kwargs,
            "songs": rows,
            "summary": summarize(rows),
        },
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
