"""Shared fixtures: tiny generated audio (seconds at 22.05 kHz) and tiny datasets in their real layouts."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml

import mixenv  # noqa: F401  (registers MixEnv-v0)
from mixenv.backbone import Backbone, BackboneCheckpoint, BackboneConfig, save_backbone
from mixenv.data import write_audio
from mixenv.engines import Engine
from mixenv.features import FeatureConfig

SR = 22_050


def pytest_configure(config: pytest.Config) -> None:
    """In a worker of ``pytest -n N`` torch computes on one thread: the N workers already share the cores, and its
    default of one thread per core oversubscribes them (the engines' workers do the same, for the same reason;
    a test that needs another count sets it, as the default model's reproduction does)."""
    if hasattr(config, "workerinput"):  # set by pytest-xdist in its workers only
        torch.set_num_threads(1)


def tone(freq_hz: float, seconds: float = 1.0, amp: float = 0.1, sr: int = SR, channels: int = 1) -> np.ndarray:
    """A sine, shaped (channels, samples), float32."""
    t = np.arange(round(seconds * sr)) / sr
    return np.repeat((amp * np.sin(2 * np.pi * freq_hz * t))[None], channels, axis=0).astype(np.float32)


def noise(seconds: float = 1.0, amp: float = 0.05, sr: int = SR, channels: int = 1, seed: int = 0) -> np.ndarray:
    """White noise with RMS ``amp``, shaped (channels, samples), float32."""
    rng = np.random.default_rng(seed)
    return (amp * rng.standard_normal((channels, round(seconds * sr)))).astype(np.float32)


def band_db(audio: np.ndarray, sr: int, low_hz: float, high_hz: float) -> float:
    """Energy of ``audio`` between two frequencies, in dB (all channels)."""
    spectrum = np.abs(np.fft.rfft(audio.astype(np.float64), axis=-1)) ** 2
    freqs = np.fft.rfftfreq(audio.shape[-1], 1 / sr)
    return float(10 * np.log10(spectrum[..., (freqs >= low_hz) & (freqs < high_hz)].sum() + 1e-20))


def medley_song(root: Path, name: str, stems: list[tuple[str, np.ndarray]], metadata_dir: Path | None = None) -> None:
    """Write a MedleyDB song: ``NAME_STEMS/``, ``NAME_MIX.wav``, ``NAME_METADATA.yaml``, from (instrument, audio)."""
    folder = root / name
    (folder / f"{name}_STEMS").mkdir(parents=True)
    entries = {}
    for i, (instrument, audio) in enumerate(stems, start=1):
        file_name = f"{name}_STEM_{i:02d}.wav"
        write_audio(folder / f"{name}_STEMS" / file_name, audio, SR)
        entries[f"S{i:02d}"] = {"component": "", "filename": file_name, "instrument": instrument}
    write_audio(folder / f"{name}_MIX.wav", np.repeat(sum(a for _, a in stems), 2, axis=0), SR)
    metadata = {"artist": "x", "mix_filename": f"{name}_MIX.wav", "stem_dir": f"{name}_STEMS", "stems": entries}
    target = (metadata_dir or folder) / f"{name}_METADATA.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(metadata))


def benchmark_songs(tiny_corpus: Path, folder: Path, reference: bool) -> Path:
    """Two songs of the tiny corpus linked into ``folder`` (their references left out unless ``reference``)."""
    for name in ("song_0000", "song_0001"):
        song = folder / name
        song.mkdir(parents=True)
        for file in (tiny_corpus / name).iterdir():
            if reference or file.name != "reference.wav":
                (song / file.name).symlink_to(file)
    return folder


def benchmark_argv(corpus: Path, models: tuple[Path, Path], *songs: Path, seeds: tuple[int, ...] = (0,)) -> list[str]:
    """The benchmark's command line on song folders: tiny reward models, 1 s clips, CMA-ES at 5 renders,
    predict-the-mean of the tiny corpus's train split."""
    backbone, good_mix = models
    return ["--songs", *map(str, songs), "--seeds", *map(str, seeds), "--cmaes-budget", "5", "--clip-seconds", "1.0",
            "--backbone-path", str(backbone), "--good-mix-path", str(good_mix),
            "--train-corpus", str(corpus)]  # fmt: skip


@pytest.fixture
def quick_compressor_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each stem match reads the compressors in 12 fits instead of :data:`~mixenv.dynamics.READ_BUDGET`'s 60, in this
    process: for the tests about mixing songs and benchmarking methods; ``test_dynamics`` measures the reading at
    its own budgets."""
    monkeypatch.setattr("mixenv.dynamics.READ_BUDGET", 12)


@pytest.fixture
def four_stems() -> dict[str, np.ndarray]:
    """Two seconds of four distinct stems: mono vocals and bass, stereo drums and other, all quiet."""
    return {
        "vocals": tone(440, 2.0, 0.05),
        "drums": noise(2.0, 0.02, channels=2, seed=1),
        "bass": tone(80, 2.0, 0.08),
        "other": noise(2.0, 0.01, channels=2, seed=2),
    }


@pytest.fixture
def write_song() -> Callable[..., Path]:
    """Write ``{file name: audio}`` into a folder at a sample rate and return the folder."""

    def write(folder: Path, files: Mapping[str, np.ndarray], sr: int = SR) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for name, audio in files.items():
            write_audio(folder / name, audio, sr)
        return folder

    return write


@pytest.fixture(scope="session")
def local_ray() -> Iterator[Engine]:
    """A Ray instance of 3 CPUs on this machine for the whole session (starting one takes seconds; RLlib's 2 env
    runners and learner take 3), and the engine that runs on it. Skips the test without Ray (the scale extra)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield Engine("ray")
    ray.shutdown()


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6-song, 3-second synthetic corpus, built once per test session."""
    from mixenv.data.corpus import CorpusConfig
    from mixenv.data.synth.corpus import build_corpus

    return build_corpus(
        tmp_path_factory.mktemp("corpus") / "c", CorpusConfig(songs=6, seconds=3.0, seed=7), workers=1, progress=False
    )


@pytest.fixture(scope="session")
def tiny_reward_models(tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An untrained (seeded) backbone checkpoint and a good-mix model of the tiny corpus: (backbone, model) files.

    Lets tests run the env's default reward, all four terms, without pretraining a backbone.
    """
    import torch

    from mixenv.backbone import Backbone, BackboneCheckpoint, load_backbone, save_backbone
    from mixenv.data import list_songs
    from mixenv.features import FeatureConfig
    from rewards.goodmix import build_good_mix_model

    folder = tmp_path_factory.mktemp("reward-models")
    torch.manual_seed(0)
    backbone = save_backbone(folder / "backbone.pt", BackboneCheckpoint(Backbone(), FeatureConfig(), SR))
    songs = list_songs("synthetic", tiny_corpus)
    checkpoint = load_backbone(backbone)
    model = build_good_mix_model(checkpoint, songs, clip_seconds=1.0, hop_seconds=0.5, variations=0, progress=False)
    return backbone, model.save(folder / "goodmix.npz")


GROUPS = {"first_use": "first_use", "local_ray": "ray"}
"""Expensive shared fixture -> the xdist group of every test that needs it (the first that applies): one worker
builds the default artefacts while the other runs the rest of the suite instead of waiting on the build's lock,
and one worker, not each, starts Ray and trains the RLlib run."""


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook, which reads the groups into the test ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put each test that needs a fixture of :data:`GROUPS` in its xdist group (``--dist loadgroup``, as ``make
    test`` runs)."""
    for item in items:
        needs = getattr(item, "fixturenames", ())
        group = next((g for fixture, g in GROUPS.items() if fixture in needs), None)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


@dataclass(frozen=True)
class FirstUse:
    """What a user's first ``gymnasium.make("MixEnv-v0")`` did: the env, what it logged, and what it found built."""

    env: gym.Env
    messages: tuple[str, ...]
    found: tuple[str, ...]
    seconds: float


@pytest.fixture(scope="session")
def first_use() -> FirstUse:
    """``gymnasium.make("MixEnv-v0")`` as a user's first call, once per test run, shared by every test that needs the
    default corpus, classics training set and good-mix model (CI starts from an empty data cache, so there it builds
    all three: about 3 minutes on 2 cores; the backbone ships with mixenv)."""
    from mixenv import artifacts
    from mixenv.data.corpus import default_corpus_path

    paths = {
        "corpus": default_corpus_path(artifacts.DEFAULT_CORPUS),
        "classics": default_corpus_path(artifacts.TRAINING_SETS["classics"]),
        "good-mix model": artifacts.good_mix_model_path(artifacts.shipped_path()),
    }
    found = tuple(name for name, path in paths.items() if path.exists())
    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("mixenv")
    logger.addHandler(handler)
    start = time.perf_counter()
    try:
        env = gym.make("MixEnv-v0")
    finally:
        logger.removeHandler(handler)
    return FirstUse(env, tuple(messages), found, time.perf_counter() - start)


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded, untrained backbone about a hundred times smaller than the default one (supervised training tests)."""
    torch.manual_seed(0)
    config = BackboneConfig(widths=(4, 8, 8, 16), embedding_dim=16)
    return save_backbone(
        tmp_path_factory.mktemp("backbone") / "tiny.pt", BackboneCheckpoint(Backbone(config), FeatureConfig(), SR)
    )


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread for the test's duration (training tests: deterministic and light on shared cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
