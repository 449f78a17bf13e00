"""Preset JSON: mix settings (and an optional loudness target) that a person can read, edit and share.

Format, version 1::

    {"format": "mixenv-preset", "version": 1,
     "stems": {"vocals": {"gain_db": 1.5, "pan": 0.0, ...}, ...},
     "master": {"master_low_shelf_db": 0.0, ...},
     "target_lufs": null}

A control missing from a preset takes its neutral value, so presets written before a control was added still
load. Unknown roles or controls, and other versions, are refused: silently ignoring them would render a
different mix from the one the preset describes.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mixenv.data.atomic import write_json
from mixenv.params import ROLES, MixSettings, ParamSpace

log = logging.getLogger(__name__)

PRESET_FORMAT = "mixenv-preset"
PRESET_VERSION = 1


class PresetError(ValueError):
    """A preset file that cannot be read as mix settings."""


@dataclass(frozen=True)
class Preset:
    """Settings plus the render options that belong to a mix: the loudness target (``None``: no normalisation)."""

    settings: MixSettings
    target_lufs: float | None = None


def save_preset(path: str | os.PathLike[str], settings: MixSettings, target_lufs: float | None = None) -> None:
    """Write settings as preset JSON, atomically."""
    write_json(
        path, {"format": PRESET_FORMAT, "version": PRESET_VERSION, **settings.to_dict(), "target_lufs": target_lufs}
    )


def load_preset(path: str | os.PathLike[str], space: ParamSpace | None = None) -> Preset:
    """Read a preset JSON file.

    Args:
        path: The preset file.
        space: The layout to read into; by default one with exactly the preset's roles.

    Raises:
        PresetError: If the file is missing, not JSON, of another format or version, or names an unknown role or
            control. The message names the file and what to change.
    """
    path = Path(path)
    if not path.is_file():
        raise PresetError(f"preset {path} does not exist; pass the path of a preset JSON file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PresetError(
            f"preset {path} is not valid JSON ({err}); fix the file or write it with save_preset"
        ) from err
    return preset_from_dict(data, space, origin=str(path))


def preset_from_dict(data: Any, space: ParamSpace | None = None, origin: str = "preset") -> Preset:
    """Validate a parsed preset (see :func:`load_preset`); ``origin`` names it in error messages."""
    if not isinstance(data, dict) or data.get("format") != PRESET_FORMAT:
        raise PresetError(f'{origin} is not a mixenv preset: expected "format": "{PRESET_FORMAT}"')
    if data.get("version") != PRESET_VERSION:
        raise PresetError(
            f"{origin} has version {data.get('version')!r}, but this mixenv reads version {PRESET_VERSION}; "
            "re-save it with this version of mixenv or upgrade mixenv"
        )
    stems, master = data.get("stems", {}), data.get("master", {})
    if (
        not isinstance(stems, dict)
        or not all(isinstance(v, dict) for v in stems.values())
        or not isinstance(master, dict)
    ):
        raise PresetError(f"{origin}: 'stems' must map roles to {{control: value}} and 'master' map controls to values")
    space = space or ParamSpace(tuple(stems) or ROLES)
    try:
        raw = space.from_dict(stems, master)
    except KeyError as err:
        raise PresetError(f"{origin}: {err.args[0]}; remove or rename it") from None
    except (TypeError, ValueError) as err:
        raise PresetError(f"{origin}: every control value must be a number ({err})") from None
    _warn_if_clipped(origin, stems, master, raw)
    target = data.get("target_lufs")
    if target is not None and not (isinstance(target, int | float) and math.isfinite(target) and -70 < target < 0):
        raise PresetError(f"{origin}: target_lufs must be null or a loudness in (-70, 0) LUFS, got {target!r}")
    return Preset(raw, None if target is None else float(target))


def _warn_if_clipped(origin: str, stems: dict, master: dict, settings: MixSettings) -> None:
    given = {f"{r}.{k}": v for r, controls in stems.items() for k, v in controls.items()} | dict(master)
    changed = [k for k, v in given.items() if not np.isclose(float(v), settings[k], rtol=0, atol=1e-9)]
    if changed:
        log.warning("%s: out-of-range or non-finite values clipped for %s", origin, ", ".join(changed))
