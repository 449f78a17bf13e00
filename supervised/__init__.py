"""Supervised baselines: predict the mix settings from the raw stems' log-mels (and the reference when present).

Every model reads what MixEnv observes at the start of an episode (per-stem mono-mid log-mel, presence, the
reference's stereo log-mel) and outputs the normalised :class:`~mixenv.params.ParamSpace` vector, on top of the
shared backbone. ``python -m supervised.train --help`` and ``python -m supervised.evaluate --help`` are the entry
points; :mod:`supervised.policy` puts a trained model into MixEnv beside the agents and heuristics.
"""
