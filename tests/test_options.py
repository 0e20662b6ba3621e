"""The improvement options against the selector's collapse (``dpp``, ``spread``, ``select``,
``novelty``, ``pooled``, ``windows``, ``recurrence``, ``count``):
each changes the updates of both trainers of -sl and AAE, the reference configuration computes
nothing of them, each term has the property that motivates it, bad values are clear errors, and
the runner trains an option by name into a folder of its own."""

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from course_lib.config import IMPROVEMENTS, improvement
from course_lib.errors import CourseError
from course_lib.experiments_cli import main
from course_lib.models import sum_gan_sl as sl
from course_lib.models.sequences import cut_into_windows, window_bounds
from tests.summarizer_helpers import (
    FEATURES,
    PARITY,
    VARIANTS,
    faithful_parameters,
    max_relative_difference,
    novelties,
    tiny_config,
    videos,
)

OPTIONS = list(IMPROVEMENTS)
# The options that change the updates of the model the reference trains; count changes what
# it reads (its test shows the reference's updates on the features with the count joined).
CHANGING_THE_UPDATES = [o for o in OPTIONS if o != "count"]


def option_fields(option):
    """The option's configuration fields, with windows of 3 steps: shorter than the test
    videos, so that they cut them."""
    fields = improvement(option)
    if "reconstruction_window" in fields:
        fields["reconstruction_window"] = 3
    return fields


# ---------------------------------------------------------------- the updates

@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("option", CHANGING_THE_UPDATES)
def test_each_option_changes_the_faithful_updates(variant, option):
    """Six videos, one per update: the reference's updates (the plain implementation) and the
    course's with the option part ways."""
    model, plain = faithful_parameters(variant, tiny_config(variant, **PARITY,
                                                            **option_fields(option)))
    assert max_relative_difference(model, plain) > 1e-4


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("option", CHANGING_THE_UPDATES)
def test_each_option_changes_the_fast_updates(variant, option):
    """Two updates on a padded batch of three videos, from the same weights: the selector's
    parameters differ from the unmodified model's, and every logged value is finite. (An
    option that changes only the discriminator's update reaches the selector in the second.)"""
    def two_updates(config):
        model = variant.method.build(config, seed=0).double()
        data = videos([5, 9, 3])
        optimizers, generator = sl.make_optimizers(model, config), torch.Generator().manual_seed(0)
        for _ in range(2):
            logged = sl.train_step(model, optimizers, sl.make_batch(model, data, novelties(data)),
                                   config, generator)
        return model, logged

    plain_config = tiny_config(variant, videos_per_update=3, **PARITY)
    plain, _ = two_updates(plain_config)
    changed, logged = two_updates(tiny_config(variant, videos_per_update=3, **PARITY,
                                              **option_fields(option)))
    assert all(torch.isfinite(torch.tensor(v)) for v in logged.values())
    assert max_relative_difference(changed.selector, plain.selector) > 1e-4


@pytest.mark.parametrize("variant", VARIANTS)
def test_count_makes_the_references_updates_on_the_features_with_the_count(variant):
    """The count option changes what the model reads, not how it learns: its faithful
    updates are the plain reference's on each video's features with the count joined."""
    model, plain = faithful_parameters(variant, tiny_config(variant, **PARITY,
                                                            **improvement("count")))
    assert model.compress.in_features == plain.linear_compress.in_features == model.feature_dim + 1
    assert max_relative_difference(model, plain) < variant.tolerance


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_count_model_starts_as_the_unmodified_model_of_its_seed(variant):
    """Every weight as the unmodified model's of the same seed, and the count's column of the
    compression layer at 0: the two untrained models score every video alike."""
    config = tiny_config(variant, **improvement("count"))
    counting = variant.method.build(config, seed=0).state_dict()
    plain = variant.method.build(replace(config, recurrence_input=False), seed=0).state_dict()
    assert counting.keys() == plain.keys()
    for name, weights in plain.items():
        if name == "compress.weight":
            torch.testing.assert_close(counting[name][:, :-1], weights, rtol=0, atol=0)
            assert not counting[name][:, -1].any()
        else:
            torch.testing.assert_close(counting[name], weights, rtol=0, atol=0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_count_changes_the_fast_updates_through_its_count_only(variant):
    """From the same seed, one fast update on a padded batch moves a count model's selector as
    the unmodified model's (without clipping, which would also count the column's gradient):
    its column starts at 0. With the column at 0.1 the update differs."""
    def selector_after_one_update(config, column=None):
        model = variant.method.build(config, seed=0).double()
        if column is not None:
            with torch.no_grad():
                model.compress.weight[:, -1] = column
        data = videos([5, 9, 3])
        sl.train_step(model, sl.make_optimizers(model, config),
                      sl.make_batch(model, data), config, torch.Generator().manual_seed(0))
        return model.selector

    unclipped = {**PARITY, "grad_clip": 1e9}
    plain = selector_after_one_update(tiny_config(variant, videos_per_update=3, **unclipped))
    counting = tiny_config(variant, videos_per_update=3, **unclipped, **improvement("count"))
    assert max_relative_difference(selector_after_one_update(counting), plain) < 1e-9
    assert max_relative_difference(selector_after_one_update(counting, 0.1), plain) > 1e-4


def test_the_count_is_kept_per_video_and_never_stale():
    """A video seen before gets its kept count; a changed one its own."""
    from course_lib.data.synthetic_videos import feature_recurrence

    video = scenes(4, dim=FEATURES)[0].numpy()
    first = sl.video_recurrence(video)
    assert sl.video_recurrence(video.copy()) is first
    changed = video.copy()
    changed[:10] = video[20:30]  # the first scene now shows what the third shows
    np.testing.assert_array_equal(sl.video_recurrence(changed), feature_recurrence(changed))
    assert not np.array_equal(sl.video_recurrence(changed), first)


def test_count_joins_how_many_separate_times_the_video_shows_a_step(smoke_data):
    """Each step reads, beside its features, the recurrence formula of its video computed from
    the features alone (the dataset's shots are the KTS segments of those features), times its
    feature norm; the reference model reads the features unchanged."""
    from course_lib.evaluation import shot_recurrence

    data, _ = smoke_data
    variant = VARIANTS[1].values[0]
    config = replace(variant.method.config("smoke", verbose=False), **improvement("count"))
    model, reference = (variant.method.build(c, 0) for c in (config, replace(
        config, recurrence_input=False)))
    counts = []
    for key in data.keys():
        video = torch.from_numpy(data[key].features)
        prepared = model.prepare(video)[0]
        assert torch.equal(prepared[:, :-1], video) and torch.equal(
            reference.prepare(video)[0], video)
        counts.append(prepared[:, -1] / video.norm(dim=-1))
        assert counts[-1].tolist() == pytest.approx(shot_recurrence(data[key]).tolist(),
                                                    rel=1e-5)
    assert any(c.min() < c.max() for c in counts)  # some video shows a scene more than once


def test_the_reference_configuration_computes_nothing_of_the_options():
    """Off, the options are not there at all: no added term, and the encoder reads exactly
    x · s (so the parity tests of the faithful trainer hold bit for bit as before)."""
    config = tiny_config(VARIANTS[0].values[0])
    scores, x = torch.rand(2, 7), torch.randn(2, 7, 3)
    batch = sl.VideoBatch(torch.randn(2, 7, 4), novelty=torch.rand(2, 7))
    assert sl.improvement_terms(scores, batch, config) == {}
    assert sl.selected_share(config) is None
    assert torch.equal(sl.encoder_input(x, scores), x * scores.unsqueeze(-1))


# ---------------------------------------------------------------- what each term is for

def scenes(n_scenes=4, steps=10, dim=32, seed=0):
    """Made-up features [1, n_scenes · steps, dim]: steps of one scene near its own centre."""
    g = torch.Generator().manual_seed(seed)
    centres = 3 * torch.randn(n_scenes, dim, generator=g, dtype=torch.float64)
    return torch.cat([c + 0.1 * torch.randn(steps, dim, generator=g, dtype=torch.float64)
                      for c in centres]).unsqueeze(0)


def high_at(steps, total=40, high=0.9, low=0.05):
    scores = torch.full((1, total), low, dtype=torch.float64)
    scores[0, steps] = high
    return scores


def test_dpp_prefers_a_diverse_selection_to_a_redundant_one():
    features = scenes()
    diverse = sl.dpp_loss(high_at([0, 10, 20, 30]), features, 0.1)  # one step of each scene
    redundant = sl.dpp_loss(high_at([0, 1, 2, 3]), features, 0.1)  # four steps of one scene
    constant = sl.dpp_loss(torch.full((1, 40), 0.1, dtype=torch.float64), features, 0.1)
    assert diverse < redundant < constant


def test_spread_is_met_by_a_selection_and_not_by_a_constant():
    sigma = 0.1
    selection = high_at(list(range(4)), high=1.0, low=0.0)  # 4 of 40 steps: a σ share
    assert float(sl.spread_loss(selection, sigma)) == pytest.approx(0, abs=1e-5)
    for value in (sigma, 0.5):
        constant = torch.full((1, 40), value, dtype=torch.float64)
        assert float(sl.spread_loss(constant, sigma)) == pytest.approx(1, abs=1e-5)
    assert sl.spread_loss(high_at([0, 10, 20, 30]), sigma) < sl.spread_loss(
        torch.full((1, 40), sigma, dtype=torch.float64), sigma)


def test_novelty_is_lowest_when_the_novel_shot_scores_high():
    """A ranking term: highest scores on the most novel steps beat the same scores elsewhere,
    a constant is 0 whatever its value, and the gradient pulls a constant apart along the
    novelty (up on novel steps, down on common ones)."""
    novelty = torch.tensor([[0.1] * 8 + [0.9, 0.9] + [0.2] * 10], dtype=torch.float64)
    on_novel, elsewhere = high_at([8, 9], total=20), high_at([0, 1], total=20)
    assert sl.novelty_loss(on_novel, novelty) < 0 < sl.novelty_loss(elsewhere, novelty)
    for value in (0.1, 0.5):
        constant = torch.full((1, 20), value, dtype=torch.float64, requires_grad=True)
        loss = sl.novelty_loss(constant, novelty)
        assert float(loss.detach()) == pytest.approx(0, abs=1e-12)
        loss.backward()
        assert (constant.grad[0, 8:10] < 0).all() and (constant.grad[0, :8] > 0).all()
    assert float(sl.novelty_loss(on_novel, 3 * novelty + 1)) == pytest.approx(
        float(sl.novelty_loss(on_novel, novelty)))  # the novelty's scale does not count


def test_the_novelty_option_needs_the_videos_novelty():
    variant = VARIANTS[0].values[0]
    config = tiny_config(variant, **improvement("novelty"))
    model = variant.method.build(config, 0)
    with pytest.raises(CourseError, match="novelty"):
        sl.train_step(model, sl.make_optimizers(model, config),
                      sl.make_batch(model, videos([5])), config)


@pytest.mark.parametrize("option, formula", [("novelty", "shot_novelty"),
                                             ("recurrence", "shot_recurrence")])
def test_a_fit_with_the_novelty_option_gives_each_update_its_videos_novelty(smoke_data,
                                                                           monkeypatch, option,
                                                                           formula):
    """The fit function computes each training video's novelty from the dataset (its features
    and shots) by the option's formula, and every padded batch carries each of its videos' own,
    padding after it."""
    from course_lib import evaluation as ev

    data, splits = smoke_data
    variant = VARIANTS[0].values[0]
    config = replace(variant.method.config("smoke", verbose=False), **improvement(option))
    seen, train_step = [], sl.train_step

    def recording(model, optimizers, batch, config, generator=None):
        seen.append(batch)
        return train_step(model, optimizers, batch, config, generator)

    monkeypatch.setattr(sl, "train_step", recording)
    run = variant.method.fit(variant.method.build(config, 0), config, data, splits[0],
                             checkpoint=False, live=False)
    logged = run.history.train["novelty"]
    assert seen and all(math.isfinite(v) for v in logged) and min(logged) < 0
    expected = {len(data[k].features): getattr(ev, formula)(data[k])
                for k in splits[0].train_keys}
    other = ev.shot_recurrence if formula == "shot_novelty" else ev.shot_novelty
    assert any(not torch.equal(torch.from_numpy(expected[len(data[k].features)]),
                               torch.from_numpy(other(data[k]))) for k in splits[0].train_keys)
    for batch in seen:
        for row, n in zip(batch.novelty, batch.lengths.tolist(), strict=True):
            assert torch.equal(row[:n], torch.from_numpy(expected[n])) and not row[n:].any()


def test_pooled_phi_is_the_mean_state_of_each_videos_own_steps():
    """``pooling="mean"``: φ is the cLSTM's top-layer state averaged over the video's steps (so
    the end counts no more than the rest), the same in a padded batch as for each video alone,
    and unlike the reference's last state."""
    variant = VARIANTS[0].values[0]
    model = variant.method.build(tiny_config(variant), 0).double()
    batch = sl.make_batch(model, videos([5, 9, 3]))
    x = model.compress(batch.features)
    phi, p = model.discriminate(x, batch.lengths, pooling="mean")
    last, _ = model.discriminate(x, batch.lengths)
    for i, n in enumerate(batch.lengths.tolist()):
        states = model.discriminator.lstm(x[i:i + 1, :n])[0]
        assert torch.allclose(phi[i], states[0].mean(dim=0))
        alone_phi, alone_p = model.discriminate(x[i:i + 1, :n], pooling="mean")
        assert torch.allclose(phi[i], alone_phi[0]) and torch.allclose(p[i], alone_p[0])
        assert not torch.allclose(phi[i], last[i])


@pytest.mark.parametrize("length, window, offset", [(40, 16, 0), (40, 16, 9), (40, 16, 15),
                                                    (10, 16, 3), (23, 8, 5), (2, 3, 1)])
def test_windows_cover_each_step_once_in_order_and_none_is_a_step_or_two(length, window,
                                                                         offset):
    bounds = window_bounds(length, window, offset)
    assert bounds[0][0] == 0 and bounds[-1][1] == length
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    sizes = [b - a for a, b in bounds]
    assert all(n >= (window + 1) // 2 for n in sizes) or sizes == [length]
    assert all(n < window + (window + 1) // 2 for n in sizes) or sizes == [length]
    if window - offset >= (window + 1) // 2 and length >= 2 * window:
        assert sizes[0] == window - offset


def test_windows_of_a_padded_batch_are_each_videos_own_steps_and_carry_the_gradient():
    x = torch.randn(3, 9, 2, requires_grad=True)
    lengths = torch.tensor([9, 5, 7])
    windows, found = cut_into_windows(x, lengths, 4, 1)
    expected = [(i, a, b) for i, n in enumerate(lengths.tolist())
                for a, b in window_bounds(n, 4, 1)]
    assert found.tolist() == [b - a for _, a, b in expected]
    for row, (i, a, b) in enumerate(expected):
        assert torch.equal(windows[row, :b - a], x[i, a:b])
        assert not windows[row, b - a:].any()
    windows.sum().backward()
    for i, n in enumerate(lengths.tolist()):  # each video step read once, padding never
        assert torch.equal(x.grad[i, :n], torch.ones(n, 2))
        assert not x.grad[i, n:].any()


def test_with_windows_the_selector_scores_each_whole_video_and_the_reconstruction_its_windows():
    variant = VARIANTS[0].values[0]
    config = tiny_config(variant, reconstruction_window=4)
    model = variant.method.build(config, 0).double()
    batch = sl.make_batch(model, videos([9, 5, 7]))
    x = model.compress(batch.features)
    seen = sl.reconstruction_pass(model, x, batch.lengths, torch.Generator().manual_seed(0),
                                  config, offset=1)
    assert torch.equal(seen.scores, model.score(x, batch.lengths))
    original, lengths = sl.reconstruction_view(x, batch.lengths, config, 1)
    assert torch.equal(seen.original, original) and torch.equal(seen.lengths, lengths)
    assert seen.out.decoded.shape == original.shape
    windows_of_scores = sl.reconstruction_view(seen.scores.unsqueeze(-1), batch.lengths,
                                               config, 1)[0].squeeze(-1)
    assert torch.equal(seen.out.scores, windows_of_scores)


def test_each_update_draws_its_windows_offset_and_the_reference_draws_none():
    variant = VARIANTS[0].values[0]
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    assert sl.window_offset(tiny_config(variant), generator) == 0
    assert torch.equal(generator.get_state(), state)
    config = tiny_config(variant, reconstruction_window=16)
    offsets = {sl.window_offset(config, generator) for _ in range(200)}
    assert offsets == set(range(16))
    x = torch.randn(2, 7, 3)
    assert sl.reconstruction_view(x, None, tiny_config(variant), 5)[0] is x


def test_the_selected_encoder_input_reads_only_the_top_steps_but_trains_every_score():
    scores = torch.tensor([[0.2, 0.9, 0.1, 0.3, 0.8, 0.05, 0.4, 0.6, 0.7, 0.5]],
                          requires_grad=True)
    x = torch.randn(1, 10, 3)
    read = sl.encoder_input(x, scores, select=0.3)  # ⌈0.3 · 10⌉ = 3 steps: 1, 4, 8
    chosen = torch.zeros(10, dtype=torch.bool)
    chosen[[1, 4, 8]] = True
    assert torch.allclose(read[0, chosen], x[0, chosen]) and not read[0, ~chosen].any()
    read.sum().backward()
    assert torch.allclose(scores.grad[0], x[0].sum(dim=1))  # every step's score learns


@pytest.mark.parametrize("trainer", ["faithful", "fast"])
def test_strong_discriminator_trains_the_discriminator_at_the_summarizers_rate(trainer):
    """The option multiplies the discriminator's rate only: at the laptop tier, to the
    summarizer's own."""
    from course_lib.config import sum_gan_sl_config

    config = sum_gan_sl_config("laptop", verbose=False, trainer=trainer)
    rates = {}
    for name, changes in (("reference", {}), ("strong", improvement("strong-discriminator"))):
        model = sl.build_sum_gan_sl(replace(config, hidden_size=8, **changes), seed=0)
        optimizers = sl.make_optimizers(model, replace(config, **changes))
        rates[name] = {phase: o.param_groups[0]["lr"] for phase, o in optimizers.items()}
    assert rates["reference"]["discriminator"] == config.discriminator_learning_rate
    assert rates["strong"]["discriminator"] == config.learning_rate
    assert {k: v for k, v in rates["strong"].items() if k != "discriminator"} == {
        k: v for k, v in rates["reference"].items() if k != "discriminator"}


def test_padded_batches_give_each_videos_own_terms():
    """In the fast trainer's padded batch each term is the mean of each video's own, and the
    padding (scores near 0.5) is never selected."""
    g = torch.Generator().manual_seed(1)
    lengths = torch.tensor([5, 9, 3])
    scores = torch.rand(3, 9, generator=g, dtype=torch.float64)
    features = torch.randn(3, 9, 4, generator=g, dtype=torch.float64)
    mask = sl.top_share_mask(scores, 0.3, lengths)
    assert mask.sum(dim=1).tolist() == [2, 3, 1]
    for i, n in enumerate(lengths.tolist()):
        assert not mask[i, n:].any()
        assert torch.equal(mask[i, :n], sl.top_share_mask(scores[i:i + 1, :n], 0.3)[0])
    novelty = torch.rand(3, 9, generator=g, dtype=torch.float64)
    for loss, args in ((sl.dpp_loss, (features, 0.3)), (sl.spread_loss, (0.3,)),
                       (sl.novelty_loss, (novelty,))):
        alone = [loss(scores[i:i + 1, :n], *(a[i:i + 1, :n] if torch.is_tensor(a) else a
                                            for a in args))
                 for i, n in enumerate(lengths.tolist())]
        assert float(loss(scores, *args, lengths)) == pytest.approx(
            float(torch.stack(alone).mean()), rel=1e-9)


# ---------------------------------------------------------------- bad values, the runner

@pytest.mark.parametrize("change, message", [(dict(dpp_weight=-1.0), "dpp_weight"),
                                             (dict(spread_weight=float("nan")), "spread_weight"),
                                             (dict(encoder_input="top"), "encoder_input"),
                                             (dict(novelty_weight=-0.5), "novelty_weight"),
                                             (dict(novelty_formula="count"),
                                              "novelty_formula"),
                                             (dict(discriminator_pooling="max"),
                                              "discriminator_pooling"),
                                             (dict(reconstruction_window=1),
                                              "reconstruction_window"),
                                             (dict(reconstruction_window=2.5),
                                              "reconstruction_window"),
                                             (dict(recurrence_input=1), "recurrence_input"),
                                             (dict(discriminator_rate_factor=0),
                                              "discriminator_rate_factor"),
                                             (dict(discriminator_rate_factor=float("inf")),
                                              "discriminator_rate_factor")])
def test_a_bad_option_value_is_a_clear_error(change, message):
    variant = VARIANTS[0].values[0]
    config = tiny_config(variant, **change)
    model = variant.method.build(config, 0)
    with pytest.raises(CourseError, match=message):
        sl.train_step(model, sl.make_optimizers(model, config),
                      sl.make_batch(model, videos([5])), config)


def test_an_unknown_option_names_the_known_ones(tmp_path, capsys):
    with pytest.raises(CourseError, match="dpp, spread, select, novelty, pooled, windows"):
        improvement("dpp,entropy")
    assert main(["run", "sum-gan-sl-fast", "--option", "entropy", "--tier", "smoke",
                 "--splits", "0", "--seeds", "0", "--out", str(tmp_path)]) == 1
    assert "Unknown improvement 'entropy'" in capsys.readouterr().err


def test_the_runner_trains_an_option_by_name_in_a_folder_of_its_own(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "sum-gan-sl-fast", "--option", "spread", "--tier", "smoke",
                 "--splits", "0", "--seeds", "0", "--out", str(out)]) == 0
    folder = out / "synthetic" / "smoke" / "sum-gan-sl-fast+spread" / "split0-seed0"
    config = json.loads((folder / "config.json").read_text())
    assert config["overrides"] == {"spread_weight": 1.0}
    assert config["config"]["spread_weight"] == 1.0 and config["config"]["dpp_weight"] == 0
    assert "train_spread" in (folder / "epochs.csv").read_text().splitlines()[0]
    assert not (out / "synthetic" / "smoke" / "sum-gan-sl-fast").exists()
    assert main(["report", "--out", str(out)]) == 0
    assert "| sum-gan-sl-fast+spread |" in capsys.readouterr().out


def test_model_plus_option_is_a_runner_model_the_same_job_as_the_option_makes(tmp_path):
    """``sum-gan-sl-fast+spread`` runs in any grid (``run_jobs``, job processes) as the job
    that ``run sum-gan-sl-fast --option spread`` makes: the same folder, loaded, not retrained."""
    from course_lib import experiments as xp

    out = tmp_path / "out"
    assert main(["run", "sum-gan-sl-fast", "--option", "spread", "--tier", "smoke",
                 "--splits", "0", "--seeds", "0", "--out", str(out)]) == 0
    job = xp.Job("sum-gan-sl-fast+spread", "synthetic", "smoke", 0, 0)
    folder = job.folder(out)
    before = (folder / "result.json").read_bytes()
    (result,) = xp.run_jobs([job], out, progress=False)
    assert result.finished and (folder / "result.json").read_bytes() == before
    model = xp.MODELS["sum-gan-sl-fast+dpp+spread"]
    assert model.trainer == "fast"
    config = model.config("smoke")
    assert config.dpp_weight == 1.0 and config.spread_weight == 1.0
    assert xp.MODELS["sum-gan-sl-fast"].config("smoke").spread_weight == 0
    (other,) = xp.run_jobs([xp.Job("sum-gan-sl-fast+select", "synthetic", "smoke", 0, 0)], out,
                           jobs=2, progress=False)  # in a job process of its own
    stored = json.loads((other.folder / "config.json").read_text())
    assert stored["overrides"] == {"encoder_input": "selected"} and other.finished
    with pytest.raises(CourseError, match=r"\+dpp\+spread\+select\+novelty\+pooled"):
        xp.check_model("sum-gan-sl-fast+entropy")


def test_notebook_06_and_the_readme_describe_every_option():
    """An option added to the family is one a lecturer and a reader can find."""
    root = Path(__file__).resolve().parents[1]
    lecture = "".join("".join(cell["source"]) for cell in json.loads(
        (root / "notebooks" / "06_comparison.ipynb").read_text())["cells"])
    readme = (root / "README.md").read_text()
    for name in IMPROVEMENTS:
        assert f"- `{name}`:" in lecture, name
        assert f"--option {name}`" in readme, name
