"""What the selector can learn when it is told: the family's selector fitted to a target.

The rarity sweep shows that the trained selectors do not find rarity. Is that the objective,
which never asks for it, or the selector, which could not learn it even if asked? Here the
selector (SUM-GAN-sl's compression layer and sLSTM, at the tier's sizes) is *told*: fitted by
least squares to a target on the training videos, the digits' true rarity (which needs labels)
or the recurrence formula (which does not), and then judged on the test videos by what its
scores rank like (:func:`~course_lib.experiments.rarity.follow_taus`) and by F under annotators
of several rarity weights. Beside it are told the same: the selector of the count option,
which reads each step's recurrence count beside its features (so it need not learn to compare a
scene with the rest of its video), and a per-step ridge regression, which reads one step at a
time, so it can learn which digits tend to be rare, never how often a video shows one.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from scipy.stats import kendalltau

from course_lib import evaluation as ev
from course_lib.config import IMPROVEMENTS, sum_gan_sl_config
from course_lib.errors import CourseError
from course_lib.experiments import rarity
from course_lib.models.sum_gan_sl import build_sum_gan_sl
from course_lib.models.summarizer_training import cpu_settings

TARGETS = ("rarity (uses labels)", "recurrence formula")
LEARNERS = ("selector", "selector reading the count", "per-step ridge")
# At the laptop tier the selector fits its 20 training videos' target to a Kendall τ of about
# 0.6 by epoch 150; the earlier marks show whether stopping sooner generalises better.
EPOCHS = (10, 50, 150)
WEIGHTS = (0.0, 0.3, 1.0)
RIDGE = 10.0  # the ridge's penalty; features are of order 1, 1024 of them, ~2,000 steps


@dataclass
class Told:
    """One learner told one target, on one split: after ``epochs`` (the ridge: 0), Kendall τ
    with the target on the training videos (how well it fitted), the mean τ of its test scores
    with each of :data:`~course_lib.experiments.rarity.FOLLOWED`, and F on the test videos under
    annotators of each rarity weight."""

    learner: str
    target: str
    epochs: int
    split: int
    fit_tau: float
    follows: dict[str, float]
    f: dict[float, float]


def target_values(data, key: str, target: str) -> np.ndarray:
    """A training video's target per step, in (0, 1] as the selector's scores."""
    from course_lib.data.synthetic_videos import rarity_scores

    if target == TARGETS[0]:
        return rarity_scores(data, [key])[key]
    if target == TARGETS[1]:
        return ev.shot_recurrence(data[key])
    raise CourseError(f"Unknown target {target!r}: use one of {', '.join(TARGETS)}.")


def fit_selector(data, keys: Sequence[str], target: str, tier: str, seed: int,
                 epochs: Sequence[int] = EPOCHS, reads_count: bool = False):
    """The selector fitted to ``target`` on ``keys`` (one video per Adam update at the tier's
    selector rate, in a fresh seeded order each epoch); yields (epoch, scores of features) at
    each of ``epochs``. ``reads_count``: the count option's model, which reads each step's
    recurrence count beside its features."""
    config = sum_gan_sl_config(tier, verbose=False)
    if reads_count:
        config = replace(config, **IMPROVEMENTS["count"])
    model = build_sum_gan_sl(config, seed)
    parameters = [*model.compress.parameters(), *model.selector.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=config.learning_rate)
    videos = {k: (model.prepare(torch.as_tensor(data[k].features)),
                  torch.as_tensor(target_values(data, k, target))[None]) for k in keys}
    order = np.random.default_rng(seed)

    def frozen(model):
        """The model as it is now: later epochs do not change what this one predicts."""
        @torch.no_grad()
        def scores(features: np.ndarray) -> np.ndarray:
            return model.score(model.compress(model.prepare(torch.as_tensor(features))))[0].numpy()
        return scores

    for epoch in range(1, max(epochs) + 1):
        with cpu_settings(torch.device("cpu"), threads=1):  # a fit's kernel and flushing
            for key in order.permutation(list(keys)):
                x, y = videos[key]
                loss = torch.nn.functional.mse_loss(model.score(model.compress(x)), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        if epoch in epochs:
            yield epoch, frozen(copy.deepcopy(model))


def fit_ridge(data, keys: Sequence[str], target: str):
    """Per-step ridge regression of the target on the features: learns a step's value from what
    it shows alone (which digits tend to be rare), never from the rest of its video."""
    x = np.concatenate([data[k].features for k in keys]).astype(np.float64)
    y = np.concatenate([target_values(data, k, target) for k in keys]).astype(np.float64)
    x_mean, y_mean = x.mean(axis=0), y.mean()  # the intercept, unpenalised
    centred = x - x_mean
    weights = np.linalg.solve(centred.T @ centred + RIDGE * np.eye(x.shape[1]),
                              centred.T @ (y - y_mean))
    return lambda features: ((features - x_mean) @ weights + y_mean).astype(np.float32)


def judge(learner: str, target: str, epochs: int, k: int, split, predict, by_weight, prior
          ) -> Told:
    """A fitted learner's :class:`Told` on split ``k``; ``by_weight`` maps each rarity weight to
    its data (the same videos, other annotators)."""
    data = next(iter(by_weight.values()))
    fit = [kendalltau(predict(data[key].features), target_values(data, key, target)).statistic
           for key in split.train_keys]
    test = {key: predict(data[key].features) for key in split.test_keys}
    follows = rarity.mean_taus([rarity.follow_taus(scores, data, key, prior)
                                for key, scores in test.items()])
    f = {w: ev.evaluate(d, test, split.test_keys).mean for w, d in by_weight.items()}
    return Told(learner, target, epochs, k, float(np.nanmean(fit)), follows, f)


def told_study(tier: str, dataset: str, splits: Sequence[int], seed: int = 0,
               epochs: Sequence[int] = EPOCHS, weights: Sequence[float] = WEIGHTS,
               videos: int | None = None) -> tuple[list[Told], dict[float, dict[str, float]]]:
    """Every learner told every target on each split; and per weight the baselines' mean F on
    the same test videos (:func:`~course_lib.experiments.rarity.baselines_by_split`).
    ``videos``: that many synthetic videos instead of the tier's own number (does the selector
    learn with more training videos?)."""
    from course_lib.data.synthetic_videos import synthetic_benchmark

    if not weights or not all(0.0 <= w <= 1.0 for w in weights):
        raise CourseError(f"Give one or more rarity weights in [0, 1] (the share of the "
                          f"annotators' interest that is a scene's rarity), got {list(weights)}.")
    if not epochs or min(epochs) < 1:
        raise CourseError(f"Give one or more epochs (1 or more) at which to judge the selector, "
                          f"got {list(epochs)}.")
    by_weight, the_splits = {}, None
    for weight in weights:
        by_weight[weight], the_splits = synthetic_benchmark(tier, weight, dataset, videos)
    if not splits or len(set(splits)) != len(splits) or not all(
            0 <= k < len(the_splits) for k in splits):
        raise CourseError(f"Give distinct splits among 0-{len(the_splits) - 1} of {dataset}, "
                          f"got {list(splits)}.")
    baselines = {w: {name: float(np.mean(list(f.values()))) for name, f in
                     rarity.baselines_by_split(d, the_splits, list(splits)).items()}
                 for w, d in by_weight.items()}
    data = by_weight[weights[0]]
    rows = []
    for k in splits:
        split = the_splits[k]
        prior = rarity.digit_prior(data, split.train_keys)
        for target in TARGETS:
            rows.append(judge(LEARNERS[2], target, 0, k, split,
                              fit_ridge(data, split.train_keys, target), by_weight, prior))
            for learner, reads_count in zip(LEARNERS[:2], (False, True), strict=True):
                for epoch, predict in fit_selector(data, split.train_keys, target, tier, seed,
                                                   epochs, reads_count):
                    rows.append(judge(learner, target, epoch, k, split, predict, by_weight,
                                      prior))
    return rows, baselines


def told_lines(rows: Sequence[Told], baselines: dict[float, dict[str, float]]) -> list[str]:
    """:func:`told_study` as a table: means over the splits, then the baselines' F."""
    weights = list(baselines)
    groups = {}
    for row in rows:
        after = f" ({row.epochs} epoch{'s' * (row.epochs != 1)})" if row.epochs else ""
        groups.setdefault(f"{row.learner}{after}, {row.target}", []).append(row)
    width = max(len("learner, target"), *map(len, groups))
    head = (f"  {'learner, target':{width}s} {'fit τ':>6s}  " + "  ".join(
        f"{name:>{max(7, len(name))}s}" for name in rarity.FOLLOWED) + "  "
        + "  ".join(f"F w={w:g}" for w in weights))
    lines = ["Told directly: τ with the target on the training videos (fit τ), Kendall τ of the "
             "test scores with what they might follow, F on the test videos (mean over "
             f"{len({r.split for r in rows})} split(s))", head]
    for name, group in groups.items():
        follows = rarity.mean_taus([list(r.follows.values()) for r in group])
        f = [f"{np.mean([r.f[w] for r in group]):{len(f'F w={w:g}')}.1f}" for w in weights]
        lines.append(f"  {name:{width}s} {np.mean([r.fit_tau for r in group]):+6.3f}  "
                     + "  ".join(f"{tau:+{max(7, len(n))}.3f}" for n, tau in follows.items())
                     + "  " + "  ".join(f))
    for w in weights:
        best = max(ev.TRIVIAL_BASELINES, key=lambda n: baselines[w][n])
        lines.append(f"  baselines at rarity weight {w:g}: random {baselines[w]['random']:.1f}, "
                     f"best heuristic {baselines[w][best]:.1f} ({best}), recurrence formula "
                     f"{baselines[w][rarity.RECURRENCE]:.1f} "
                     f"({baselines[w][rarity.RECURRENCE_UNTIED]:.1f} with its ties broken), "
                     f"ceiling {baselines[w][rarity.CEILING]:.1f} "
                     f"({baselines[w][rarity.CEILING_UNTIED]:.1f})")
    return lines
