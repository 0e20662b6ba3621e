"""The collapse measurements measure what they say: the sign convention of "widens" is the one a
real parameter step shows, the probe leaves a run as it was, the stand-in scores are what their
names promise, and the study script prints its four tables (smoke tier, seconds)."""

import dataclasses

import numpy as np
import pytest
import torch

from course_lib import collapse
from course_lib.config import sum_gan_aae_config, sum_gan_sl_config
from course_lib.errors import CourseError
from course_lib.models import sum_gan_aae, sum_gan_sl
from course_lib.models import summarizer_training as st

MODELS = {"sl": (sum_gan_sl_config, sum_gan_sl.build_sum_gan_sl, sum_gan_sl.fit_sum_gan_sl),
          "aae": (sum_gan_aae_config, sum_gan_aae.build_sum_gan_aae,
                  sum_gan_aae.fit_sum_gan_aae)}


@pytest.fixture(scope="module")
def data():
    return collapse.synthetic_split("smoke")


def _model(name, seed=0):
    make_config, build, _ = MODELS[name]
    config = make_config("smoke", verbose=False)
    return build(config, seed), config


def _x(model, record):
    return model.compress(model.prepare(torch.as_tensor(np.asarray(record.features))))


def test_given_scores_replace_the_selectors_and_are_restored(data):
    dataset, split = data
    model, _ = _model("aae")
    x = _x(model, dataset[split.test_keys[0]])
    given = torch.linspace(0, 1, x.shape[1]).unsqueeze(0)
    with torch.no_grad():
        with collapse.given_scores(model, given):
            assert torch.equal(model.summarize(x).scores, given)
        own = model.summarize(x).scores
    assert not torch.allclose(own, given)
    assert torch.equal(own, model.score(x))


@pytest.mark.parametrize("name, term", [("sl", "sparsity"), ("aae", "reconstruction")])
def test_widens_has_the_sign_of_the_spread_change_a_small_descent_step_makes(data, name, term):
    """Step the selector's parameters a little against the term's gradient, as a descent does,
    and the scores' spread moves the way ``widens`` said (deterministic terms: -sl's sparsity,
    AAE's reconstruction, which samples nothing)."""
    dataset, split = data
    model, config = _model(name)
    model.double()
    record = dataset[split.train_keys[0]]
    found = collapse.term_gradients(model, record.features, config)[term]
    assert abs(found.widens) > 0.01  # a clear direction to check

    x = _x(model, record)
    params = list(model.selector.parameters())
    _, terms = collapse._terms(model, x, config, None)
    grads = torch.autograd.grad(terms[term], params)
    norm = torch.cat([g.reshape(-1) for g in grads]).norm()
    with torch.no_grad():
        before = collapse.spread_proxy(model.score(x))
        for p, g in zip(params, grads, strict=True):
            p -= 1e-4 * g / norm
        after = collapse.spread_proxy(model.score(_x(model, record)))
    assert np.sign(float(after - before)) == np.sign(found.widens)


def test_the_sparsity_term_pulls_every_steps_score_alike(data):
    """|mean(s) − σ| has the same derivative for every step's score: no direction that widens or
    narrows them by itself (a cosine of 0 on the scores), whatever it does through the weights."""
    dataset, split = data
    model, config = _model("sl")
    found = collapse.term_gradients(model, dataset[split.train_keys[0]].features, config)
    assert abs(found["sparsity"].score_widens) < 1e-3
    assert abs(found["reconstruction"].score_widens) > 1e-3
    parts = sum(found[t].norm for t in ("reconstruction", "prior", "sparsity"))
    assert found["phase 1 (sum)"].norm <= parts * (1 + 1e-6)
    assert "prior" not in collapse.term_gradients(
        _model("aae")[0], dataset[split.train_keys[0]].features, config)


def test_the_probe_leaves_the_run_as_it_would_be_without_it(data):
    dataset, split = data
    make_config, build, fit = MODELS["sl"]
    config = make_config("smoke", verbose=False)

    def run(probe):
        model = build(config, 0)
        on_evaluate = probe(model) if probe else None
        return fit(model, config, dataset, split, seed=0, checkpoint=False, live=False,
                   on_evaluate=on_evaluate), on_evaluate

    plain, _ = run(None)
    probed, probe = run(lambda m: collapse.CollapseProbe(m, dataset, split.train_keys[:2],
                                                         config, epochs=(0, 2)))
    assert sorted(probe.gradients) == sorted(probe.views) == [0, 2]
    assert plain.history.train == probed.history.train
    assert plain.history.evals == probed.history.evals
    for a, b in zip(plain.model.parameters(), probed.model.parameters(), strict=True):
        assert torch.equal(a, b)
    curves = collapse.epoch_curves(probed)
    assert len(curves["test spread"]) == config.epochs + 1
    assert len(curves["train p original"]) == config.epochs


@pytest.mark.parametrize("measure, inner", [
    (lambda m, d, keys, c: collapse.gradient_table(m, d, keys, c), "term_gradients"),
    (lambda m, d, keys, c: collapse.reach_table(m, d, keys, c), "term_reach"),
    (lambda m, d, keys, c: collapse.reconstruction_without_selection(m, d, keys, c.sigma),
     "condition_scores"),
    (lambda m, d, keys, c: collapse.discriminator_view(m, d, keys), "separation")])
def test_the_measurements_run_on_the_threads_a_fit_trains_on(data, monkeypatch, measure, inner):
    """Their many small passes took 5x longer on two threads beside one busy core."""
    dataset, split = data
    model, config = _model("sl")
    threads, original = [], getattr(collapse, inner)

    def recording(*args, **kwargs):
        threads.append(torch.get_num_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(collapse, inner, recording)
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        measure(model, dataset, split.test_keys[:1], config)
        assert threads and set(threads) == {st.CPU_THREADS}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(saved)


def test_the_stand_in_scores_are_what_their_names_say():
    rng = np.random.default_rng(0)
    own = torch.rand(1, 400, generator=torch.Generator().manual_seed(0)) * 0.3
    found = collapse.condition_scores(own, 0.1, rng)
    assert list(found) == list(collapse.SCORE_CONDITIONS)
    assert torch.equal(found["own"], own)
    assert torch.all(found["constant σ"] == 0.1)
    assert torch.allclose(found["constant mean"], own.mean().expand_as(own))
    assert torch.equal(found["shuffled"].sort().values, own.sort().values)
    assert not torch.equal(found["shuffled"], own)
    random = found["random, same mean"]
    assert abs(float(random.mean() - own.mean())) < 0.02
    assert float(random.min()) >= 0 and float(random.max()) <= 1
    high = collapse.condition_scores(torch.full((1, 400), 0.8), 0.1, rng)["random, same mean"]
    assert float(high.min()) >= 0.6 - 1e-6 and float(high.max()) <= 1.0


def test_own_scores_reproduce_the_models_own_reconstruction(data):
    dataset, split = data
    model, config = _model("aae")
    keys = list(split.test_keys[:2])
    found = collapse.reconstruction_without_selection(model, dataset, keys, config.sigma,
                                                      draws=1)
    with torch.no_grad():
        direct = []
        for key in keys:
            x = _x(model, dataset[key])
            (a, b), _ = model.discriminate_both(x, model.summarize(x).decoded)
            direct.append(float(sum_gan_sl.distance_loss(a, b)))
    assert found["own"].reconstruction == pytest.approx(np.mean(direct), rel=1e-5)
    with pytest.raises(CourseError, match="at least one video"):
        collapse.reconstruction_without_selection(model, dataset, [], config.sigma)


def test_separation_is_half_at_chance_and_one_when_the_original_always_wins():
    assert collapse.separation([0.6, 0.7], [0.5, 0.5]) == 1.0
    assert collapse.separation([0.5, 0.5], [0.5, 0.5]) == 0.5
    assert collapse.separation([0.4, 0.7], [0.5, 0.5]) == 0.5
    with pytest.raises(CourseError, match="one P\\(original\\) per P\\(summary\\)"):
        collapse.separation([0.5], [0.5, 0.4])


def test_the_study_prints_its_four_tables_and_resumes_from_its_json(tmp_path, capsys,
                                                                   monkeypatch):
    import json

    import collapse_study  # benchmarks/ is on pytest's path (pyproject.toml)

    out = tmp_path / "study.json"
    args = ["--tier", "smoke", "--models", "sl", "--seeds", "0", "--conditions", "2",
            "--probe-videos", "2", "--json", str(out)]
    collapse_study.main(args)
    printed = capsys.readouterr().out
    for heading in ("1. Loss terms' gradients", "2. The discriminator", "3. Trained model",
                    "4. Test videos' score spread"):
        assert heading in printed
    results = json.loads(out.read_text())
    assert [(r["trainer"], "gradients" in r) for r in results] == [("faithful", True),
                                                                   ("fast", True)]
    assert set(results[0]["gradients"]["0"]["sparsity"]) == {
        f.name for f in dataclasses.fields(collapse.TermGradient)}

    def train(*_):
        raise AssertionError("a run already in the JSON was trained again")

    monkeypatch.setattr(collapse_study, "run_one", train)
    collapse_study.main(args)
    trained = [line for line in printed.splitlines(keepends=True) if ": finished " in line]
    assert len(trained) == 2  # each run's training said it finished; the resumed study trains
    assert capsys.readouterr().out == "".join(  # nothing and prints the same tables
        line for line in printed.splitlines(keepends=True) if line not in trained)


def test_the_sentences_follow_the_measurements():
    own = collapse.ConditionResult(0.30, 0.5)
    flat = {"own": own, "constant σ": collapse.ConditionResult(0.301, 0.5),
            "shuffled": collapse.ConditionResult(0.302, 0.5)}
    paying = {**flat, "constant σ": collapse.ConditionResult(0.40, 0.5),
              "shuffled": collapse.ConditionResult(0.45, 0.5)}
    g = collapse.TermGradient
    gradients = {"reconstruction": g(0.01, 0.2, 0.2, 0.2), "sparsity": g(1.0, -0.3, -0.3, 0.0),
                 "phase 1 (sum)": g(1.0, -0.3, -0.3, 0.0), "adversarial": g(5.0, 0.9, 0.9, 0.9)}
    chance = collapse.DiscriminatorView(0.51, 0.50, 1.0)
    lines = collapse.why_sentences(flat, gradients, chance)
    assert "barely rewards selecting" in lines[0] and "near-flat" in lines[1]
    assert "sparsity term" in lines[2] and "narrows" in lines[2] and "100 times" in lines[2]
    lines = collapse.why_sentences(paying, {**gradients, "sparsity": g(1.0, 0.4, 0.4, 0.0)},
                                   collapse.DiscriminatorView(0.9, 0.2, 1.0))
    assert "selecting pays" in lines[0] and "can tell them apart" in lines[1]
    assert "widens" in lines[2]  # the adversarial term is not the selector's: never named


def test_the_sparsity_terms_pull_reaches_every_part_of_the_video_alike(data):
    dataset, split = data
    model, config = _model("sl")
    reach = collapse.term_reach(model, dataset[split.train_keys[0]].features, config)
    assert np.allclose(reach["sparsity"], 0.1)
    assert all(np.isclose(shares.sum(), 1.0) for shares in reach.values())


@pytest.mark.parametrize("name, pooling", [("sl", "last"), ("sl", "mean"), ("aae", "last")])
def test_through_a_last_state_the_reconstruction_reaches_only_the_videos_end(data, name,
                                                                             pooling):
    """-sl's decoder starts from the encoder's last state, and φ is the discriminator's last
    state: both remember mostly the video's end, so the reconstruction's pull on the scores lands
    there, whatever φ (untrained models, 3 seeds)."""
    dataset, split = data
    for seed in range(3):
        model, config = _model(name, seed)
        config = dataclasses.replace(config, discriminator_pooling=pooling)
        shares = collapse.reach_table(model, dataset, split.train_keys, config)["reconstruction"]
        assert shares[-1] > 0.5 and shares[:5].sum() < 0.15


def test_through_attention_and_a_mean_state_the_reconstruction_reaches_the_whole_video(data):
    """AAE's decoder attends to every encoder step, so with φ the mean state (the pooled
    option) the reconstruction's pull reaches every part of the video."""
    dataset, split = data
    for seed in range(3):
        model, config = _model("aae", seed)
        config = dataclasses.replace(config, discriminator_pooling="mean")
        shares = collapse.reach_table(model, dataset, split.train_keys, config)["reconstruction"]
        assert shares.min() > 0.05 and shares[-1] < 0.5


def test_on_windows_the_reconstruction_reaches_the_whole_video(data):
    """The windows option cuts the video for the encoder, decoder and discriminator: -sl's
    reconstruction then pulls the scores of every window (mostly its later steps), not only
    the video's end."""
    dataset, split = data
    for seed in range(3):
        model, config = _model("sl", seed)
        config = dataclasses.replace(config, reconstruction_window=8)
        shares = collapse.reach_table(model, dataset, split.train_keys, config)["reconstruction"]
        assert shares[:5].sum() > 0.3 and shares[-1] < 0.3  # whole videos: < 0.15, > 0.5


def test_the_reach_sentence_says_where_the_pull_lands():
    at_end = collapse.reach_sentence({"reconstruction": np.array([0.01] * 9 + [0.91])})
    assert "91% of its pull on the video's last tenth and 5% on its first half" in at_end
    assert "only the other terms" in at_end
    even = collapse.reach_sentence({"reconstruction": np.array([0.08, 0.12] * 5)})
    assert "reaches the whole video" in even
    late = collapse.reach_sentence({"reconstruction": np.array([0.04] * 8 + [0.3, 0.38])})
    assert "unevenly" in late


def test_reach_refuses_a_video_shorter_than_its_parts_and_no_videos(data):
    dataset, split = data
    model, config = _model("sl")
    with pytest.raises(CourseError, match="at least 10 steps"):
        collapse.term_reach(model, dataset[split.train_keys[0]].features[:6], config)
    with pytest.raises(CourseError, match="at least one video"):
        collapse.reach_table(model, dataset, [], config)


def test_the_measured_terms_are_those_the_configurations_options_train(data):
    """On a model trained with ``select`` or ``pooled``, the measurements see the encoder input
    and φ that its training used, not the reference's."""
    dataset, split = data
    model, config = _model("sl")
    x = _x(model, dataset[split.train_keys[0]])
    found = {}
    for change in ({}, {"encoder_input": "selected"}, {"discriminator_pooling": "mean"}):
        generator = torch.Generator().manual_seed(0)
        _, terms = collapse._terms(model, x, dataclasses.replace(config, **change), generator)
        found[tuple(change)] = terms["reconstruction"].item()
    assert len(set(found.values())) == 3
