"""Train CrossQ (sb3-contrib) on MixEnv-v0 (or any Gymnasium env): `python -m agents.crossq --env MixEnv-v0 --help`."""

from __future__ import annotations

import sys

from agents.train import main

if __name__ == "__main__":
    sys.exit(main("crossq"))
