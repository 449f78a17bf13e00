"""Train TQC (sb3-contrib) on MixEnv-v0 (or any Gymnasium env): `python -m agents.tqc --env MixEnv-v0 --help`."""

from __future__ import annotations

import sys

from agents.train import main

if __name__ == "__main__":
    sys.exit(main("tqc"))
