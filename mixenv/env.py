"""MixEnv-v0: mix a multitrack by setting every channel strip and the master bus, scored against a reference.

The class docstring is the environment's specification.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mixenv import DEFAULT_MAX_EPISODE_STEPS, artifacts
from mixenv.backbone import AudioEmbedder
from mixenv.clip import Clip, ClipRenderer, clip_window
from mixenv.data import LoadPolicy, Multitrack, SongRef, list_songs
from mixenv.features import FeatureConfig, to_uint8
from mixenv.observe import Observer, SeenReference
from mixenv.params import ROLES, MixSettings, ParamSpace
from mixenv.remix import RemixConfig
from mixenv.remix import remix as remix_song
from mixenv.render import MixRender
from rewards.base import RewardTerm, ScoreContext
from rewards.composite import CompositeReward
from rewards.goodmix import good_mix_terms
from rewards.loudness import LoudnessReward
from rewards.metrics import MetricSuite, clip_metrics
from rewards.spectral import SpectralReward


class InitialPolicy(Protocol):
    """What ``initial_settings`` may be besides a name: a policy (:class:`agents.policies.MixPolicy`'s interface)."""

    def reset(self, env: MixEnv) -> None: ...

    def act(self, observation: dict[str, np.ndarray], env: MixEnv) -> np.ndarray: ...


DEFAULT_WEIGHTS: Mapping[str, float] = {"spectral": 1.0, "loudness": 0.1, "fad": 0.02, "anomaly": 0.05}
REFERENCE_FREE_WEIGHTS: Mapping[str, float] = {"loudness": 0.1, "fad": 0.02, "anomaly": 0.05}
REFERENCE_WEIGHTS: Mapping[str, float] = {"fad": 0.0, "anomaly": 0.0}
"""Reward weights (over :data:`DEFAULT_WEIGHTS`) of a search toward a reference of these stems (``mixenv mix``'s
searches, the benchmark's CMA-ES and refining): the spectral distance and loudness terms only. FAD and anomaly
judge a mix against the corpus's good mixes, and the reference says better what this song's good mix is: chosen
on validation songs (whole-song MRSTFT / neutral's, 8 songs each, refining the default model's settings with
``mixenv mix``): corpus validation split 0.431 against 0.518 with the whole reward (the model alone 0.526), folk
validation set 0.409 against 0.515 (the model alone 0.814)."""


def override_weights(base: Mapping[str, float], weights: Mapping[str, float] | None) -> dict[str, float]:
    """Each term of ``base`` at its weight in ``weights``, or at its own where ``weights`` does not name it.

    Raises:
        ValueError: If ``weights`` names no reward term of :data:`DEFAULT_WEIGHTS`.
    """
    unknown = set(weights or {}) - set(DEFAULT_WEIGHTS)
    if unknown:
        raise ValueError(f"unknown reward terms {sorted(unknown)}; the env has {', '.join(DEFAULT_WEIGHTS)}")
    return {name: float((weights or {}).get(name, weight)) for name, weight in base.items()}


class MixEnv(gym.Env[dict[str, np.ndarray], np.ndarray]):
    """Mix a song: each step sets every control of every stem's channel strip and of the master bus.

    An episode takes one clip of one song from a data source (the embedded synthetic corpus by default) and
    lasts ``max_episode_steps`` refinement steps. Every action is the *full* settings vector (not a change to
    it); the mix is re-rendered from the raw stems and scored. The reward is the step's improvement of that
    score, so an episode's return is the final score minus the score of the neutral mix it starts from.

    ## Action Space

    ``Box(-1, 1, (n_roles * 9 + 5,), float32)``: the normalised :class:`~mixenv.params.ParamSpace` vector,
    role-major (``vocals.gain_db``, ``vocals.pan``, ..., ``drums.gain_db``, ...) and then the five master
    controls; 41 entries for the four default roles. Values outside [-1, 1] are clipped and NaN/inf become the
    neutral value; ``info["clipped_actions"]`` counts them. Controls of a role the song lacks have no effect.

    With ``action_mode="delta"`` the same box is a move instead: each step adds ``delta_scale`` times the action
    to the current normalised settings (the observation's ``settings``), and the sum is clipped to [-1, 1], so an
    episode refines the mix it starts from. NaN/inf entries move nothing; entries outside [-1, 1] are clipped
    first; ``info["clipped_actions"]`` counts both, and settings that hit a range end are not counted.

    ## Observation Space

    A ``Dict``. Log-mels are channel-first uint8 images, ``F = 64`` mel bands by ``T`` frames (174 for a 4 s
    clip): value ``v`` is ``v / 127.5 - 1`` in the normalised scale of :mod:`mixenv.features`, i.e.
    ``80 * (v / 255 - 1)`` dB re full scale, in 0.31 dB steps (:func:`mixenv.features.from_uint8` converts back).
    uint8 makes Stable-Baselines3 treat them as images and keeps replay buffers four times smaller.

    | key         | dtype   | shape                | meaning                                                   |
    |-------------|---------|----------------------|-----------------------------------------------------------|
    | `stems`     | uint8   | `(n_roles, F, T)`    | log-mel of each processed stem (mid channel), 0 if absent |
    | `mix`       | uint8   | `(2, F, T)`          | log-mel of the current mix, left and right                |
    | `reference` | uint8   | `(2, F, T)`          | log-mel of the reference clip (only when rewards use it)  |
    | `settings`  | float32 | `(n_roles * 9 + 5,)` | the current normalised settings, in [-1, 1]               |
    | `presence`  | float32 | `(n_roles,)`         | 1 where the song has that stem, else 0                    |
    | `match`     | float32 | `(n_roles * 80,)`    | each stem as played, in the reference (optional, below)   |

    With ``observation="embedding"`` the three log-mel entries become the shared backbone's clip embeddings
    instead (float32, ``D = 128``, clipped to +-100): `stems` ``(n_roles * D,)`` role after role (zeros if
    absent; flat, as Stable-Baselines3 expects vectors), `mix` ``(D,)``, `reference` ``(D,)``. That is 0.8 k
    numbers per observation instead of 89 k bytes: the features a frozen :class:`agents.extractor.BackboneExtractor`
    would compute, computed once per step in the env's process (the mix's comes free from the FAD/anomaly terms).
    :mod:`mixenv.observe` makes both kinds.

    With ``reference_match=True`` (and a reference) the observation also holds `match`: each processed stem's
    reference-matching features (:class:`mixenv.match.ReferenceMatch`, the supervised models' comparison of stems
    and reference): its gain in the reference fitted per group of 4 mel bands, channel and loud/quiet frames, and its
    own level there, in dB / 20 (80 numbers per role, role after role, zeros if absent). Under settings that make the
    reference every stem's fitted gains agree, up to the master bus's common gain, so their differences say what is
    left to change. They cost a few small linear solves per step.

    ## Rewards

    The score of a mix is ``sum(weight * term)`` over the terms of :mod:`rewards` (each higher-is-better,
    finite): ``spectral`` (minus the multi-resolution STFT distance to the reference clip), ``loudness``
    (minus the LU error to the reference, or to ``target_lufs``), ``fad`` (minus the Fréchet distance of the
    mix's backbone frame embeddings to those of good mixes) and ``anomaly`` (minus the calibrated anomaly score of
    a detector trained on good mixes). Without a reference (``reference_free=True`` or a source that has
    none) only ``loudness`` (to ``target_lufs``), ``fad`` and ``anomaly`` count. ``info["terms"]`` reports every
    term at every step.

    ## Starting State

    A song from ``split`` and a clip start drawn with ``self.np_random``; settings neutral, drawn uniformly
    (``initial_settings="random"``), or a policy's (``initial_settings=`` any object with the
    :class:`agents.policies.MixPolicy` interface, a supervised model or a heuristic: it is reset on the episode
    and asked once, seeing the neutral mix's observation and the clip, as it would at step 0).

    ## Episode End

    Never terminated: mixing has no terminal state. Truncated after ``max_episode_steps`` steps (10 by default). Made
    with ``gymnasium.make``, Gymnasium's ``TimeLimit`` truncates (the registration's ``max_episode_steps=10``, or
    ``gymnasium.make(..., max_episode_steps=N)``) and the env's own limit is off.

    ## Arguments

    ```python
    import gymnasium as gym
    import mixenv  # registers MixEnv-v0
    env = gym.make("MixEnv-v0", data_source="synthetic", split="train", clip_seconds=4.0, max_episode_steps=10)
    ```

    * ``data_source``: ``"synthetic"`` (default), ``"musdb18hq"``, ``"medleydb"`` or ``"folder"``.
    * ``data_path``: the collection's folder (default: the synthetic corpus in the data cache, built on first use;
      see :mod:`mixenv.artifacts`).
    * ``split``: ``"train"``, ``"val"``, ``"test"``, or ``None`` for every song.
    * ``clip_seconds``: length of the clip mixed in an episode (default 4.0).
    * ``sample_rate``: resample songs to this rate on load; ``None`` keeps each song's own.
    * ``max_episode_steps``: steps before truncation (default 10; ``None``: never, for a ``TimeLimit`` to decide).
      ``episode_steps``, its former name, still works with a deprecation warning.
    * ``reward_weights``: term name -> weight, overriding :data:`DEFAULT_WEIGHTS` (missing names keep theirs).
    * ``reference_free``: score without a reference even when songs have one.
    * ``target_lufs``: loudness target of reference-free scoring (default -14).
    * ``initial_settings``: ``"neutral"``, ``"random"``, or a policy whose first action starts every episode.
    * ``action_mode``: ``"absolute"`` (each action is the full settings vector) or ``"delta"`` (a move).
    * ``delta_scale``: the largest move per step in delta mode, in normalised units (default 0.25).
    * ``backbone_path``: backbone checkpoint for FAD and anomaly (default: the one shipped with mixenv).
    * ``observation``: ``"logmel"`` (default) or ``"embedding"`` (see Observation Space).
    * ``reference_match``: add the `match` entry to the observation (see Observation Space; default off).
    * ``good_mix_path``: good-mix statistics and detector for that backbone (default: built on first use from the
      synthetic corpus' training references; see :mod:`rewards.goodmix`).
    * ``preroll_seconds``: audio rendered before the clip so compressors and filters have settled (default 0.5).
    * ``remix``: remix every episode's clip (a :class:`~mixenv.remix.RemixConfig`, or its fields as a dict, e.g.
      ``{"wide": 0.5}``): its stems re-coloured, some roles left out, a new reference rendered under settings from
      the wide prior or its own, so agents train on the randomised data the supervised models can (default: off).
    * ``build_artifacts``: build a missing default corpus or good-mix model on first use (default);
      ``False`` raises :class:`~mixenv.artifacts.MissingArtifactError` naming ``mixenv prepare`` instead.
    * ``render_mode``: ``"rgb_array"`` gives a spectrogram picture of the mix (above the reference).

    ## Example

    >>> import gymnasium as gym, mixenv
    >>> env = gym.make("MixEnv-v0")  # the default artefacts are built on first use
    >>> obs, info = env.reset(seed=0)
    >>> env.action_space.shape, sorted(obs), obs["mix"].shape
    ((41,), ['mix', 'presence', 'reference', 'settings', 'stems'], (2, 64, 174))
    >>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    >>> sorted(info["terms"]), bool(np.isfinite(reward)), terminated, truncated
    (['anomaly', 'fad', 'loudness', 'spectral'], True, False, False)
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        data_source: str = "synthetic",
        data_path: str | None = None,
        split: str | None = "train",
        clip_seconds: float = 4.0,
        sample_rate: int | None = None,
        max_episode_steps: int | None = DEFAULT_MAX_EPISODE_STEPS,
        reward_weights: Mapping[str, float] | None = None,
        reference_free: bool = False,
        target_lufs: float = -14.0,
        initial_settings: str | InitialPolicy = "neutral",
        action_mode: str = "absolute",
        delta_scale: float = 0.25,
        backbone_path: str | None = None,
        good_mix_path: str | None = None,
        observation: str = "logmel",
        reference_match: bool = False,
        preroll_seconds: float = 0.5,
        roles: Sequence[str] = ROLES,
        remix: RemixConfig | Mapping[str, Any] | None = None,
        build_artifacts: bool = True,
        render_mode: str | None = None,
        episode_steps: int | None = None,
    ) -> None:
        if episode_steps is not None:
            warnings.warn(
                "MixEnv's episode_steps is now max_episode_steps (the Gymnasium name); episode_steps will go",
                DeprecationWarning,
                stacklevel=2,
            )
            max_episode_steps = episode_steps
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        if not 0.5 <= clip_seconds <= 60.0:
            raise ValueError(f"clip_seconds must be within [0.5, 60], got {clip_seconds}")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be at least 1 (or None), got {max_episode_steps}")
        if isinstance(initial_settings, str) and initial_settings not in ("neutral", "random"):
            raise ValueError(f"initial_settings must be 'neutral', 'random' or a policy, got {initial_settings!r}")
        if not isinstance(initial_settings, str) and not callable(getattr(initial_settings, "act", None)):
            raise ValueError(f"initial_settings must be 'neutral', 'random' or a policy, got {initial_settings!r}")
        if action_mode not in ("absolute", "delta"):
            raise ValueError(f"action_mode must be 'absolute' or 'delta', got {action_mode!r}")
        if not 0.0 < delta_scale <= 2.0:
            raise ValueError(f"delta_scale must be in (0, 2], got {delta_scale}")
        if observation not in ("logmel", "embedding"):
            raise ValueError(f"observation must be 'logmel' or 'embedding', got {observation!r}")
        if preroll_seconds < 0:
            raise ValueError(f"preroll_seconds must be >= 0, got {preroll_seconds}")
        if data_source == "synthetic" and data_path is None:
            data_path = str(artifacts.corpus(build=build_artifacts))
        self.songs: list[SongRef] = list_songs(data_source, data_path, split)
        self.data_source, self.split = data_source, split
        self.clip_seconds, self.preroll_seconds = float(clip_seconds), float(preroll_seconds)
        self.sample_rate = sample_rate
        self.max_episode_steps = max_episode_steps
        self.initial_settings = initial_settings
        self.action_mode, self.delta_scale = action_mode, float(delta_scale)
        self.render_mode = render_mode
        self.space = ParamSpace(roles)
        self.observation = observation
        self.remix = RemixConfig(**remix) if isinstance(remix, Mapping) else remix
        if self.remix is not None and self.remix.sample_rates:
            raise ValueError("an env's remixes keep the clip's sample rate (the observation's shape depends on it)")
        self.reward, embedder = build_reward(
            reward_weights, reference_free, target_lufs, backbone_path, good_mix_path, build_artifacts
        )
        self.uses_reference = self.reward.needs_reference
        if embedder is None and observation == "embedding":
            checkpoint = artifacts.backbone(backbone_path)
            embedder = AudioEmbedder(checkpoint, checkpoint.sample_rate)
        # The observation and the FAD/anomaly terms share one embedder, so one backbone pass serves both.
        self.features = embedder.logmel.config if embedder is not None else FeatureConfig()
        if reference_match and not self.uses_reference:
            raise ValueError("reference_match needs a reference to match; it cannot go with reference-free scoring")
        self.observer = Observer(self.space.roles, observation, self.features, embedder, match=reference_match)
        self.renderer = ClipRenderer(self.space.roles)
        # Silence is judged per song elsewhere; a clip may well be silent in one stem (a late entry).
        self._policy = LoadPolicy(
            sample_rate=sample_rate, on_rate_mismatch="resample", on_length_mismatch="pad", on_silent="keep"
        )

        # Spaces are fixed by the clip length at the first song's rate (or the requested rate).
        rate = sample_rate or self.songs[0].info().sample_rate
        first = self._load(0, (0, 1))
        if self.uses_reference and first.reference is None:
            raise ValueError(
                f"song {first.name!r} of {data_source!r} has no reference mix, but the reward needs one; "
                "pass reference_free=True to score against good-mix statistics and a loudness target instead"
            )
        signal = self.observer.signal_spaces(round(self.clip_seconds * rate), rate)
        box = {
            **signal,
            "settings": spaces.Box(-1.0, 1.0, (self.space.size,), np.float32),
            "presence": spaces.Box(0.0, 1.0, (len(self.space.roles),), np.float32),
        }
        if self.uses_reference:
            box["reference"] = signal["mix"]
        if reference_match:
            box["match"] = self.observer.match_space()
        self.observation_space = spaces.Dict(box)
        self.action_space = spaces.Box(-1.0, 1.0, (self.space.size,), np.float32)
        self._episode: _Episode | None = None

    # --- Gymnasium API -------------------------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start an episode on a new clip. ``options={"song": name}`` picks the song instead of drawing one."""
        super().reset(seed=seed)
        index = self._song_index(options)
        ref = self.songs[index]
        header = ref.info()
        rate = self.sample_rate or header.sample_rate
        window = clip_window(
            header.num_samples * rate // header.sample_rate,
            rate,
            self.clip_seconds,
            self.preroll_seconds,
            f"{ref.name!r} ({ref.path})",
        )
        start = int(self.np_random.integers(window.first, window.last + 1))
        segment = self._load(index, (start - window.preroll, window.preroll + window.length))
        if self.remix is not None:
            segment = remix_song(segment, self.np_random, self.remix, self.space)
        clip = Clip(segment, window.preroll, start / rate)
        reference = clip.excerpt.reference
        if self.uses_reference and reference is None:
            raise ValueError(f"song {ref.name!r} has no reference mix; pass reference_free=True to score without one")
        if isinstance(self.initial_settings, str) and self.initial_settings == "random":
            settings = self.np_random.uniform(-1.0, 1.0, self.space.size).astype(np.float32)
        else:
            settings = self.space.neutral_vector()
        self._episode = _Episode(
            clip=clip,
            context=ScoreContext(rate, reference if self.uses_reference else None, clip.excerpt.stems),
            reference=None if reference is None else self.observer.reference(rate, reference),
        )
        obs, info = self._evaluate(self._episode, settings, clipped_actions=0)
        if not isinstance(self.initial_settings, str):  # a policy's first action, seen from the neutral mix
            self.initial_settings.reset(self)
            start, _ = self.space.sanitize(np.asarray(self.initial_settings.act(obs, self), dtype=np.float64))
            obs, info = self._evaluate(self._episode, start, clipped_actions=0)
        self._episode.score = info["score"]
        return obs, info

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Render the clip under ``action`` (a full normalised settings vector) and score it."""
        episode = self._require_episode()
        action = np.asarray(action)
        if action.shape != self.action_space.shape:
            raise ValueError(
                f"action must have shape {self.action_space.shape} (one value per control of {self.space}), "
                f"got shape {action.shape}"
            )
        if self.action_mode == "delta":
            settings, clipped = self._move(episode, action)
        else:
            settings, clipped = self.space.sanitize(action)
        obs, info = self._evaluate(episode, settings, clipped)
        reward = info["score"] - episode.score
        episode.score = info["score"]
        episode.steps += 1
        truncated = self.max_episode_steps is not None and episode.steps >= self.max_episode_steps
        return obs, float(reward), False, truncated, info

    def render(self) -> np.ndarray | None:
        """With ``render_mode="rgb_array"``: the mix's log-mel (and the reference's below it) as an RGB image."""
        if self.render_mode is None or self._episode is None or self._episode.mix is None:
            return None
        import matplotlib

        episode, rate = self._episode, self._episode.clip.sample_rate
        signals = [episode.mix] + ([episode.context.reference] if episode.context.reference is not None else [])
        panels = [to_uint8(self.observer.features_of(rate, signal)).mean(axis=0) for signal in signals]
        separator = np.zeros((2, panels[0].shape[1]))
        image = np.concatenate([p for panel in panels for p in (panel[::-1], separator)][:-1], axis=0)
        rgb = matplotlib.colormaps["magma"](image / 255.0)[..., :3]
        return np.repeat(np.repeat((rgb * 255).astype(np.uint8), 3, axis=0), 3, axis=1)

    # --- for planners, heuristics and evaluation --------------------------------------------------------------------

    @property
    def clip(self) -> Multitrack:
        """The current episode's clip (without pre-roll): raw stems, reference and ground truth where known.

        What a heuristic may look at, as a human engineer would listen to the stems; agents get observations.
        """
        return self._require_episode().clip.excerpt

    @property
    def current_mix(self) -> np.ndarray:
        """The mix rendered by the last reset or step, ``(2, samples)``."""
        mix = self._require_episode().mix
        assert mix is not None  # reset renders before returning
        return mix

    @property
    def current_settings(self) -> MixSettings:
        """The physical settings of the last reset or step."""
        settings = self._require_episode().settings
        assert settings is not None
        return settings

    def render_settings(self, settings: MixSettings, *, stems: bool = False) -> MixRender:
        """The current clip rendered under ``settings``, pre-roll first as in a step (without stepping); with
        ``stems``, each stem as placed in the mix too."""
        return self.renderer.render(self._require_episode().clip, settings, stems=stems)

    def score_settings(self, action: np.ndarray) -> dict[str, float]:
        """Each reward term for ``action`` on the current clip, without stepping (for planners and optimisers).

        The score the env would use is ``self.reward.total(terms)``.
        """
        episode = self._require_episode()
        mix = self.render_settings(self.space.from_clean(self.space.sanitize(np.asarray(action))[0])).mix
        return self.reward.scores(mix, episode.context)

    def measure(
        self, suite: MetricSuite | None = None, earlier: tuple[np.ndarray, MixSettings] | None = None
    ) -> dict[str, Any]:
        """Every evaluation metric of the current mix (:func:`rewards.metrics.clip_metrics`), per-control errors too.

        Args:
            suite: The metrics to use; default: the env's own reward terms, so metrics and rewards agree.
            earlier: ``(mix, settings)`` of an earlier reset or step of this episode (:attr:`current_mix`,
                :attr:`current_settings` then), measured instead of the current mix.
        """
        episode = self._require_episode()
        assert episode.mix is not None and episode.settings is not None
        mix, settings = earlier if earlier is not None else (episode.mix, episode.settings)
        suite = suite or MetricSuite.of_reward(self.reward.terms)
        # The episode's memo holds this mix's loudness and embeddings, unless it was made without the reference.
        same_reference = episode.context.reference is not None or episode.clip.excerpt.reference is None
        context = episode.context if same_reference else None
        return clip_metrics(suite, episode.clip, mix, settings, context)

    # --- internals -----------------------------------------------------------------------------------------------

    def _require_episode(self) -> _Episode:
        if self._episode is None:
            raise RuntimeError("call reset() first: the environment has no episode yet")
        return self._episode

    def _move(self, episode: _Episode, action: np.ndarray) -> tuple[np.ndarray, int]:
        """Delta mode: the current settings moved by ``delta_scale`` times the (sanitised) action, clipped."""
        step = np.asarray(action, dtype=np.float64)
        finite = np.isfinite(step)
        clean = np.where(finite, np.clip(step, -1.0, 1.0), 0.0)
        clipped = int(np.count_nonzero(~finite | (clean != step)))
        current = episode.observation["settings"] if episode.observation is not None else self.space.neutral_vector()
        return np.clip(current + self.delta_scale * clean, -1.0, 1.0).astype(np.float32), clipped

    def _song_index(self, options: dict[str, Any] | None) -> int:
        if options and "song" in options:
            names = [s.name for s in self.songs]
            if options["song"] not in names:
                raise ValueError(f"song {options['song']!r} is not in split {self.split!r} of {self.data_source!r}")
            return names.index(options["song"])
        return int(self.np_random.integers(len(self.songs)))

    def _load(self, index: int, segment: tuple[int, int]) -> Multitrack:
        """Read only ``segment`` of song ``index`` (an episode never needs the whole of a long song)."""
        song = self.songs[index].load(self._policy, segment)
        unknown = set(song.roles) - set(self.space.roles)
        if unknown:
            raise ValueError(f"song {song.name!r} has roles {sorted(unknown)}, which the env's {self.space.roles} lack")
        if song.num_samples < segment[1]:
            raise ValueError(
                f"song {song.name!r} ({self.songs[index].path}) ended after {song.num_samples} of the {segment[1]} "
                "samples its header promised; re-export its files"
            )
        return song

    def _evaluate(
        self, episode: _Episode, normalized: np.ndarray, clipped_actions: int
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Render, observe and score the episode's clip under ``normalized`` (sanitised) settings."""
        settings = self.space.from_clean(normalized)
        result = self.renderer.render(episode.clip, settings, stems=True)
        rate, mix = episode.clip.sample_rate, result.mix
        seen = self.observer.observe(rate, mix, result.stems, self.observation_space["stems"].shape, episode.reference)
        for key, value in seen.shared.items():  # what the reward terms would compute again
            episode.context.mix_value(mix, key, lambda _, v=value: v)
        terms = self.reward.scores(mix, episode.context)
        obs = {
            "stems": seen.stems,
            "mix": seen.mix,
            "settings": normalized.astype(np.float32),
            "presence": np.array([r in result.stems for r in self.space.roles], np.float32),
        }
        if episode.reference is not None and "reference" in self.observation_space.spaces:
            obs["reference"] = episode.reference.signal.copy()
        if seen.match is not None:
            obs["match"] = seen.match
        episode.observation, episode.settings, episode.mix = obs, settings, mix
        info = {
            "song": episode.clip.song.name,
            "clip_start_seconds": episode.clip.start_seconds,
            "settings": settings.to_dict(),
            "terms": terms,
            "score": self.reward.total(terms),
            "lufs": episode.context.mix_lufs(mix),
            "bus_overs": result.bus_overs,
            "clipped_samples": result.clipped_samples,
            "limiter_reduction_db": result.limiter_reduction_db,
            "clipped_actions": clipped_actions,
        }
        return obs, info


def episode_limit(env: gym.Env) -> int:
    """The step after which an episode of ``env`` (wrapped or not) is truncated: its ``TimeLimit``'s, else its own.

    Raises:
        ValueError: If neither limits the episode (loops over an episode would never end).
    """
    limit = env.spec.max_episode_steps if env.spec is not None else None
    limit = limit or getattr(env.unwrapped, "max_episode_steps", None)
    if limit is None:
        raise ValueError("the env never truncates: make it with max_episode_steps=N or wrap it in a TimeLimit")
    return int(limit)


@dataclass
class _Episode:
    """Mutable state of the current episode: the clip (with pre-roll), its scoring context and progress."""

    clip: Clip
    context: ScoreContext
    reference: SeenReference | None
    score: float = 0.0
    steps: int = 0
    observation: dict[str, np.ndarray] | None = None
    settings: MixSettings | None = None
    mix: np.ndarray | None = None


def build_reward(
    weights: Mapping[str, float] | None,
    reference_free: bool,
    target_lufs: float,
    backbone_path: str | None,
    good_mix_path: str | None,
    build: bool,
) -> tuple[CompositeReward, AudioEmbedder | None]:
    """The env's composite reward and the embedder its FAD and anomaly terms share (``None`` if they are off).

    What :class:`MixEnv` scores with, for anything else that must score as the env does (``mixenv mix``'s search
    on excerpts of a whole song). The arguments are the env's of the same names; ``build`` is its
    ``build_artifacts``.
    """
    base = REFERENCE_FREE_WEIGHTS if reference_free else DEFAULT_WEIGHTS
    chosen = override_weights({name: base.get(name, 0.0) for name in DEFAULT_WEIGHTS}, weights)
    if reference_free and chosen["spectral"] > 0:
        raise ValueError("the spectral term needs a reference; set its weight to 0 for reference_free=True")
    for name, w in chosen.items():
        if not (math.isfinite(w) and w >= 0):
            raise ValueError(f"reward weight of {name!r} must be finite and >= 0, got {w}")
    terms: dict[RewardTerm, float] = {}
    if not reference_free:
        terms[SpectralReward()] = chosen["spectral"]
    terms[LoudnessReward(target_lufs if reference_free else None)] = chosen["loudness"]
    embedder = None
    if chosen["fad"] > 0 or chosen["anomaly"] > 0:
        fad, anomaly = good_mix_terms(*artifacts.reward_models(backbone_path, good_mix_path, build=build))
        terms[fad] = chosen["fad"]
        terms[anomaly] = chosen["anomaly"]
        embedder = fad.embedder
    return CompositeReward(terms), embedder
