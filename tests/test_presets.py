from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from mixenv.params import ParamSpace
from mixenv.presets import PresetError, load_preset, save_preset


@pytest.fixture
def settings():
    space = ParamSpace()
    return space.to_physical(np.random.default_rng(3).uniform(-1, 1, space.size))


def test_round_trip_is_exact(tmp_path: Path, settings) -> None:
    save_preset(tmp_path / "p.json", settings, target_lufs=-14.0)
    preset = load_preset(tmp_path / "p.json")
    assert preset.settings == settings
    assert preset.target_lufs == -14.0


def test_file_is_readable_json_with_units_in_names(tmp_path: Path, settings) -> None:
    save_preset(tmp_path / "p.json", settings)
    data = json.loads((tmp_path / "p.json").read_text())
    assert data["format"] == "mixenv-preset" and data["version"] == 1
    assert set(data["stems"]["vocals"]) >= {"gain_db", "hpf_hz", "comp_ratio"}
    assert data["target_lufs"] is None


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "preset.json"
    path.write_text(json.dumps(data))
    return path


def test_missing_controls_take_neutral_values(tmp_path: Path) -> None:
    path = _write(tmp_path, {"format": "mixenv-preset", "version": 1, "stems": {"vocals": {"gain_db": 3}}})
    settings = load_preset(path, ParamSpace()).settings
    assert settings["vocals.gain_db"] == 3.0
    assert settings["drums.gain_db"] == 0.0
    assert settings["master_comp_ratio"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"format": "mixenv-preset", "version": 1, "stems": {"vocals": {"reverb_db": 3}}}, "reverb_db.*remove"),
        ({"format": "mixenv-preset", "version": 1, "stems": {"piano": {"gain_db": 3}}}, "unknown role 'piano'"),
        ({"format": "mixenv-preset", "version": 1, "master": {"master_eq_db": 1}}, "master_eq_db"),
        ({"format": "mixenv-preset", "version": 2, "stems": {}}, "version 2.*reads version 1"),
        ({"format": "other", "version": 1}, "not a mixenv preset"),
        ({"format": "mixenv-preset", "version": 1, "stems": {"vocals": {"gain_db": "loud"}}}, "must be a number"),
        ({"format": "mixenv-preset", "version": 1, "target_lufs": 5}, "target_lufs"),
    ],
)
def test_bad_presets_are_refused_naming_the_file(tmp_path: Path, data: dict, message: str) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(PresetError, match=message) as info:
        load_preset(path, ParamSpace())
    assert str(path) in str(info.value)


def test_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text("{not json")
    with pytest.raises(PresetError, match="not valid JSON"):
        load_preset(path)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PresetError, match="does not exist"):
        load_preset(tmp_path / "nope.json")


def test_out_of_range_values_are_clipped_and_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(tmp_path, {"format": "mixenv-preset", "version": 1, "stems": {"bass": {"gain_db": 30}}})
    with caplog.at_level(logging.WARNING):
        settings = load_preset(path, ParamSpace()).settings
    assert settings["bass.gain_db"] == 12.0
    assert "bass.gain_db" in caplog.text
