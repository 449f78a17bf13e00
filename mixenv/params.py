"""ParamSpace: the one table of mix controls and the map between normalised and physical values.

Everything that talks about mix settings derives from this table: the env's action space, the supervised
targets, the corpus ground truth, preset JSON and plots. Agents and networks see a float32 vector in [-1, 1];
the renderer and people see physical values whose names carry their units (``gain_db``, ``hpf_hz``).

The flat vector is role-major: the nine strip controls of ``roles[0]``, then of ``roles[1]``, ..., then the
master-bus controls. Flat names are ``"<role>.<control>"`` for strips and the bare control name for the master.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

ROLES: tuple[str, ...] = ("vocals", "drums", "bass", "other")
"""Stem roles, as in MUSDB18. Sources with other instruments map them onto these."""


@dataclass(frozen=True)
class Control:
    """One mix control: its physical range, its neutral (do-nothing) value and how [-1, 1] maps onto it.

    Args:
        name: Stable identifier with its unit as suffix (``_db``, ``_hz``); unitless controls have none.
        low: Physical value at normalised -1.
        high: Physical value at normalised +1.
        neutral: The value that leaves the signal unchanged (or as close as the processor allows).
        scale: ``"linear"`` or ``"log"``; frequencies and ratios are log so equal steps sound equal.
        doc: One line for tables, plots and ``--help``.
    """

    name: str
    low: float
    high: float
    neutral: float
    scale: Literal["linear", "log"] = "linear"
    doc: str = ""

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"control {self.name!r}: low={self.low} must be below high={self.high}")
        if not self.low <= self.neutral <= self.high:
            raise ValueError(f"control {self.name!r}: neutral={self.neutral} outside [{self.low}, {self.high}]")
        if self.scale == "log" and self.low <= 0:
            raise ValueError(f"control {self.name!r}: a log scale needs low > 0, got {self.low}")

    @property
    def unit(self) -> str:
        """Unit read off the name suffix: ``dB``, ``Hz`` or ``""``."""
        for suffix, unit in (("_db", "dB"), ("_hz", "Hz"), ("_lufs", "LUFS")):
            if self.name.endswith(suffix):
                return unit
        return ""


STEM_CONTROLS: tuple[Control, ...] = (
    Control("gain_db", -24.0, 12.0, 0.0, doc="fader level, after the compressor"),
    Control("pan", -1.0, 1.0, 0.0, doc="constant-power pan, -1 hard left, +1 hard right, unity at centre"),
    Control("hpf_hz", 20.0, 400.0, 20.0, "log", doc="high-pass corner, 12 dB/octave"),
    Control("low_shelf_db", -12.0, 12.0, 0.0, doc="low-shelf gain at 150 Hz"),
    Control("mid_freq_hz", 200.0, 6000.0, math.sqrt(200.0 * 6000.0), "log", doc="peaking-EQ centre (Q 1)"),
    Control("mid_db", -12.0, 12.0, 0.0, doc="peaking-EQ gain"),
    Control("high_shelf_db", -12.0, 12.0, 0.0, doc="high-shelf gain at 5 kHz"),
    Control("comp_threshold_db", -40.0, 0.0, 0.0, doc="compressor threshold (dBFS)"),
    Control("comp_ratio", 1.0, 10.0, 1.0, "log", doc="compressor ratio, 1 = off"),
)

MASTER_CONTROLS: tuple[Control, ...] = (
    Control("master_low_shelf_db", -12.0, 12.0, 0.0, doc="bus low-shelf gain at 100 Hz"),
    Control("master_high_shelf_db", -12.0, 12.0, 0.0, doc="bus high-shelf gain at 6 kHz"),
    Control("master_comp_threshold_db", -40.0, 0.0, 0.0, doc="bus compressor threshold (dBFS)"),
    Control("master_comp_ratio", 1.0, 10.0, 1.0, "log", doc="bus compressor ratio, 1 = off"),
    Control(
        "master_limiter_db",
        -12.0,
        0.0,
        0.0,
        doc="limiter threshold: drives the bus by -threshold into the ceiling (no effect with a LUFS target)",
    ),
)


class ParamSpace:
    """The flat layout of strip controls per role plus master controls, and conversions over it.

    Args:
        roles: The stem slots, in order. Defaults to :data:`ROLES`.
    """

    def __init__(self, roles: Sequence[str] = ROLES) -> None:
        roles = tuple(roles)
        if not roles:
            raise ValueError("ParamSpace needs at least one role")
        if len(set(roles)) != len(roles):
            raise ValueError(f"roles must be unique, got {roles}")
        self.roles: tuple[str, ...] = roles
        self.controls: tuple[Control, ...] = tuple(c for _ in roles for c in STEM_CONTROLS) + MASTER_CONTROLS
        self.names: tuple[str, ...] = tuple(f"{r}.{c.name}" for r in roles for c in STEM_CONTROLS) + tuple(
            c.name for c in MASTER_CONTROLS
        )
        self._index = {name: i for i, name in enumerate(self.names)}
        self._low_physical = np.array([c.low for c in self.controls])
        self._high_physical = np.array([c.high for c in self.controls])
        self._log = np.array([c.scale == "log" for c in self.controls])
        self._low = self._to_scale(self._low_physical)
        self._span = self._to_scale(self._high_physical) - self._low
        self._neutral_physical = np.array([c.neutral for c in self.controls])
        self._neutral_normalized = self._normalize(self._neutral_physical).astype(np.float32)

    @property
    def size(self) -> int:
        """Length of the flat vector: ``len(roles) * len(STEM_CONTROLS) + len(MASTER_CONTROLS)``."""
        return len(self.names)

    def index(self, name: str) -> int:
        """Position of a flat name (``"vocals.gain_db"`` or ``"master_comp_ratio"``) in the vector."""
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"unknown control {name!r}; known controls are {', '.join(self.names)}") from None

    def controls_of(self, roles: Iterable[str]) -> np.ndarray:
        """Boolean mask over :attr:`names`: the controls of ``roles`` and every master control.

        A song lacking a role leaves that role's controls without effect; errors and fits skip them.
        """
        keep = set(roles)
        return np.array([r in keep for r in self.roles for _ in STEM_CONTROLS] + [True] * len(MASTER_CONTROLS))

    def controls_named(self, names: Iterable[str]) -> np.ndarray:
        """Boolean mask over :attr:`names`: every role's strip controls named ``names`` (``"comp_ratio"``) and the
        master controls among them.

        Raises:
            KeyError: For a name no control table has.
        """
        wanted = set(names)
        unknown = wanted - {c.name for c in STEM_CONTROLS + MASTER_CONTROLS}
        if unknown:
            raise KeyError(f"unknown control names {sorted(unknown)}; see STEM_CONTROLS and MASTER_CONTROLS")
        return np.array([c.name in wanted for c in self.controls])

    def neutral(self) -> MixSettings:
        """Settings that leave every stem as it is (unity gain, centre, flat EQ, no compression)."""
        return MixSettings(self, self._neutral_physical.copy())

    def neutral_vector(self) -> np.ndarray:
        """The neutral settings in normalised form, float32."""
        return self._neutral_normalized.copy()

    def sanitize(self, vector: np.ndarray) -> tuple[np.ndarray, int]:
        """Make any vector a valid normalised action.

        Non-finite entries (NaN, +-inf) become the control's neutral value; finite entries outside [-1, 1] are
        clipped. Returns the float32 result and how many entries were changed.

        Raises:
            ValueError: If the vector does not have shape ``(size,)``.
        """
        v = np.asarray(vector, dtype=np.float64)
        if v.shape != (self.size,):
            raise ValueError(
                f"expected a settings vector of shape ({self.size},) for roles {self.roles}, got shape {v.shape}"
            )
        finite = np.isfinite(v)
        out = np.where(finite, np.clip(v, -1.0, 1.0), self._neutral_normalized)
        changed = int(np.count_nonzero(~finite | (out != v)))
        return out.astype(np.float32), changed

    def to_physical(self, vector: np.ndarray) -> MixSettings:
        """Map any normalised vector to physical settings, sanitising it first (see :meth:`sanitize`)."""
        return self.from_clean(self.sanitize(vector)[0])

    def from_clean(self, clean: np.ndarray) -> MixSettings:
        """Physical settings of a vector :meth:`sanitize` returned (so a checked action is not checked again)."""
        return MixSettings(self, self._denormalize(np.asarray(clean, dtype=np.float64)))

    def from_physical(self, values: np.ndarray) -> MixSettings:
        """Wrap a physical vector as settings, clipping to each control's range (non-finite -> neutral)."""
        v = np.asarray(values, dtype=np.float64)
        if v.shape != (self.size,):
            raise ValueError(f"expected a physical vector of shape ({self.size},), got shape {v.shape}")
        finite = np.isfinite(v)
        clipped = np.clip(np.where(finite, v, 0.0), self._low_physical, self._high_physical)
        return MixSettings(self, np.where(finite, clipped, self._neutral_physical))

    def from_dict(self, stems: Mapping[str, Mapping[str, float]], master: Mapping[str, float]) -> MixSettings:
        """Build settings from nested dicts; missing controls take their neutral value.

        Raises:
            KeyError: For a role this space has no slot for, or a control name no table has.
        """
        values = self._neutral_physical.copy()
        for role, controls in stems.items():
            if role not in self.roles:
                raise KeyError(f"unknown role {role!r}; this space has slots for {', '.join(self.roles)}")
            for name, value in controls.items():
                values[self.index(f"{role}.{name}")] = float(value)
        for name, value in master.items():
            values[self.index(name)] = float(value)
        return self.from_physical(values)

    def _to_scale(self, physical: np.ndarray) -> np.ndarray:
        """Physical values on each control's own axis: log for log controls, as-is for linear ones."""
        return np.where(self._log, np.log(np.where(self._log, np.maximum(physical, 1e-12), 1.0)), physical)

    def _normalize(self, physical: np.ndarray) -> np.ndarray:
        return 2.0 * (self._to_scale(physical) - self._low) / self._span - 1.0

    def _denormalize(self, normalized: np.ndarray) -> np.ndarray:
        p = self._low + (normalized + 1.0) * 0.5 * self._span
        return np.where(self._log, np.exp(p), p)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParamSpace) and other.roles == self.roles

    def __hash__(self) -> int:
        return hash(self.roles)

    def __repr__(self) -> str:
        return f"ParamSpace(roles={self.roles}, size={self.size})"


@dataclass(frozen=True, eq=False)
class MixSettings:
    """Physical mix settings over a :class:`ParamSpace` (immutable).

    Build them with :meth:`ParamSpace.neutral`, :meth:`ParamSpace.to_physical`, :meth:`ParamSpace.from_dict` or
    :func:`mixenv.presets.load_preset`, not by hand.
    """

    space: ParamSpace
    values: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        values = np.array(self.values, dtype=np.float64)
        values.setflags(write=False)
        object.__setattr__(self, "values", values)

    def __getitem__(self, name: str) -> float:
        return float(self.values[self.space.index(name)])

    def stem(self, role: str) -> dict[str, float]:
        """The strip controls of one role, by control name."""
        if role not in self.space.roles:
            raise KeyError(f"unknown role {role!r}; these settings have {', '.join(self.space.roles)}")
        return {c.name: self[f"{role}.{c.name}"] for c in STEM_CONTROLS}

    @property
    def master(self) -> dict[str, float]:
        """The master-bus controls, by control name."""
        return {c.name: self[c.name] for c in MASTER_CONTROLS}

    def normalized(self) -> np.ndarray:
        """These settings as a float32 vector in [-1, 1]."""
        return self.space._normalize(self.values).astype(np.float32)

    def replace(self, changes: Mapping[str, float]) -> MixSettings:
        """A copy with some controls changed, by flat name (``{"vocals.gain_db": 3.0}``); values are clipped."""
        values = self.values.copy()
        for name, value in changes.items():
            values[self.space.index(name)] = float(value)
        return self.space.from_physical(values)

    def to_dict(self) -> dict[str, dict[str, float]]:
        """``{"stems": {role: {control: value}}, "master": {control: value}}`` with plain floats."""
        return {"stems": {r: self.stem(r) for r in self.space.roles}, "master": self.master}

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, MixSettings) and other.space == self.space and np.array_equal(other.values, self.values)
        )

    def __hash__(self) -> int:
        return hash((self.space, self.values.tobytes()))
