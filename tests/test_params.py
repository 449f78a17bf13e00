from __future__ import annotations

import math

import numpy as np
import pytest

from mixenv.params import MASTER_CONTROLS, ROLES, STEM_CONTROLS, Control, ParamSpace


@pytest.fixture
def space() -> ParamSpace:
    return ParamSpace()


def test_layout_is_role_major_then_master(space: ParamSpace) -> None:
    assert space.size == len(ROLES) * len(STEM_CONTROLS) + len(MASTER_CONTROLS) == 41
    assert space.names[0] == "vocals.gain_db"
    assert space.names[len(STEM_CONTROLS)] == "drums.gain_db"
    assert space.names[-1] == "master_limiter_db"
    assert space.index("bass.pan") == 2 * len(STEM_CONTROLS) + 1


def test_normalized_round_trip_to_1e6(space: ParamSpace) -> None:
    vectors = np.random.default_rng(0).uniform(-1, 1, (200, space.size)).astype(np.float32)
    for v in vectors:
        np.testing.assert_allclose(space.to_physical(v).normalized(), v, atol=1e-6)


def test_physical_round_trip(space: ParamSpace) -> None:
    settings = space.to_physical(np.random.default_rng(1).uniform(-1, 1, space.size))
    again = space.from_physical(settings.values)
    np.testing.assert_allclose(again.values, settings.values, rtol=1e-12)


def test_endpoints_map_to_ranges(space: ParamSpace) -> None:
    low = space.to_physical(-np.ones(space.size))
    high = space.to_physical(np.ones(space.size))
    assert low["vocals.gain_db"] == pytest.approx(-24.0)
    assert high["vocals.gain_db"] == pytest.approx(12.0)
    assert low["bass.hpf_hz"] == pytest.approx(20.0)
    assert high["bass.hpf_hz"] == pytest.approx(400.0)


def test_log_controls_put_the_geometric_mean_at_zero(space: ParamSpace) -> None:
    mid = space.to_physical(np.zeros(space.size))
    assert mid["vocals.hpf_hz"] == pytest.approx(math.sqrt(20 * 400))
    assert mid["drums.comp_ratio"] == pytest.approx(math.sqrt(10))
    assert mid["master_comp_ratio"] == pytest.approx(math.sqrt(10))


def test_neutral_is_unity(space: ParamSpace) -> None:
    neutral = space.neutral()
    for role in ROLES:
        strip = neutral.stem(role)
        assert strip["gain_db"] == 0 and strip["pan"] == 0 and strip["comp_ratio"] == pytest.approx(1.0)
        assert strip["low_shelf_db"] == strip["mid_db"] == strip["high_shelf_db"] == 0
    assert neutral.master["master_limiter_db"] == 0
    np.testing.assert_allclose(space.to_physical(space.neutral_vector()).values, neutral.values, atol=1e-5)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_maps_to_neutral_and_is_counted(space: ParamSpace, bad: float) -> None:
    v = np.zeros(space.size, dtype=np.float32)
    v[0] = bad
    clean, changed = space.sanitize(v)
    assert changed == 1
    assert clean[0] == pytest.approx(space.neutral_vector()[0])
    assert space.to_physical(v)["vocals.gain_db"] == pytest.approx(0.0, abs=1e-5)


def test_out_of_range_is_clipped_and_counted(space: ParamSpace) -> None:
    v = np.zeros(space.size)
    v[:3] = [5.0, -7.0, 1.0]
    clean, changed = space.sanitize(v)
    assert changed == 2
    np.testing.assert_array_equal(clean[:3], [1.0, -1.0, 1.0])
    assert clean.dtype == np.float32


def test_wrong_shape_is_refused_with_the_expected_shape(space: ParamSpace) -> None:
    with pytest.raises(ValueError, match=r"shape \(41,\)"):
        space.sanitize(np.zeros(40))


def test_from_physical_clips_to_the_table(space: ParamSpace) -> None:
    values = space.neutral().values.copy()
    values[space.index("vocals.gain_db")] = 40.0
    values[space.index("vocals.pan")] = np.nan
    settings = space.from_physical(values)
    assert settings["vocals.gain_db"] == 12.0
    assert settings["vocals.pan"] == 0.0


def test_replace_and_dict_views(space: ParamSpace) -> None:
    settings = space.neutral().replace({"drums.pan": -0.5, "master_comp_ratio": 2.0})
    assert settings.stem("drums")["pan"] == -0.5
    assert settings.master["master_comp_ratio"] == 2.0
    assert settings.to_dict()["stems"]["drums"]["pan"] == -0.5
    assert space.neutral() != settings


def test_unknown_names_are_refused_with_the_known_ones(space: ParamSpace) -> None:
    with pytest.raises(KeyError, match=r"known controls are vocals\.gain_db"):
        space.index("vocals.reverb_db")
    with pytest.raises(KeyError, match="unknown role 'piano'"):
        space.from_dict({"piano": {"gain_db": 1.0}}, {})


def test_settings_are_read_only(space: ParamSpace) -> None:
    with pytest.raises(ValueError):
        space.neutral().values[0] = 1.0


def test_control_table_is_validated() -> None:
    with pytest.raises(ValueError, match="neutral"):
        Control("x_db", 0.0, 1.0, 2.0)
    with pytest.raises(ValueError, match="log scale"):
        Control("x_hz", 0.0, 1.0, 0.5, "log")


def test_custom_roles_make_a_smaller_space() -> None:
    space = ParamSpace(("vocals", "bass"))
    assert space.size == 2 * len(STEM_CONTROLS) + len(MASTER_CONTROLS)
    with pytest.raises(ValueError, match="unique"):
        ParamSpace(("bass", "bass"))


def test_controls_of_keeps_the_named_roles_and_the_master_bus() -> None:
    space = ParamSpace()
    mask = space.controls_of(["vocals", "bass"])
    kept = {name for name, keep in zip(space.names, mask, strict=True) if keep}
    assert kept == {n for n in space.names if n.split(".")[0] in ("vocals", "bass") or "." not in n}
    assert mask.dtype == bool and mask.sum() == 2 * 9 + 5
    assert space.controls_of([]).sum() == 5 and space.controls_of(space.roles).all()


def test_controls_named_picks_a_control_in_every_strip_and_on_the_bus() -> None:
    space = ParamSpace(("vocals", "bass"))
    mask = space.controls_named(["comp_ratio", "master_limiter_db"])
    assert [n for n, keep in zip(space.names, mask, strict=True) if keep] == [
        "vocals.comp_ratio",
        "bass.comp_ratio",
        "master_limiter_db",
    ]
    assert not space.controls_named([]).any()
    with pytest.raises(KeyError, match="comp_ration"):
        space.controls_named(["comp_ration"])
