"""The streaming mixer: the renderer's output block by block, settings ramped, estimates that never block."""

from __future__ import annotations

import re
import threading
import time

import numpy as np
import pytest

from mixenv.data import Multitrack
from mixenv.params import ROLES, ParamSpace
from mixenv.render import Renderer
from mixenv.stream import SMOOTHING_SECONDS, LiveEstimator, StreamError, StreamingMixer, stream

from conftest import SR, noise, tone

SPACE = ParamSpace(ROLES)


def _stems(seconds: float = 2.0) -> dict[str, np.ndarray]:
    return {
        "vocals": noise(seconds, 0.2, channels=2, seed=1),
        "drums": noise(seconds, 0.3, seed=2),
        "bass": tone(55, seconds, 0.4),
    }


def _blocks(stems: dict[str, np.ndarray], size: int):
    """The stems in blocks of ``size``, the last one padded with silence."""
    n = next(iter(stems.values())).shape[1]
    for start in range(0, n, size):
        yield {
            role: np.pad(a[:, start : start + size], ((0, 0), (0, max(0, start + size - n))))
            for role, a in stems.items()
        }


@pytest.mark.parametrize("block_size", [128, 512])
def test_with_fixed_settings_the_stream_is_the_whole_render_delayed_by_the_latency(block_size: int) -> None:
    stems = _stems()
    settings = SPACE.to_physical(np.random.default_rng(3).uniform(-1, 1, SPACE.size))
    mixer = StreamingMixer(SR, ROLES, block_size, settings=settings)
    out: list[np.ndarray] = []
    stats = stream(_blocks(stems, block_size), mixer, out.append)
    heard = np.concatenate(out, axis=1)
    n = 2 * SR
    assert mixer.latency == round(0.005 * SR) and heard.shape[1] >= n + mixer.latency  # the look-ahead is flushed
    assert not heard[:, : mixer.latency].any()
    np.testing.assert_array_equal(heard[:, mixer.latency : mixer.latency + n], Renderer(SR).render(stems, settings).mix)
    assert stats.block_seconds.size == len(out) and stats.xruns <= len(out)


def test_a_twelve_db_fader_jump_is_a_ramp_without_a_click() -> None:
    """A steady tone at a level the limiter leaves alone: the fader jump shows only as a smooth rise in level."""
    amplitude, freq = 0.05, 110.0
    stems = {"bass": tone(freq, 1.0, amplitude)}
    mixer = StreamingMixer(SR, ROLES, 256)
    out: list[np.ndarray] = []
    for index, block in enumerate(_blocks(stems, 256)):
        if index == 40:
            mixer.set_settings(SPACE.neutral().replace({"bass.gain_db": 12.0}))
        out.append(mixer.process(block))
    heard = np.concatenate(out, axis=1)[0]
    slope = 2 * np.pi * freq / SR  # the steepest a sine of peak 1 moves per sample
    # A jump would step by up to 3x the tone's peak in one sample; the ramp keeps every step within the louder
    # tone's own slope (plus a little for the ramp itself).
    assert np.max(np.abs(np.diff(heard))) <= 1.1 * slope * amplitude * 10 ** (12 / 20)
    change = 40 * 256 + mixer.latency
    before = np.max(np.abs(heard[change - 2000 : change]))
    after = np.max(np.abs(heard[change + round(SMOOTHING_SECONDS * SR) + 256 : change + 6000]))
    assert 20 * np.log10(after / before) == pytest.approx(12.0, abs=0.2)
    ramp = round(SMOOTHING_SECONDS * SR)
    middle = np.max(np.abs(heard[change + ramp // 2 - 100 : change + ramp // 2 + 100]))
    assert 3.0 < 20 * np.log10(middle / before) < 9.0  # halfway through the ramp, about halfway up


def test_an_estimator_never_holds_up_the_audio_and_skips_estimates_that_come_late() -> None:
    heard_windows: list[Multitrack] = []
    release = threading.Event()

    def slow_estimate(window: Multitrack):
        heard_windows.append(window)
        release.wait(5.0)  # an estimate that takes as long as the test wants
        return SPACE.neutral().replace({"vocals.gain_db": -6.0})

    stems = _stems(3.0)
    estimator = LiveEstimator(slow_estimate, SR, ROLES, window_seconds=1.0, every_seconds=0.5)
    mixer = StreamingMixer(SR, ROLES, 512)
    results, costs = [], []
    try:
        for block in _blocks(stems, 512):
            start = time.perf_counter()
            results.append(estimator.feed(block))
            costs.append(time.perf_counter() - start)
            mixer.process(block)
        assert estimator.asked == 1 and estimator.skipped >= 4 and results.count(None) == len(results)
        assert max(costs) < 0.05  # the audio path copied blocks only, while the estimate was stuck
        release.set()
        deadline = time.perf_counter() + 5.0
        new = None
        while new is None and time.perf_counter() < deadline:
            new = estimator.feed(next(_blocks(stems, 512)))
            time.sleep(0.01)
    finally:
        release.set()
        estimator.close()
    assert new is not None and new["vocals.gain_db"] == -6.0 and estimator.applied == 1
    window = heard_windows[0]  # all that had been fed when the first estimate was due (less than a window)
    assert window.num_samples == -(-(SR // 2) // 512) * 512
    np.testing.assert_array_equal(window.stems["vocals"], stems["vocals"][:, : window.num_samples])


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        ({}, "at least one stem"),
        ({"piano": np.zeros((1, 512), np.float32)}, "no strip for role 'piano'"),
        ({"bass": np.zeros((1, 500), np.float32)}, r"shaped \(1, 500\).*\(1 or 2 channels, 512\)"),
        ({"bass": np.zeros((6, 512), np.float32)}, r"shaped \(6, 512\)"),
    ],
)
def test_blocks_it_cannot_take_are_refused_with_what_it_expects(blocks: dict, message: str) -> None:
    with pytest.raises(StreamError, match=message):
        StreamingMixer(SR, ROLES, 512).process(blocks)


def test_bad_block_sizes_settings_and_samples_are_handled() -> None:
    with pytest.raises(StreamError, match="block_size must be in"):
        StreamingMixer(SR, ROLES, 4)
    with pytest.raises(StreamError, match="settings are for roles"):
        StreamingMixer(SR, ROLES, 512).set_settings(ParamSpace(("vocals",)).neutral())
    bad = np.full((1, 512), np.nan, np.float32)
    assert np.isfinite(StreamingMixer(SR, ROLES, 512).process({"bass": bad})).all()  # NaN is heard as silence


def test_a_failed_estimate_keeps_the_settings_and_is_counted() -> None:
    def broken(window: Multitrack):
        raise RuntimeError("the model fell over")

    estimator = LiveEstimator(broken, SR, ROLES, window_seconds=0.2, every_seconds=0.1)
    try:
        deadline = time.perf_counter() + 5.0
        while estimator.failed == 0 and time.perf_counter() < deadline:
            assert estimator.feed({"bass": tone(55, 0.05)}) is None
            time.sleep(0.01)
    finally:
        estimator.close()
    assert estimator.failed >= 1 and estimator.applied == 0


def test_the_command_streams_a_folder_as_the_renderer_mixes_it(tmp_path, write_song, capsys) -> None:
    from mixenv.cli import main
    from mixenv.data import load_folder, read_audio
    from mixenv.presets import save_preset

    folder = write_song(tmp_path / "song", {f"{role}.wav": audio for role, audio in _stems(1.5).items()})
    settings = SPACE.to_physical(np.random.default_rng(5).uniform(-1, 1, SPACE.size))
    save_preset(tmp_path / "p.json", settings)
    out = tmp_path / "live.wav"
    command = ["stream", str(folder), "-o", str(out), "--settings", str(tmp_path / "p.json"), "--bit-depth", "32"]
    assert main([*command, "--estimate", "none", "--block-size", "256"]) == 0
    assert "latency 110 samples" in capsys.readouterr().out
    song = load_folder(folder)
    np.testing.assert_array_equal(read_audio(out), Renderer(SR).render(song.stems, settings).mix)
    assert main([*command, "--estimate", "none"]) == 2 and "--force" in capsys.readouterr().err  # kept
    assert main([*command, "--force", "--estimate", "loudness", "--every", "0.5"]) == 0
    summary = capsys.readouterr().out
    assert "estimates applied" in summary and read_audio(out).shape == (2, round(1.5 * SR))


def test_live_estimates_apply_from_the_first_one_on(tmp_path, write_song, capsys) -> None:
    from mixenv.cli import main

    # The worker starts before the stream (a few seconds), so the estimate asked for after 1 s of a 2.5 s song
    # played in real time arrives within it; started on that first request, it arrived after the song had ended.
    folder = write_song(tmp_path / "song", {f"{role}.wav": audio for role, audio in _stems(2.5).items()})
    command = ["stream", str(folder), "-o", str(tmp_path / "live.wav"), "--realtime", "--every", "1"]
    assert main([*command, "--estimate", "loudness"]) == 0
    applied = int(re.search(r"(\d+) estimates applied", capsys.readouterr().out).group(1))
    assert applied >= 1
