"""``mixenv mix`` and ``mixenv.mixing.mix``: a folder of stems in, a mastered mix and its preset out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace as dataclasses_replace
from pathlib import Path

import numpy as np
import pytest

from mixenv.balance import ROLE_LUFS
from mixenv.cli import main
from mixenv.data import AudioFileError, StemsError, read_audio, write_audio
from mixenv.env import REFERENCE_WEIGHTS
from mixenv.excerpts import EXCERPT_SECONDS
from mixenv.loudness import integrated_lufs
from mixenv.mixing import MixError, mix
from mixenv.params import ROLES, ParamSpace
from mixenv.render import Renderer
from supervised import export

from conftest import SR, band_db, noise, tone

pytestmark = pytest.mark.usefixtures("quick_compressor_reading")


@pytest.fixture
def stems(tmp_path: Path, write_song: Callable[..., Path]) -> Path:
    """Two seconds of three stems at very different levels, the vocals stereo, the drums in two mono files."""
    return write_song(
        tmp_path / "stems",
        {
            "Lead Vox.wav": tone(330, 2.0, 0.05, channels=2),
            "kick.wav": noise(2.0, 0.2, seed=1),
            "snare.wav": noise(2.0, 0.05, seed=2),
            "Synth Bass.wav": tone(55, 2.0, 0.3),
        },
    )


def test_loudness_method_balances_the_roles_and_masters_to_the_target(stems: Path) -> None:
    result = mix(stems, method="loudness", target_lufs=-16.0)
    assert result.method == "loudness" and result.song.roles == ("vocals", "drums", "bass")
    assert result.loudness_lufs == pytest.approx(-16.0, abs=0.3) and result.peak_dbfs <= -0.9
    processed = Renderer(SR, ROLES).process_stems(result.song.load().stems, result.settings)
    levels = {role: integrated_lufs(audio, SR) for role, audio in processed.items()}
    # The quiet vocal ends on top of the loud drums as ROLE_LUFS says, as heard: after the strips, where a mono
    # stem plays in both channels (before the mastering).
    assert levels["vocals"] - levels["drums"] == pytest.approx(ROLE_LUFS["vocals"] - ROLE_LUFS["drums"], abs=1.0)


def test_without_a_reference_auto_mixes_with_the_model_its_faders_by_the_convention(stems: Path) -> None:
    result = mix(stems, target_lufs=-16.0)
    assert result.method == "model" and not result.reference_aligned
    assert result.loudness_lufs == pytest.approx(-16.0, abs=0.3)
    processed = Renderer(SR, ROLES).process_stems(result.song.load().stems, result.settings)
    levels = {role: integrated_lufs(audio, SR) for role, audio in processed.items()}
    # The model's strips (EQ, compression, pan), and the roles as loud against each other as ROLE_LUFS says.
    for role in ("drums", "bass"):
        assert levels["vocals"] - levels[role] == pytest.approx(ROLE_LUFS["vocals"] - ROLE_LUFS[role], abs=1.0)
    neutral = ParamSpace(ROLES).neutral()
    assert any(result.settings[f"{role}.low_shelf_db"] != neutral[f"{role}.low_shelf_db"] for role in levels)


def test_reference_method_takes_on_the_references_tone_and_loudness(stems: Path, tmp_path: Path) -> None:
    # Another song: longer, at another rate, and bright (differenced noise rises 6 dB per octave).
    bright = np.diff(noise(3.0, 0.1, sr=44_100, channels=2, seed=5), axis=1)
    write_audio(tmp_path / "ref.flac", bright, 44_100)
    neutral = mix(stems, reference=tmp_path / "ref.flac", intensity=0.0)
    matched = mix(stems, reference=tmp_path / "ref.flac")
    assert matched.method == "reference" and matched.settings["master_high_shelf_db"] > 3.0
    before, after = (band_db(r.audio, SR, 4000, 10000) - band_db(r.audio, SR, 50, 400) for r in (neutral, matched))
    assert after > before + 3.0  # brighter, toward the reference
    # Loudness is judged at the stems' rate: what the reference has above their Nyquist frequency does not count.
    assert matched.reference_lufs == pytest.approx(
        integrated_lufs(read_audio(tmp_path / "ref.flac", sample_rate=SR), SR)
    )
    assert matched.loudness_lufs == pytest.approx(matched.reference_lufs, abs=0.3)


def test_intensity_zero_is_the_neutral_mix_exactly(stems: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = mix(stems, method="loudness", intensity=0.0)
    neutral = Renderer(SR, ROLES, target_lufs=-14.0).render(result.song.load().stems, ParamSpace(ROLES).neutral()).mix
    np.testing.assert_array_equal(result.audio, neutral)

    def not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("a method ran for a mix at intensity 0, where nothing it chose is heard")

    monkeypatch.setattr("mixenv.mixing.SongExcerpts", not_run)  # what the model and the searches mix through
    for method in ("model", "cmaes", "refine"):
        searched = mix(stems, method=method, intensity=0.0, budget=15)
        assert searched.method == method and searched.renders == 0
        np.testing.assert_array_equal(searched.audio, neutral)
    half = mix(stems, method="loudness", intensity=0.5).settings["vocals.gain_db"]
    full = mix(stems, method="loudness").settings["vocals.gain_db"]
    assert 0.0 < half < full or full < half < 0.0


def test_one_stem_only_is_mixed(tmp_path: Path, write_song: Callable[..., Path]) -> None:
    folder = write_song(tmp_path / "solo", {"guitar.wav": tone(220, 1.0, 0.1)})
    assert mix(folder).song.roles == ("other",)


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("empty", StemsError, "holds no audio files"),
        ("silent", StemsError, r"silent\.wav is silent"),
        ("corrupt", AudioFileError, r"vocals\.wav.*damaged"),
        ("no_reference", MixError, "needs a reference"),
        ("intensity", MixError, r"intensity must be in \[0, 1\]"),
    ],
)
def test_bad_input_is_refused_with_the_fix(tmp_path: Path, write_song, case: str, error: type, message: str) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    if case == "silent":
        write_song(folder, {"bass.wav": tone(55), "silent.wav": np.zeros((1, SR), np.float32)})
    elif case == "corrupt":
        (folder / "vocals.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    elif case != "empty":
        write_song(folder, {"bass.wav": tone(55)})
    kwargs = {"no_reference": {"method": "reference"}, "intensity": {"intensity": 1.5}}.get(case, {})
    with pytest.raises(error, match=message):
        mix(folder, **kwargs)


def test_the_command_writes_a_mix_its_preset_reproduces(stems: Path, tmp_path: Path, capsys) -> None:
    out, preset = tmp_path / "mix.wav", tmp_path / "mix.json"
    assert main(["mix", str(stems), "-o", str(out), "--preset-out", str(preset), "--bit-depth", "16"]) == 0
    summary = capsys.readouterr().out
    assert "drums (kick.wav + snare.wav)" in summary and "-14.0 LUFS" in summary and "did: model at" in summary
    assert main(["render", str(stems), "--settings", str(preset), "-o", str(tmp_path / "again.wav")]) == 0
    np.testing.assert_allclose(read_audio(tmp_path / "again.wav"), read_audio(out), atol=1.5 / 32768)


def test_the_command_never_overwrites_without_force(stems: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "mix.wav"
    out.write_bytes(b"keep me")
    assert main(["mix", str(stems), "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err and out.read_bytes() == b"keep me"
    assert main(["mix", str(stems), "-o", str(out), "--force", "--bit-depth", "32"]) == 0
    assert read_audio(out).shape == (2, 2 * SR)


def test_an_interrupted_mix_leaves_nothing(stems: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("mixenv.data.audio.AudioWriter.write", interrupted)
    assert main(["mix", str(stems), "-o", str(tmp_path / "out" / "mix.wav")]) == 130
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


# --- the learned methods: the default model, refining it, searching from neutral --------------------------------


@pytest.fixture(scope="module")
def corpus_songs(tiny_corpus: Path) -> list:
    """The tiny corpus's songs (3 s at 22.05 kHz), each with its reference mix."""
    from mixenv.data import list_songs

    return [ref.load() for ref in list_songs("synthetic", tiny_corpus)]


def test_the_default_model_mixes_closer_to_the_reference_than_the_neutral_mix(corpus_songs: list) -> None:
    from rewards.spectral import SpectralDistance

    distance = SpectralDistance()
    gains = []
    for song in corpus_songs:
        model, neutral = mix(song, method="model"), mix(song, method="model", intensity=0.0)
        assert model.method == "model" and model.reference_aligned and model.renders == 0
        gains.append(distance.distance(neutral.audio, song.reference) - distance.distance(model.audio, song.reference))
    # The shipped model, trained on other songs of the same generator, reads each reference's balance.
    assert np.mean(gains) > 0.1 and sum(g > 0 for g in gains) >= 5, gains


def test_refining_never_scores_below_the_models_start_and_spends_the_budget(
    corpus_songs: list, tiny_reward_models: tuple[Path, Path]
) -> None:
    from mixenv.excerpts import SongExcerpts

    backbone, good_mix = tiny_reward_models
    song = corpus_songs[0]
    paths = {"backbone_path": backbone, "good_mix_path": good_mix}
    start = mix(song, method="model")
    refined = mix(song, method="refine", budget=16, **paths)
    # The start, then each stem's mid band read in the other regions of its range (two readings a stem at most),
    # each scored; then two rounds of half what is left, each the start (scored already), whole CMA-ES generations
    # (12 candidates for the 15 controls the match cannot read) until its half is spent, and the re-match:
    # 1 + readings + 2 x (12 + 1).
    readings = refined.renders - 27
    assert refined.method == "refine" and 1 <= readings <= 2 * len(ROLES)
    excerpts = SongExcerpts(song, ParamSpace(ROLES), refined.target_lufs, weights=REFERENCE_WEIGHTS, **paths)
    assert excerpts.loss(refined.settings.normalized()) <= excerpts.loss(start.settings.normalized()) + 1e-6
    # With a reference of these stems, auto refines.
    assert mix(song, budget=16, **paths).method == "refine"


def test_a_search_from_neutral_is_the_same_under_a_seed(corpus_songs: list, tiny_reward_models) -> None:
    backbone, good_mix = tiny_reward_models
    song = corpus_songs[1]
    runs = [
        mix(song, method="cmaes", budget=15, seed=s, backbone_path=backbone, good_mix_path=good_mix) for s in (3, 3, 4)
    ]
    assert np.array_equal(runs[0].audio, runs[1].audio) and not np.array_equal(runs[0].audio, runs[2].audio)
    assert runs[0].settings.normalized().tolist() != ParamSpace(ROLES).neutral_vector().tolist()


def test_a_reference_of_another_length_is_another_song(corpus_songs: list) -> None:
    song = corpus_songs[2]
    other = np.concatenate([song.reference, song.reference], axis=1)  # twice as long: not a mix of these stems
    result = mix(dataclasses_replace(song, reference=None), reference=other)
    assert result.method == "reference" and not result.reference_aligned and result.song.reference is None
    # A few samples short is the same song (an export that lost its tail): trimmed or padded to the stems.
    close = mix(dataclasses_replace(song, reference=None), reference=song.reference[:, :-50], method="model")
    assert close.reference_aligned and close.song.reference.shape == song.reference.shape


def test_a_model_that_cannot_mix_these_roles_or_is_missing_is_refused(corpus_songs: list, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="train"):
        mix(corpus_songs[0], method="model", model=tmp_path / "nothing")
    with pytest.raises(MixError, match="budget"):
        mix(corpus_songs[0], method="refine", budget=2)


def test_the_command_mixes_with_the_model(corpus_songs: list, tmp_path: Path, capsys) -> None:
    from mixenv.data import write_audio as write

    song = corpus_songs[0]
    folder = tmp_path / "song"
    for role, audio in song.stems.items():
        write(folder / f"{role}.wav", audio, song.sample_rate)
    write(folder / "reference.wav", song.reference, song.sample_rate)
    assert main(["mix", str(folder), "-o", str(tmp_path / "m.wav"), "--method", "model"]) == 0
    out = capsys.readouterr().out
    assert "did: model at intensity 1.00" in out and "(a mix of these stems)" in out
    assert main(["mix", str(folder), "-o", str(tmp_path / "n.wav"), "--method", "model", "--model", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_the_report_measures_each_stem_and_the_mix_before_and_after(stems: Path) -> None:
    from mixenv.report import MIX, settings_rows

    result = mix(stems, method="loudness", target_lufs=-16.0, report=True)
    report = result.report
    assert set(report.after) == {"vocals", "drums", "bass", MIX} == set(report.before)
    # The loudness method only moves faders: a broadband stem's spectrum moves by its fader's gain in every band.
    change = report.after["drums"].spectrum_db - report.before["drums"].spectrum_db
    assert np.median(change) == pytest.approx(result.settings["drums.gain_db"], abs=0.5)
    # The master's short-term loudness sits at the target all along (the stems are steady).
    assert np.median(report.after[MIX].loudness_lufs) == pytest.approx(-16.0, abs=1.0)
    assert report.reference is None and mix(stems, report=False).report is None
    headers, rows = settings_rows(result.settings, ("vocals", "drums", "bass"))
    assert [r[0] for r in rows] == ["vocals", "drums", "bass", "bus"] and len(headers) == len(rows[0])
    assert rows[1][1] == f"{result.settings['drums.gain_db']:+.1f}"


def test_the_command_draws_the_report(stems: Path, tmp_path: Path, capsys) -> None:
    png = tmp_path / "report.png"
    assert main(["mix", str(stems), "-o", str(tmp_path / "m.wav"), "--report", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"report {png}" in capsys.readouterr().out
    assert main(["mix", str(stems), "-o", str(tmp_path / "m2.wav"), "--report", str(png)]) == 2  # not overwritten


def test_excerpts_are_scored_as_mastered_so_a_level_change_alone_costs_nothing(corpus_songs: list) -> None:
    from mixenv.excerpts import SongExcerpts

    song = corpus_songs[3]
    space = ParamSpace(ROLES)
    excerpts = SongExcerpts(song, space, -14.0, weights=REFERENCE_WEIGHTS)
    neutral = space.neutral()
    louder = neutral.replace({f"{role}.gain_db": 6.0 for role in song.roles})  # every fader up 6 dB
    bright = neutral.replace({"master_high_shelf_db": 9.0})
    base, same, other = (excerpts.loss(s.normalized()) for s in (neutral, louder, bright))
    assert same == pytest.approx(base, abs=0.02)  # the master takes the level back
    assert abs(other - base) > 0.05  # a change of tone still counts


def test_excerpts_match_the_faders_to_the_references_balance(corpus_songs: list) -> None:
    from mixenv.data import Multitrack
    from mixenv.excerpts import SongExcerpts

    space = ParamSpace(ROLES)
    faders = [i for i, name in enumerate(space.names) if name.endswith(".gain_db")]

    def fader_error(vector: np.ndarray, truth: np.ndarray) -> float:  # around the median: the master sets the level
        return float(
            np.abs(vector[faders] - np.median(vector[faders]) - truth[faders] + np.median(truth[faders])).mean()
        )

    for song in corpus_songs[:3]:
        truth = song.settings.normalized()
        matched = SongExcerpts(song, space, -14.0).match_stems(space.neutral_vector())
        assert fader_error(matched, truth) < fader_error(space.neutral_vector(), truth)
    blind = Multitrack(song.name, song.sample_rate, song.stems)  # no reference: the faders by the convention
    balanced = SongExcerpts(blind, space, -14.0).match_stems(truth)
    moved = {space.names[i] for i in np.flatnonzero(balanced != truth)}
    assert moved and moved <= {space.names[i] for i in faders}


def test_excerpts_read_each_stems_mid_band_in_the_other_regions_of_its_range(corpus_songs: list) -> None:
    from mixenv.balance import MID_REGION_EDGES_HZ
    from mixenv.data import Multitrack
    from mixenv.excerpts import SongExcerpts

    space = ParamSpace(ROLES)
    song = corpus_songs[0]
    start = space.neutral_vector()
    centres = space.to_physical(start)
    readings = SongExcerpts(song, space, -14.0).mid_band_readings(start)
    assert len(readings) >= len(ROLES)  # every stem of the song sounds: one reading at least in each other region
    for changes in readings:
        role = next(iter(changes)).split(".")[0]
        assert set(changes) == {f"{role}.{c}" for c in ("low_shelf_db", "mid_db", "high_shelf_db", "mid_freq_hz")}
        region = np.digitize([changes[f"{role}.mid_freq_hz"], centres[f"{role}.mid_freq_hz"]], MID_REGION_EDGES_HZ)
        assert region[0] != region[1]
    blind = Multitrack(song.name, song.sample_rate, song.stems)
    with pytest.raises(ValueError, match="need a reference"):
        SongExcerpts(blind, space, -14.0).mid_band_readings(start)


def test_a_folder_is_mixed_in_blocks_to_the_file_as_it_would_be_whole(
    stems: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder is never read whole: every multitrack made while mixing it to a file is one block (or an excerpt),
    and the file holds what the mix in memory holds."""
    import mixenv.data.multitrack as multitrack
    import mixenv.mixing as mixing

    whole = mix(stems, method="loudness", report=True)
    monkeypatch.setattr(mixing, "BLOCK_SECONDS", 0.25)
    monkeypatch.setattr("mixenv.data.stems.SCAN_SECONDS", 0.25)
    lengths: list[int] = []
    post_init = multitrack.Multitrack.__post_init__

    def recorded(self) -> None:
        post_init(self)
        lengths.append(self.num_samples)

    monkeypatch.setattr(multitrack.Multitrack, "__post_init__", recorded)
    streamed = mix(stems, method="loudness", report=True, output=tmp_path / "m.wav", bit_depth=32)
    assert streamed.audio is None and streamed.output == tmp_path / "m.wav"
    assert lengths and max(lengths) == round(0.25 * SR)  # 2 s of stems, never more than a quarter second at once
    np.testing.assert_allclose(read_audio(tmp_path / "m.wav"), whole.audio, atol=2e-5)
    assert streamed.loudness_lufs == pytest.approx(whole.loudness_lufs, abs=1e-3)
    assert streamed.settings.normalized().tolist() == whole.settings.normalized().tolist()
    for track in whole.report.after:
        np.testing.assert_allclose(
            streamed.report.after[track].spectrum_db, whole.report.after[track].spectrum_db, atol=1e-3
        )


def test_live_estimates_run_in_a_worker_process_and_refuse_unknown_methods(corpus_songs: list) -> None:
    import pickle

    from mixenv.mixing import LiveEstimate

    window = dataclasses_replace(corpus_songs[0], reference=None)
    model = pickle.loads(pickle.dumps(LiveEstimate("model")))  # what a process pool sends its worker
    settings = model(window)
    assert (
        settings.space == ParamSpace(ROLES)
        and settings.normalized().tolist() != ParamSpace(ROLES).neutral_vector().tolist()
    )
    length = min(window.num_samples, round(EXCERPT_SECONDS * window.sample_rate))
    excerpt = window.segment(window.num_samples - length, length)
    placed = Renderer(window.sample_rate, ROLES).process_stems(excerpt.stems, settings)
    for role, stem in placed.items():  # its faders by the convention, on the excerpt it read as the strips play it
        assert integrated_lufs(stem, window.sample_rate) == pytest.approx(ROLE_LUFS[role], abs=0.05), role
    balanced = LiveEstimate("loudness")(window)
    levels = {
        r: integrated_lufs(np.broadcast_to(a, (2, a.shape[1])), window.sample_rate) for r, a in window.stems.items()
    }
    assert balanced["vocals.gain_db"] == pytest.approx(ROLE_LUFS["vocals"] - levels["vocals"], abs=1e-6)
    with pytest.raises(MixError, match="live estimate is one of model, loudness"):
        LiveEstimate("refine")


def test_the_model_runs_on_onnxruntime_with_the_same_settings(corpus_songs: list, tmp_path: Path) -> None:
    from supervised.default import default_model_path

    onnx = tmp_path / "default.onnx"
    assert main(["export", "--model", str(default_model_path()), "--out", str(onnx)]) == 0 and onnx.is_file()
    assert main(["export", "--model", str(default_model_path()), "--out", str(tmp_path / "x.pt")]) == 2
    song = corpus_songs[0]
    on_torch, on_onnx = mix(song, method="model"), mix(song, method="model", model=onnx, runtime="onnx")
    difference = np.abs(on_onnx.settings.normalized() - on_torch.settings.normalized())
    # The export's stated tolerance: round-off on most controls; one clip's largest difference was 1.2e-4 on an
    # AVX512 CPU (onnxruntime's kernels sum in another order), and a reference fit can move more (FP32_TOLERANCE).
    assert np.median(difference) <= export.FP32_TOLERANCE.typical and difference.max() <= export.FP32_TOLERANCE.worst
    with pytest.raises(MixError, match=r"needs --model MODEL\.onnx"):
        mix(song, method="model", runtime="onnx")
    with pytest.raises(MixError, match="runtime must be one of torch, onnx"):
        mix(song, method="model", runtime="tflite")
