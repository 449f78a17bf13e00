"""The Multitrack record: one song's stems, optional reference mix and optional ground-truth settings."""

from __future__ import annotations

import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from mixenv.params import MixSettings


class MultitrackError(ValueError):
    """A song whose audio cannot form a valid multitrack (shapes, lengths, non-finite samples)."""


@dataclass(frozen=True)
class Multitrack:
    """One song, immutable: arrays are read-only and the stem mapping cannot be changed.

    Attributes:
        name: Song identifier, unique within its source.
        sample_rate: Sample rate of every array, in Hz.
        stems: Role -> ``(channels, samples)`` float32, 1 or 2 channels, all the same length. A role absent from
            the mapping is absent from the song (its presence mask is False).
        reference: Optional reference mix, ``(channels, samples)`` of the same length.
        settings: Optional ground-truth physical settings that produce ``reference`` from ``stems``.
        source: Where the song came from (``"synthetic"``, ``"musdb18hq"``, ``"medleydb"``, ``"folder"``, ...).
    """

    name: str
    sample_rate: int
    stems: Mapping[str, np.ndarray]
    reference: np.ndarray | None = None
    settings: MixSettings | None = None
    source: str = "memory"
    num_samples: int = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.sample_rate, int | np.integer) or self.sample_rate <= 0:
            raise MultitrackError(
                f"song {self.name!r}: sample_rate must be a positive integer, got {self.sample_rate!r}"
            )
        if not self.stems:
            raise MultitrackError(f"song {self.name!r} has no stems")
        stems = {role: _frozen_audio(audio, f"song {self.name!r}, stem {role!r}") for role, audio in self.stems.items()}
        lengths = {role: a.shape[1] for role, a in stems.items()}
        if len(set(lengths.values())) != 1:
            raise MultitrackError(
                f"song {self.name!r}: stems have different lengths {lengths} (samples); align them with a "
                "LoadPolicy(on_length_mismatch='pad' or 'trim') before building the multitrack"
            )
        num_samples = next(iter(lengths.values()))
        reference = self.reference
        if reference is not None:
            reference = _frozen_audio(reference, f"song {self.name!r}, reference")
            if reference.shape[1] != num_samples:
                raise MultitrackError(
                    f"song {self.name!r}: reference has {reference.shape[1]} samples but the stems have {num_samples}"
                )
        object.__setattr__(self, "sample_rate", int(self.sample_rate))
        object.__setattr__(self, "stems", types.MappingProxyType(stems))
        object.__setattr__(self, "reference", reference)
        object.__setattr__(self, "num_samples", num_samples)

    def __reduce__(self) -> tuple:
        """Pickle through the constructor (the read-only stem mapping itself cannot be pickled)."""
        return (Multitrack, (self.name, self.sample_rate, dict(self.stems), self.reference, self.settings, self.source))

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles present in this song, in insertion order."""
        return tuple(self.stems)

    @property
    def duration_seconds(self) -> float:
        """Length in seconds."""
        return self.num_samples / self.sample_rate

    def blocks(self, size: int, *, start: int = 0) -> Iterator[Multitrack]:
        """The song from ``start`` in consecutive parts of ``size`` samples (the last one shorter), as views."""
        for begin in range(start, self.num_samples, size):
            yield self.segment(begin, min(size, self.num_samples - begin))

    def segment(self, start: int, num_samples: int) -> Multitrack:
        """The samples ``[start, start + num_samples)`` of every stem and the reference, as views (no copy).

        Raises:
            MultitrackError: If the segment does not lie inside the song.
        """
        if start < 0 or num_samples <= 0 or start + num_samples > self.num_samples:
            raise MultitrackError(
                f"song {self.name!r}: segment [{start}, {start + num_samples}) is outside its {self.num_samples} "
                f"samples ({self.duration_seconds:.2f} s); use a shorter clip or a longer song"
            )
        end = start + num_samples
        return Multitrack(
            name=self.name,
            sample_rate=self.sample_rate,
            stems={role: a[:, start:end] for role, a in self.stems.items()},
            reference=None if self.reference is None else self.reference[:, start:end],
            settings=self.settings,
            source=self.source,
        )


def _frozen_audio(audio: np.ndarray, what: str) -> np.ndarray:
    """A read-only float32 ``(channels, samples)`` array for ``audio``, validated.

    Writeable input is copied, so that nobody holding the original can change the record afterwards; read-only
    input (such as another record's arrays or their slices) is shared without a copy.
    """
    a = np.asarray(audio)
    if a.ndim != 2 or a.shape[0] not in (1, 2) or a.shape[1] == 0:
        raise MultitrackError(f"{what}: expected audio shaped (1 or 2 channels, samples > 0), got shape {a.shape}")
    a = np.array(a, dtype=np.float32) if a.flags.writeable or a.dtype != np.float32 else a
    if not np.isfinite(a).all():
        raise MultitrackError(f"{what}: contains NaN or infinite samples; re-export the audio")
    a.setflags(write=False)
    return a
