"""Training, evaluation, the MixEnv policy adapter and the CVAE end to end, on the tiny corpus with a tiny backbone."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.episodes import evaluate_policy
from mixenv.backbone import BackboneConfig, load_backbone
from mixenv.clip import song_clips
from mixenv.data import write_audio
from mixenv.data.corpus import corpus_songs
from mixenv.env import MixEnv
from mixenv.features import FeatureConfig
from mixenv.fingerprint import weights_digest
from mixenv.loudness import integrated_lufs
from mixenv.params import ParamSpace
from mixenv.render import Renderer
from rewards.metrics import METRICS, MetricSuite
from rewards.spectral import SpectralReward
from supervised import train as train_module
from supervised.args import TrainArgs, parse_args
from supervised.checkpoint import load_model
from supervised.data import Remixing, fixed_batches, random_batch
from supervised.evaluate import evaluate_predictor, summarize_rows
from supervised.evaluate import main as evaluate_main
from supervised.inputs import InputError, batch_inputs, clip_logmels
from supervised.models import build_model
from supervised.policy import SupervisedPolicy
from supervised.predictors import (
    GroundTruthPredictor,
    LoudnessMatched,
    ModelPredictor,
    mean_predictor,
    neutral_predictor,
    songs_mean,
)
from supervised.run_state import epoch_weights
from supervised.train import TrainingData, load_training_data, train
from supervised.variations import evaluate_variations

from conftest import SR, medley_song, noise, tone

SPACE = ParamSpace()
NO_BACKBONE = {"fad": 0.0, "anomaly": 0.0}


@pytest.fixture(scope="module")
def data(tiny_corpus: Path) -> TrainingData:
    """The tiny corpus's log-mels: 4 train songs, 1 val song (borrowed from train: the corpus has no val split)."""
    return load_training_data(tiny_corpus, SPACE, FeatureConfig(), progress=False)


@pytest.fixture
def args(tiny_backbone: Path, tmp_path: Path) -> TrainArgs:
    """A fast run: 1 s clips, batches of 4, 3 epochs of 4 steps, 1 torch thread (bit-identical weights)."""
    return TrainArgs(
        model="cnn",
        epochs=3,
        out=tmp_path / "run",
        init_backbone=str(tiny_backbone),
        batch_size=4,
        clip_seconds=1.0,
        steps_per_epoch=4,
        lr=3e-3,
        width=32,
        progress=False,
    )


pytestmark = pytest.mark.usefixtures("one_thread")  # every test trains with one torch thread


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_model(run).module.state_dict()


def test_training_lowers_the_loss_and_changes_the_model(args: TrainArgs, data: TrainingData) -> None:
    args = dataclasses.replace(args, augment=(), reference_dropout=0.0, epochs=6)
    result = train(args, data)
    trained = load_model(result.out).module
    torch.manual_seed(args.seed)
    untrained = build_model(trained.config, load_backbone(args.init_backbone).module).eval()
    batches = fixed_batches(data.train, 44, 2, 8)
    with torch.no_grad():
        before = np.mean([untrained.training_loss(b.inputs, b.targets, b.masks)[0].item() for b in batches])
        after = np.mean([trained.training_loss(b.inputs, b.targets, b.masks)[0].item() for b in batches])
        batch = batches[0].inputs
        difference = (trained(*batch) - untrained(*batch)).abs().max().item()
    assert after < 0.5 * before
    assert difference > 0.05
    history = (result.out / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,steps,train_loss,val_loss,val_mse,val_mae") and len(history) == 7


def test_run_folder_holds_the_exact_config_and_per_control_logs(args: TrainArgs, data: TrainingData) -> None:
    result = train(args, data)
    assert {p.name for p in result.out.iterdir()} == {
        "config.json", "model.pt", "last.pt", "history.csv", "per_param.csv", "training.json",
    }  # fmt: skip
    loaded = load_model(result.out)
    assert loaded.training["args"]["model"] == "cnn" and loaded.training["model_config"]["width"] == 32
    assert loaded.training["init_backbone"] == str(args.init_backbone) and loaded.training["pretrained"] is True
    assert loaded.module.config.conv == BackboneConfig(widths=(4, 8, 8, 16), embedding_dim=16)
    per_param = (result.out / "per_param.csv").read_text().splitlines()
    assert per_param[0] == "epoch,control,mse,mae" and len(per_param) == 1 + 3 * SPACE.size
    assert set(result.validation["per_param"]) == set(SPACE.names)
    summary = json.loads((result.out / "training.json").read_text())
    assert summary["epochs"] == 3 and summary["steps"] == 12


def test_same_seed_gives_bit_identical_weights(args: TrainArgs, data: TrainingData, tmp_path: Path) -> None:
    runs = [
        train(dataclasses.replace(args, out=tmp_path / n, seed=s), data).out for n, s in [("a", 5), ("b", 5), ("c", 6)]
    ]
    a, b, c = (_weights(run) for run in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_an_interrupted_run_resumes_to_the_same_weights(
    args: TrainArgs, data: TrainingData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    straight = train(dataclasses.replace(args, out=tmp_path / "straight"), data).out
    validate = train_module._validate
    calls = []

    def interrupted(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return validate(*a, **k)

    monkeypatch.setattr(train_module, "_validate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(dataclasses.replace(args, out=tmp_path / "resumed"), data)
    monkeypatch.setattr(train_module, "_validate", validate)
    assert len((tmp_path / "resumed" / "history.csv").read_text().splitlines()) == 2  # epoch 1 was saved
    result = train(dataclasses.replace(args, out=tmp_path / "resumed", resume=True), data)
    assert result.epochs == 3
    expected, got = _weights(straight), _weights(result.out)
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def test_training_in_slices_gives_the_straight_runs_weights_epoch_by_epoch(
    args: TrainArgs, data: TrainingData, tmp_path: Path
) -> None:
    straight = train(dataclasses.replace(args, out=tmp_path / "straight"), data)
    first = train(dataclasses.replace(args, out=tmp_path / "sliced", stop_after=1), data)
    assert first.epochs == 1 and not first.stopped_early
    after_first = epoch_weights(first.out)
    rest = train(dataclasses.replace(args, out=tmp_path / "sliced", resume=True), data)
    assert rest.epochs == straight.epochs == 3
    every = epoch_weights(straight.out)
    assert after_first == every[:1] and epoch_weights(rest.out) == every and len(set(every)) == 3
    assert every[straight.best_epoch - 1] == weights_digest(load_model(straight.out).module)
    with pytest.raises(ValueError, match="stop_after"):
        dataclasses.replace(args, stop_after=0)


def test_an_existing_run_is_not_overwritten_and_resume_needs_a_run(args: TrainArgs, data: TrainingData) -> None:
    train(dataclasses.replace(args, epochs=1), data)
    with pytest.raises(FileExistsError, match="pass --resume to continue it"):
        train(args, data)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train(dataclasses.replace(args, out=args.out.parent / "elsewhere", resume=True), data)


def test_a_frozen_backbone_stays_as_it_was(args: TrainArgs, data: TrainingData, tiny_backbone: Path) -> None:
    result = train(dataclasses.replace(args, freeze_backbone=True, epochs=1), data)
    model = load_model(result.out).module
    initial = load_backbone(tiny_backbone).module.state_dict()
    assert all(torch.equal(v, initial[k]) for k, v in model.backbone.state_dict().items())
    torch.manual_seed(0)
    fresh = build_model(model.config, load_backbone(tiny_backbone).module)
    assert not torch.equal(model.mlp[-1].weight, fresh.mlp[-1].weight)


@pytest.mark.parametrize("name", ["crnn", "attention", "patch", "cvae"])
def test_every_model_trains_from_the_command_line_arguments(name: str, args: TrainArgs, data: TrainingData) -> None:
    init = "none" if name == "patch" else args.init_backbone
    result = train(dataclasses.replace(args, model=name, epochs=1, init_backbone=init, heads=2), data)
    loaded = load_model(result.out)
    assert loaded.module.config.name == name and np.isfinite(result.validation["loss"])
    if name == "patch":
        assert loaded.training["pretrained"] is False and "no pretrained weights" in loaded.training["note"]


def test_patch_model_refuses_a_pretrained_backbone(args: TrainArgs, data: TrainingData) -> None:
    with pytest.raises(ValueError, match=r"patch model has no pretrained weights.*--init-backbone none"):
        train(dataclasses.replace(args, model="patch"), data)


def test_a_missing_backbone_checkpoint_names_the_fix(args: TrainArgs, data: TrainingData, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"python -m mixenv\.pretrain --out"):
        train(dataclasses.replace(args, init_backbone=str(tmp_path / "missing.pt")), data)


def test_clips_longer_than_the_songs_are_refused(args: TrainArgs, data: TrainingData) -> None:
    with pytest.raises(ValueError, match="use a shorter clip_seconds"):
        train(dataclasses.replace(args, clip_seconds=5.0), data)


def test_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    out = capsys.readouterr().out
    for flag in ("--model", "--epochs", "--seed", "--out", "--init-backbone", "--freeze-backbone", "--augment",
                 "--resume", "{cnn,crnn,attention,patch,cvae}", "no pretrained weights"):  # fmt: skip
        assert flag in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--augment", "none"], ()),
        (["--augment", "all"], ("time", "freq", "noise", "gain")),
        (["--augment", "gain", "time"], ("gain", "time")),
    ],
)
def test_augment_option(argv: list[str], expected: tuple[str, ...]) -> None:
    assert parse_args(argv).augment == expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--augment", "all", "time"], "'all', 'none' or a list"),
        (["--augment", "pitch"], "unknown augmentations"),
        (["--model", "rnn"], "invalid choice"),
        (["--epochs", "0"], "must be >= 1"),
    ],
)
def test_bad_command_lines_are_refused(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert message in capsys.readouterr().err


def test_random_crops_align_stems_and_reference(data: TrainingData) -> None:
    rng = np.random.default_rng(0)
    batch = random_batch(data.train, np.array([0, 2]), 30, rng)
    starts = np.random.default_rng(0).integers(0, [data.train.stems[i].shape[-1] - 29 for i in (0, 2)])
    for row, (song, start) in enumerate(zip((0, 2), starts, strict=True)):
        expected = data.train.stems[song][..., start : start + 30].float() / 127.5 - 1
        torch.testing.assert_close(batch.inputs.stems[row], expected)
        reference = data.train.references[song][..., start : start + 30].float() / 127.5 - 1
        torch.testing.assert_close(batch.inputs.reference[row], reference)
    torch.testing.assert_close(batch.targets, data.train.targets[[0, 2]])


@pytest.fixture(scope="module")
def trained_run(tiny_backbone: Path, data: TrainingData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    args = TrainArgs(
        model="cnn",
        epochs=2,
        out=tmp_path_factory.mktemp("runs") / "cnn",
        init_backbone=str(tiny_backbone),
        batch_size=4,
        clip_seconds=1.0,
        steps_per_epoch=4,
        width=32,
        progress=False,
    )
    return train(args, data).out


def test_evaluation_measures_models_and_baselines_with_the_shared_metrics(
    trained_run: Path, tiny_corpus: Path, data: TrainingData
) -> None:
    clips = song_clips(corpus_songs(tiny_corpus, "test"), clip_seconds=1.0, clips_per_song=2)
    suite = MetricSuite(SpectralReward())
    truth = summarize_rows(evaluate_predictor(GroundTruthPredictor(SPACE), clips, suite))
    assert truth["metrics"]["mrstft"]["mean"] < 0.01 and truth["metrics"]["param_mae"]["mean"] == 0.0
    neutral_rows = evaluate_predictor(neutral_predictor(SPACE), clips, suite)
    expected_mae = np.abs(SPACE.neutral_vector() - clips[0].song.settings.normalized()).mean()
    assert neutral_rows[0]["param_mae"] == pytest.approx(expected_mae, rel=1e-6)
    assert neutral_rows[0]["mrstft"] > 0.1 and neutral_rows[0]["lufs_error"] >= 0
    for predictor in (ModelPredictor(trained_run), mean_predictor(data.train, SPACE)):
        rows = evaluate_predictor(predictor, clips, suite)
        summary = summarize_rows(rows)
        assert summary["metrics"]["param_mae"]["n"] == 2 and len(summary["per_control"]) == SPACE.size
        errors = np.array([row["errors"]["vocals.gain_db"] for row in rows])
        assert summary["per_control"]["vocals.gain_db"]["mae"] == pytest.approx(np.abs(errors).mean())
        assert summary["per_control"]["vocals.gain_db"]["mse"] == pytest.approx((errors**2).mean())
        overall = np.mean([np.abs(list(row["errors"].values())).mean() for row in rows])
        assert summary["metrics"]["param_mae"]["mean"] == pytest.approx(overall, rel=1e-5)  # metrics.py agrees
        assert np.isfinite(summary["metrics"]["mrstft"]["mean"])


def test_mean_predictor_is_the_mean_ground_truth(data: TrainingData, tiny_corpus: Path) -> None:
    np.testing.assert_allclose(mean_predictor(data.train, SPACE).vector, data.train.targets.mean(dim=0), rtol=1e-6)
    # The same settings from the songs alone (the benchmark's predict-the-mean), without their log-mels.
    songs = [song for song in corpus_songs(tiny_corpus, "train") if song.name in data.train.names]
    np.testing.assert_allclose(songs_mean(songs, SPACE), mean_predictor(data.train, SPACE).vector, rtol=1e-6)


def test_evaluate_command_writes_a_table_and_json(
    trained_run: Path, tiny_corpus: Path, tiny_reward_models: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    backbone, good_mix = tiny_reward_models
    argv = ["--model", str(trained_run), "--corpus", str(tiny_corpus), "--clip-seconds", "1.0", "--no-progress",
            "--backbone-path", str(backbone), "--good-mix-path", str(good_mix)]  # fmt: skip
    assert evaluate_main(argv) == 0
    out = capsys.readouterr().out
    assert "param_mae" in out and "vocals.gain_db" in out and "anomaly" in out
    result = json.loads((trained_run / "evaluation_test.json").read_text())
    assert set(result["summary"]["metrics"]) == set(METRICS)  # every metric of the one metrics module


def test_evaluate_command_names_a_missing_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluate_main(["--model", str(tmp_path / "nowhere")]) == 2
    assert "python -m supervised.train --model cnn --out" in capsys.readouterr().err


def test_the_policy_acts_in_mixenv_with_the_models_prediction(trained_run: Path, tiny_corpus: Path) -> None:
    env = MixEnv(
        data_path=str(tiny_corpus), split="test", clip_seconds=1.0, max_episode_steps=2, reward_weights=NO_BACKBONE
    )
    policy = SupervisedPolicy(trained_run)
    rows = evaluate_policy(policy, env)
    assert len(rows) == 1 and np.isfinite(rows[0]["mrstft"]) and np.isfinite(rows[0]["param_mae"])
    # The action is the model's prediction from the clip's raw stems, as the evaluation computes it (up to the
    # float32 round trip through physical settings).
    expected = ModelPredictor(trained_run).predict([env.clip])[0]
    np.testing.assert_allclose(env.current_settings.normalized(), expected, atol=1e-5)
    obs, _ = env.reset(seed=1)
    policy.reset(env)
    first = policy.act(obs, env)
    obs, *_ = env.step(first)
    np.testing.assert_array_equal(policy.act(obs, env), first)  # decided once per episode


def test_env_observation_matches_the_training_inputs(tiny_corpus: Path) -> None:
    env = MixEnv(data_path=str(tiny_corpus), split="test", clip_seconds=1.0, reward_weights=NO_BACKBONE)
    obs, _ = env.reset(seed=0)
    inputs = clip_logmels(env.clip, SPACE.roles, FeatureConfig())
    steps = np.abs(obs["stems"].astype(int) - inputs.stems.astype(int))
    assert np.median(steps) <= 1 and steps.mean() < 2  # the neutral strip's 20 Hz high-pass, within a step
    np.testing.assert_array_equal(obs["reference"], inputs.reference)


def test_the_policy_acts_in_any_mixenv_of_its_roles(trained_run: Path, tiny_corpus: Path, tiny_backbone: Path) -> None:
    options = {"data_path": str(tiny_corpus), "clip_seconds": 1.0, "reward_weights": NO_BACKBONE}
    env = MixEnv(**options, observation="embedding", backbone_path=str(tiny_backbone), initial_settings="random")
    obs, _ = env.reset(seed=0)
    policy = SupervisedPolicy(trained_run)
    policy.reset(env)
    np.testing.assert_array_equal(policy.act(obs, env), ModelPredictor(trained_run).predict([env.clip])[0])
    with pytest.raises(ValueError, match="roles="):
        policy.reset(MixEnv(**options, roles=(*SPACE.roles, "keys")))


def test_cvae_variations_are_rendered_scored_and_diverse(
    args: TrainArgs, data: TrainingData, tiny_corpus: Path
) -> None:
    run = train(dataclasses.replace(args, model="cvae", epochs=1), data).out
    env = MixEnv(data_path=str(tiny_corpus), split="test", clip_seconds=1.0, reward_weights=NO_BACKBONE)
    song = env.songs[0].name
    suite = MetricSuite(SpectralReward())
    rows = evaluate_variations(load_model(run), env, [(song, 1000)], suite, samples=4, seed=0)
    assert len(rows) == 1 and rows[0]["samples"] == 4 and rows[0]["episode_seed"] == 1000
    assert rows[0]["spread"] > 1e-3 and rows[0]["pairwise"] > 1e-3
    assert np.isfinite(rows[0]["mrstft"]) and np.isfinite(rows[0]["param_mae"])
    # Scored on the episode's clip: its samples, each played in that episode, measure the same.
    loaded = load_model(run)
    env.reset(seed=1000, options={"song": song})
    inputs = batch_inputs([clip_logmels(env.unwrapped.clip, SPACE.roles, loaded.features)], use_reference=False)
    with torch.no_grad():
        drawn = loaded.module.sample(inputs.stems, inputs.presence, 2, torch.Generator().manual_seed(0))[0].numpy()
    played = []
    for settings in drawn:
        env.reset(seed=1000, options={"song": song})
        env.step(settings)
        played.append(env.unwrapped.measure(suite)["mrstft"])
    again = evaluate_variations(loaded, env, [(song, 1000)], suite, samples=2, seed=0)
    assert again[0]["mrstft"] == pytest.approx(np.mean(played), rel=1e-6)
    cnn = train(dataclasses.replace(args, out=args.out.parent / "cnn", epochs=1), data).out
    with pytest.raises(TypeError, match="--model cvae"):
        evaluate_variations(load_model(cnn), env, [(song, 1000)], suite)


# --- remixes: the randomised training data, and training on stems without ground truth -----------------------------


def test_remixed_training_data_groups_several_remixes_per_song(tiny_corpus: Path) -> None:
    remixing = Remixing(mixes_per_song=3, excerpt_seconds=2.0, originals=False)
    data = load_training_data(tiny_corpus, SPACE, FeatureConfig(), remixing=remixing, progress=False)
    assert data.train.songs == 4 and len(data.train) == 12 and all(len(g) == 3 for g in data.train.groups)
    assert data.train.stems[0].shape[-1] == FeatureConfig().num_frames(2 * SR, SR)
    assert not torch.equal(data.train.targets[0], data.train.targets[1])  # each remix has its own settings
    order = data.train.epoch_order(np.random.default_rng(0))
    assert sorted(i // 3 for i in order) == [0, 1, 2, 3]  # every song once per epoch, through one of its remixes
    again = load_training_data(tiny_corpus, SPACE, FeatureConfig(), remixing=remixing, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(data.train.references, again.train.references, strict=True))
    with_originals = load_training_data(
        tiny_corpus, SPACE, FeatureConfig(), remixing=dataclasses.replace(remixing, originals=True), progress=False
    )
    assert len(with_originals.train) == 16 and with_originals.train.names[0] == data.train.names[0].split("#")[0]


def test_a_model_trains_on_remixes_with_clips_of_varied_length(args: TrainArgs, tiny_corpus: Path) -> None:
    changes = {"mixes_per_song": 2, "excerpt_seconds": 2.0, "min_clip_seconds": 0.5, "remix_rates": (22_050, 44_100)}
    result = train(dataclasses.replace(args, data_path=tiny_corpus, **changes))
    config = json.loads((result.out / "config.json").read_text())
    assert config["train_songs"] == 4 and config["train_examples"] == 3 * 4  # two remixes and the song's own mix
    assert np.isfinite(result.validation["loss"])


@pytest.fixture
def stems_only(tmp_path: Path, write_song) -> Path:
    """A folder collection of five songs with stems and no reference or settings (like a user's own)."""
    for i in range(5):
        write_song(
            tmp_path / "stems" / f"song {i}",
            {
                "Lead Vox.wav": tone(300 + 40 * i, 3.0, 0.1),
                "Kick.wav": noise(3.0, 0.05, seed=i),
                "Synth Bass.wav": tone(55, 3.0, 0.2),
            },
        )
    return tmp_path / "stems"


def test_stems_without_ground_truth_train_on_remixes(args: TrainArgs, stems_only: Path) -> None:
    result = train(
        dataclasses.replace(args, data="folder", data_path=stems_only, mixes_per_song=2, excerpt_seconds=2.0)
    )
    assert np.isfinite(result.validation["loss"]) and load_model(result.out).module.space == SPACE


def test_stems_without_ground_truth_need_remixes(stems_only: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--data", "musdb18hq", "--data-path", "/data/musdb"])
    assert "--mixes-per-song 4" in capsys.readouterr().err
    with pytest.raises(InputError, match="remixes of its stems instead"):
        load_training_data(stems_only, SPACE, FeatureConfig(), source="folder", progress=False)


@pytest.mark.parametrize("layout", ["musdb18hq", "medleydb"])
def test_real_collection_layouts_train_on_remixes(args: TrainArgs, tmp_path: Path, layout: str) -> None:
    root = tmp_path / layout
    names = ["Actions - One Minute Smile", "Artist A - Song One", "Artist C - Song Three"]  # the first is MUSDB val
    for i, name in enumerate(names):
        stems = {"vocals": tone(300 + 50 * i, 3.0, 0.1), "drums": noise(3.0, 0.05, seed=i), "bass": tone(60, 3.0, 0.2)}
        stems["other"] = noise(3.0, 0.01, seed=i + 9)
        if layout == "musdb18hq":
            for role, audio in stems.items():
                write_audio(root / "train" / name / f"{role}.wav", audio, SR)
            write_audio(root / "train" / name / "mixture.wav", sum(np.repeat(a, 2, axis=0) for a in stems.values()), SR)
        else:
            medley_song(
                root,
                name.replace(" ", "_"),
                [
                    ("male singer", stems["vocals"]),
                    ("drum set", stems["drums"]),
                    ("electric bass", stems["bass"]),
                    ("piano", stems["other"]),
                ],
            )
    result = train(dataclasses.replace(args, data=layout, data_path=root, mixes_per_song=2, excerpt_seconds=2.0))
    config = json.loads((result.out / "config.json").read_text())
    assert config["data"].startswith(layout) and config["train_songs"] + config["val_songs"] == 3


def test_loudness_matching_lands_the_mix_on_the_references_loudness(trained_run: Path, tiny_corpus: Path) -> None:
    clips = [c.excerpt for c in song_clips(corpus_songs(tiny_corpus), clip_seconds=2.0, preroll_seconds=0.0)]
    for use_reference, target in ((True, None), (False, -16.0)):
        predictor = LoudnessMatched(ModelPredictor(trained_run, use_reference=use_reference), target_lufs=-16.0)
        for clip, vector in zip(clips, predictor.predict(clips), strict=True):
            mix = Renderer(SR).render(clip.stems, SPACE.to_physical(vector)).mix
            wanted = integrated_lufs(clip.reference, SR) if target is None else target
            assert integrated_lufs(mix, SR) == pytest.approx(wanted, abs=0.3)
    assert predictor.name.endswith("loudness matched")
