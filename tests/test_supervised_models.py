"""Supervised models, their inputs, augmentation, checkpoints and the CVAE, on tiny backbones and generated data."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mixenv.backbone import Backbone, BackboneConfig
from mixenv.data import Multitrack
from mixenv.features import FeatureConfig, normalize_db, to_uint8
from mixenv.match import ReferenceMatch
from mixenv.params import ParamSpace
from mixenv.render import Renderer
from supervised.augment import AugmentConfig, Augmenter, add_noise, gain_jitter, mask_spans
from supervised.checkpoint import LoadedModel, load_model, save_model
from supervised.data import Batch
from supervised.inputs import InputError, ModelInputs, clip_logmels
from supervised.models import MODEL_NAMES, MixModel, ModelConfig, PatchBackbone, PatchConfig, build_model, preset
from supervised.variations import pairwise_distance, settings_spread

from conftest import SR, noise, tone

TINY_CONV = BackboneConfig(widths=(4, 8, 8, 16), embedding_dim=16)
TINY_PATCH = PatchConfig(embedding_dim=16, depth=1, heads=2)
SPACE = ParamSpace()


def tiny(name: str, **changes) -> MixModel:
    """A small seeded model of preset ``name``, in eval mode."""
    torch.manual_seed(0)
    config = preset(name, conv=TINY_CONV, patch=TINY_PATCH, width=16, heads=2, **changes)
    return build_model(config).eval()


def batch_inputs(batch: int = 3, frames: int = 44, seed: int = 0) -> ModelInputs:
    """Random log-mels in [-1, 1]; row 1 lacks drums, row 2 has only the last stem."""
    g = torch.Generator().manual_seed(seed)
    stems = torch.rand((batch, 4, 64, frames), generator=g) * 2 - 1
    presence = torch.ones(batch, 4)
    presence[1, 1] = 0
    presence[2, :3] = 0
    stems[presence == 0] = -1.0
    return ModelInputs(stems, presence, torch.rand((batch, 2, 64, frames), generator=g) * 2 - 1)


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("with_reference", [True, False])
def test_every_model_maps_a_batch_to_bounded_finite_settings(name: str, with_reference: bool) -> None:
    stems, presence, reference = batch_inputs()
    out = tiny(name)(stems, presence, reference if with_reference else None)
    assert out.shape == (3, SPACE.size) and out.dtype == torch.float32
    assert torch.isfinite(out).all() and out.abs().max() <= 1.0
    assert out.std(dim=0).max() > 0  # different clips, different settings


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_an_absent_stems_content_does_not_matter(name: str) -> None:
    stems, presence, reference = batch_inputs()
    model = tiny(name)
    changed = stems.clone()
    changed[1, 1] = torch.rand(64, 44) * 2 - 1  # row 1 lacks drums: whatever sits in its slot is ignored
    with torch.no_grad():
        torch.testing.assert_close(model(changed, presence, reference), model(stems, presence, reference))
        changed[0, 1] = 0.0  # a present stem does count
        assert (model(changed, presence, reference)[0] - model(stems, presence, reference)[0]).abs().max() > 1e-6


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s, p, r: (s[:, :3], p[:, :3], r), r"stems must be shaped \(batch, 4 stems vocals/drums/bass/other"),
        (lambda s, p, r: (to_uint8(s.numpy()), p, r), "from_uint8"),
        (lambda s, p, r: (torch.from_numpy(to_uint8(s.numpy())), p, r), "from_uint8"),
        (lambda s, p, r: (s, p, r[..., :40]), "pass reference=None for reference-free"),
        (lambda s, p, r: (s, p[:, :3], r), r"presence must be shaped \(3, 4\)"),
        (lambda s, p, r: (s, torch.zeros_like(p), r), "at least one present stem"),
        (lambda s, p, r: (s[..., :2], p, None), "at least 4 frames"),
    ],
)
def test_bad_inputs_are_refused_with_the_fix(change, message: str) -> None:
    stems, presence, reference = batch_inputs()
    with pytest.raises(InputError, match=message):
        tiny("cnn")(*change(stems, presence, reference))


def test_attention_weights_show_which_stem_each_group_attends_to() -> None:
    stems, presence, reference = batch_inputs()
    model = tiny("attention")
    with torch.no_grad():
        attention = model.stem_attention(stems, presence, reference)
        reference_free = model.stem_attention(stems, presence, None)
    assert attention.queries == ("vocals", "drums", "bass", "other", "master")
    assert attention.segments == ("vocals", "drums", "bass", "other", "reference")
    assert attention.weights.shape == (3, 5, 5)
    torch.testing.assert_close(attention.weights.sum(dim=-1), torch.ones(3, 5))
    assert (attention.weights[1, :, 1] == 0).all() and (attention.weights[2, :, :3] == 0).all()  # absent stems
    assert (attention.weights[0] > 0.01).all()  # an untrained model spreads its attention over every segment
    assert (reference_free.weights[..., 4] == 0).all()
    torch.testing.assert_close(reference_free.weights.sum(dim=-1), torch.ones(3, 5))


@pytest.mark.parametrize("frames", [44, 87, 174])
def test_patch_backbone_has_the_backbone_interface(frames: int) -> None:
    logmel = torch.rand(2, 2, 64, frames) * 2 - 1
    conv, patch = Backbone(TINY_CONV).eval(), PatchBackbone(TINY_PATCH).eval()
    out, expected = patch(logmel), conv(logmel)
    assert out.embedding.shape == expected.embedding.shape == (2, 16)
    assert out.frames.shape == (2, frames // 4, 16)
    assert abs(out.frames.shape[1] - expected.frames.shape[1]) <= 1  # the same frame rate, up to rounding


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_checkpoint_round_trip_reproduces_predictions_exactly(name: str, tmp_path: Path) -> None:
    stems, presence, reference = batch_inputs()
    model = tiny(name)
    save_model(tmp_path / "run" / "model.pt", LoadedModel(model, FeatureConfig(), SR, {"note": "test"}))
    loaded = load_model(tmp_path / "run")  # the run folder or the file
    assert loaded.module.config == model.config and loaded.sample_rate == SR and loaded.training == {"note": "test"}
    with torch.no_grad():
        assert torch.equal(loaded.module(stems, presence, reference), model(stems, presence, reference))


def test_missing_or_foreign_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"python -m supervised.train --model cnn --out .*nowhere"):
        load_model(tmp_path / "nowhere")
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a mixenv supervised model checkpoint; train the model again"):
        load_model(tmp_path / "other.pt")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kernel_size": 4}, "kernel_size must be odd"),
        ({"head": "lstm"}, "head must be one of"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"width": 6, "head": "attention", "heads": 4}, "multiple of 2 \\* heads"),
        ({"floor_db": 80.0}, "floor_db must be negative"),
    ],
)
def test_bad_model_configs_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModelConfig(**changes)


def test_config_survives_its_dict_form() -> None:
    config = preset("patch", conv=TINY_CONV, patch=TINY_PATCH, depth=3)
    assert ModelConfig.from_dict(config.to_dict()) == config
    assert config.reference_match
    older = {k: v for k, v in config.to_dict().items() if k != "reference_match"}  # saved before matching existed
    assert ModelConfig.from_dict(older) == dataclasses.replace(config, reference_match=False)
    without_floor = {k: v for k, v in config.to_dict().items() if k != "floor_db"}  # saved before the floor was
    assert ModelConfig.from_dict(without_floor).floor_db == FeatureConfig().floor_db  # the only floor used then


def test_reference_matching_reads_the_floor_of_the_features_it_is_given() -> None:
    # The same audio normalised with two floors: the fitted gains must agree once each model knows its floor.
    stems_db = -20.0 - 30.0 * torch.rand(2, 4, 64, 40, generator=torch.Generator().manual_seed(0))
    reference_db = 10 * torch.log10((10 ** (stems_db / 10)).sum(dim=1, keepdim=True)).expand(-1, 2, -1, -1)
    presence = torch.ones(2, 4)
    features = []
    for floor in (-80.0, -100.0):
        match = ReferenceMatch(64, floor_db=floor)
        features.append(match(normalize_db(stems_db, floor), presence, normalize_db(reference_db, floor)))
    torch.testing.assert_close(features[0], features[1], atol=1e-3, rtol=1e-3)


def test_cvae_samples_differ_from_each_other() -> None:
    stems, presence, _ = batch_inputs()
    model = tiny("cvae")
    with torch.no_grad():
        samples = model.sample(stems, presence, 6, torch.Generator().manual_seed(0)).numpy()
        again = model.sample(stems, presence, 6, torch.Generator().manual_seed(0)).numpy()
    assert samples.shape == (3, 6, SPACE.size) and np.abs(samples).max() <= 1.0
    np.testing.assert_array_equal(samples, again)  # seeded
    assert settings_spread(samples[0]) > 1e-3 and pairwise_distance(samples[0]) > 1e-3
    assert len({s.tobytes() for s in samples[0]}) == 6


def test_cvae_kl_under_the_free_bits_costs_nothing() -> None:
    inputs = batch_inputs()
    targets = torch.rand(3, SPACE.size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    masks = torch.ones_like(targets)
    reconstruction = tiny("cvae", beta=0.0).training_loss(inputs, targets, masks)[0].item()
    # Every dimension's KL lies far under a 1000-nat allowance: the KL term is the constant beta * latent * 1000.
    free = tiny("cvae", free_bits=1e3).training_loss(inputs, targets, masks)[0].item()
    assert free == pytest.approx(reconstruction + 0.01 * 8 * 1e3, rel=1e-6)
    charged = tiny("cvae", free_bits=0.0).training_loss(inputs, targets, masks)[0].item()
    assert charged > reconstruction  # without free bits the KL is charged in full


def test_diversity_measures_have_their_meaning() -> None:
    same = np.zeros((4, 3))
    assert settings_spread(same) == 0.0 and pairwise_distance(same) == 0.0
    two = np.array([[0.0, 0.0, 5.0], [1.0, -1.0, 5.0]])
    assert settings_spread(two, mask=np.array([1, 1, 0])) == pytest.approx(0.5)  # std of (0, 1) is 0.5
    assert pairwise_distance(two, mask=np.array([1, 1, 0])) == pytest.approx(1.0)


def _augment_batch(batch: int = 4) -> Batch:
    stems, presence, reference = batch_inputs(batch, frames=60)
    stems = stems.clamp(-0.5, 0.5)  # away from the clipping edges, so shifts are exact
    targets = torch.from_numpy(np.stack([SPACE.neutral_vector()] * batch))
    return Batch(ModelInputs(stems, presence, reference), targets, torch.ones(batch, SPACE.size))


@pytest.mark.parametrize(("dim", "size"), [(-1, 60), (-2, 64)])
def test_masks_silence_at_most_the_given_spans(dim: int, size: int) -> None:
    x = _augment_batch().inputs.stems
    out = mask_spans(x, dim, 2, 7, torch.Generator().manual_seed(1))
    other = -2 if dim == -1 else -1
    masked = (out == -1.0).all(dim=other)  # (batch, stems, size): positions silenced across the whole other axis
    changed = (out != x).any(dim=other)
    assert torch.equal(changed, masked & (x != -1.0).any(dim=other))  # nothing but whole spans changes
    counts = masked.sum(dim=-1)[x.amax(dim=(-1, -2)) > -1]
    assert counts.max() <= 14 and counts.sum() > 0  # two spans of at most 7
    assert torch.equal(out[~masked.unsqueeze(other).expand_as(out)], x[~masked.unsqueeze(other).expand_as(x)])


def test_noise_has_the_given_strength() -> None:
    x = torch.zeros(8, 4, 64, 60)
    out = add_noise(x, 0.02, torch.Generator().manual_seed(0))
    assert float(out.std()) == pytest.approx(0.02, rel=0.02) and float(out.mean()) == pytest.approx(0.0, abs=1e-3)


def test_gain_jitter_shifts_stems_in_db_and_moves_fader_and_threshold() -> None:
    batch = _augment_batch()
    stems, presence = batch.inputs.stems, batch.inputs.presence
    shifted, targets, shift_db = gain_jitter(
        stems, presence, batch.targets, SPACE, FeatureConfig(), 6.0, torch.Generator().manual_seed(0)
    )
    assert shift_db.abs().max() <= 6.0 and shift_db.abs().max() > 1.0
    assert (shift_db[presence == 0] == 0).all()
    # Log-mel: x = dB / 40 + 1, so every bin of a stem moves by its shift / 40.
    torch.testing.assert_close(shifted - stems, (shift_db / 40.0)[..., None, None].expand_as(stems))
    for row in range(len(targets)):
        before, after = SPACE.to_physical(batch.targets[row].numpy()), SPACE.to_physical(targets[row].numpy())
        for r, role in enumerate(SPACE.roles):
            g = float(shift_db[row, r])
            assert after[f"{role}.gain_db"] == pytest.approx(before[f"{role}.gain_db"] - g, abs=1e-4)
            assert after[f"{role}.comp_threshold_db"] == pytest.approx(
                before[f"{role}.comp_threshold_db"] + g, abs=1e-4
            )
        unchanged = [i for i, n in enumerate(SPACE.names) if not n.endswith(("gain_db", "comp_threshold_db"))]
        np.testing.assert_array_equal(targets[row, unchanged], batch.targets[row, unchanged])


def test_gain_jitter_keeps_targets_inside_their_ranges() -> None:
    batch = _augment_batch()
    targets = batch.targets.clone()
    targets[:, SPACE.index("vocals.gain_db")] = 1.0  # +12 dB: the fader cannot go up, so the stem can only get hotter
    targets[:, SPACE.index("drums.comp_threshold_db")] = 1.0  # 0 dBFS: the threshold cannot rise: only quieter
    _, moved, shift_db = gain_jitter(
        batch.inputs.stems, batch.inputs.presence, targets, SPACE, FeatureConfig(), 6.0,
        torch.Generator().manual_seed(3),
    )  # fmt: skip
    assert (shift_db[:, 0] >= 0).all() and (shift_db[:, 1] <= 0).all()
    assert moved.abs().max() <= 1.0


def test_a_hotter_stem_with_the_moved_fader_and_threshold_mixes_to_the_same_audio() -> None:
    """The premise of gain jitter, checked on the renderer itself."""
    stems = {"vocals": tone(440, 1.0, 0.3), "drums": noise(1.0, 0.2, channels=2, seed=1), "bass": tone(80, 1.0, 0.3)}
    settings = SPACE.from_dict(
        {role: {"comp_threshold_db": -20.0, "comp_ratio": 4.0, "gain_db": -3.0, "low_shelf_db": 3.0} for role in stems},
        {},
    )
    renderer = Renderer(SR)
    g = 5.0
    hotter = dict(stems, vocals=stems["vocals"] * 10 ** (g / 20))
    moved = settings.replace({"vocals.gain_db": -3.0 - g, "vocals.comp_threshold_db": -20.0 + g})
    np.testing.assert_allclose(renderer.render(hotter, moved).mix, renderer.render(stems, settings).mix, atol=1e-5)


def test_augmenter_runs_the_enabled_augmentations_only() -> None:
    batch = _augment_batch()
    g = torch.Generator().manual_seed(0)
    untouched = Augmenter(AugmentConfig(enabled=()), SPACE, FeatureConfig())(batch, g)
    assert torch.equal(untouched.inputs.stems, batch.inputs.stems) and torch.equal(untouched.targets, batch.targets)
    masked = Augmenter(AugmentConfig(enabled=("time",)), SPACE, FeatureConfig())(batch, g)
    assert torch.equal(masked.targets, batch.targets) and (masked.inputs.stems == -1).sum() > 0
    assert not torch.equal(masked.inputs.reference, batch.inputs.reference)  # the reference is masked too
    with pytest.raises(ValueError, match="unknown augmentations"):
        AugmentConfig(enabled=("pitch",))


def _song(rate: int = SR, **stems: np.ndarray) -> Multitrack:
    stems = stems or {"vocals": tone(440, 1.0, 0.1, sr=rate), "bass": tone(80, 1.0, 0.2, sr=rate)}
    mix = sum(np.repeat(a, 2, axis=0) if a.shape[0] == 1 else a for a in stems.values())
    return Multitrack("song", rate, stems, reference=mix)


def test_clip_inputs_are_uint8_images_with_silence_for_absent_stems() -> None:
    logmels = clip_logmels(_song(), SPACE.roles, FeatureConfig())
    assert logmels.stems.dtype == np.uint8 and logmels.stems.shape == (4, 64, 44)
    np.testing.assert_array_equal(logmels.presence, [1, 0, 1, 0])
    assert (logmels.stems[[1, 3]] == 0).all()  # absent: the -80 dB floor
    peak_db = 80.0 * (logmels.stems[0].max() / 255.0 - 1.0)
    assert peak_db == pytest.approx(-20.0, abs=2.5)  # a sine of amplitude 0.1 reads about -20 dB in its band
    assert logmels.reference is not None and logmels.reference.shape == (2, 64, 44)


def test_too_low_a_sample_rate_is_refused_with_the_fix() -> None:
    with pytest.raises(InputError, match=r"LoadPolicy\(sample_rate=22050, on_rate_mismatch='resample'\)"):
        clip_logmels(_song(16_000), SPACE.roles, FeatureConfig())
    assert clip_logmels(_song(44_100), SPACE.roles, FeatureConfig()).stems.shape == (4, 64, 44)  # same grid


def test_unknown_roles_are_refused_with_the_fix() -> None:
    with pytest.raises(InputError, match=r"has stems \['guitar'\].*load_folder"):
        clip_logmels(_song(guitar=tone(200, 1.0)), SPACE.roles, FeatureConfig())


def _normalised_logmel(power: torch.Tensor) -> torch.Tensor:
    """Power -> the log-mel scale of mixenv.features (-80 dB -> -1, 0 dB -> +1)."""
    return (2 * 10 * torch.log10(power) / 80 + 1).clamp(-1, 1)


def test_reference_matching_reads_gains_pans_and_compression_off_the_reference() -> None:
    generator = torch.Generator().manual_seed(0)
    power = 10 ** (-4 + 2 * torch.rand(1, 4, 64, 80, generator=generator))  # -40..-20 dB everywhere
    presence = torch.tensor([[1.0, 1.0, 0.0, 1.0]])
    power[:, 2] = 0.5  # an absent stem's slot holds anything: it must not take part
    # Vocals +3 dB left / -3 dB right; drums -6 dB in the loud half of their frames only (compressed);
    # "other" +10 dB in the top 16 mels only (a high shelf).
    loud = power[:, 1].sum(dim=1) > power[:, 1].sum(dim=1).median()
    drums = power[:, 1] * torch.where(loud, 10**-0.6, 1.0)[:, None, :]
    other = power[:, 3].clone()
    other[:, 48:] *= 10.0
    reference = torch.stack([2 * power[:, 0] + drums + other, 0.5 * power[:, 0] + drums + other], dim=1)
    match = ReferenceMatch(64)
    features = match(_normalised_logmel(power), presence, _normalised_logmel(reference)).reshape(1, 4, 16, 5) * 20
    gains = features[0, ..., :4]  # dB: loud L, loud R, quiet L, quiet R per band group
    torch.testing.assert_close(gains[0], torch.tensor([3.01, -3.01, 3.01, -3.01]).expand(16, 4), atol=0.2, rtol=0)
    torch.testing.assert_close(gains[1], torch.tensor([-6.0, -6.0, 0.0, 0.0]).expand(16, 4), atol=0.2, rtol=0)
    torch.testing.assert_close(gains[3, :12], torch.zeros(12, 4), atol=0.2, rtol=0)
    torch.testing.assert_close(gains[3, 12:], torch.full((4, 4), 10.0), atol=0.2, rtol=0)
    assert torch.all(features[0, 2] == 0)  # absent: zeros
    level_db = 10 * math.log10((1e-2 - 1e-4) / (2 * math.log(10)))  # mean power of 10 ** U(-4, -2)
    torch.testing.assert_close(features[0, 0, :, 4], torch.full((16,), level_db), atol=1.0, rtol=0)
