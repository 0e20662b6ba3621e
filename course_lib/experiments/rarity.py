"""What can be learned without labels: finished runs judged by annotators of another taste.

The synthetic annotators like a scene for its *rarity* in the video (a label-free learner could
find that) and for the *appeal* of its digit (only labels reveal that), mixed by
``rarity_weight``. The weight changes the labels only: videos, features, shots and splits stay
the same, and no run ever sees a label, so each run's saved scores are simply evaluated again
under every weight (:func:`rescored`): the sweep costs an evaluation, not a training.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.stats import kendalltau

from course_lib import comparison as cmp
from course_lib import evaluation as ev
from course_lib.config import SYNTHETIC_DATASETS, synthetic_draw
from course_lib.errors import CourseError
from course_lib.experiments.jobs import JobResult, model_color

RARITY_WEIGHTS = (0.0, 0.3, 0.7, 1.0)
CEILING = "rarity (knows the digits)"
NOVELTY = "novelty (label-free formula)"
RECURRENCE = "recurrence (label-free formula)"
HUMAN = "human (leave-one-out)"
# The ceiling and the recurrence formula score whole scenes alike, so many of a video's shots
# tie, and the knapsack's choice among tied shots is part of their F. A trained selector's
# scores hardly ever tie, so beside them: the same scores with their ties broken at random (each
# step plus a draw from -TIE_NOISE to +TIE_NOISE, far below any difference between them), the
# mean F over TIE_DRAWS draws.
CEILING_UNTIED = "rarity, ties broken at random"
RECURRENCE_UNTIED = "recurrence, ties broken at random"
TIE_NOISE, TIE_DRAWS = 1e-4, 50


def rescored(result: JobResult, dataset, epochs: Sequence[int] | None = None) -> JobResult:
    """``result`` with its F recomputed from its saved test scores on ``dataset`` (the same
    videos with other annotators): at ``epochs`` only (default: all; the others become NaN),
    each selection rule's epoch kept, the best test epoch chosen again where every epoch was
    evaluated, and the final epoch's rank correlation with the new annotators."""
    every = [int(e) for e in result.epochs]
    wanted = every if epochs is None else sorted({int(e) for e in epochs})
    scores = [result.test_scores(e) for e in wanted]
    keys = list(scores[0])
    f = np.full(len(every), np.nan)
    f[[every.index(e) for e in wanted]] = [
        e.mean for e in ev.evaluate_epochs(dataset, scores, keys)]
    f_at = dict(zip(every, f, strict=True))
    selections = {rule: (epoch, float(f_at[epoch])) for rule, (epoch, _) in
                  result.selections.items() if epoch in wanted and rule != cmp.BEST}
    if epochs is None:
        best = max((e for e in every if e >= 1), key=lambda e: f_at[e])
        selections[cmp.BEST] = (best, float(f_at[best]))
    rank = result.rank_correlation
    if every[-1] in wanted and all(dataset[k].user_scores is not None for k in keys):
        rank = ev.evaluate_rank_correlation(dataset, result.test_scores(every[-1]), keys)
    return replace(result, f_scores=f, selections=selections, rank_correlation=rank)


@dataclass
class SweepRow:
    """One model at one rarity weight: its mean F under ``rule``, its untrained self's, the
    score spread (label-free, the same at every weight), and the paired comparisons with its
    untrained self, random scores and the best heuristic of that weight."""

    weight: float
    model: str
    f: float
    untrained_f: float
    kendall_tau: float
    versus: dict[str, cmp.Paired]


@dataclass
class Sweep:
    """Per weight: every baseline's mean F over the runs' splits (the heuristics, the rarity
    ceiling, the two label-free formulas, humans), the best heuristic's name, each model's
    :class:`SweepRow`, and the *room*: the ceiling with its ties broken minus the best
    heuristic, paired by split, as (mean, 95 % t-interval low, high; NaN bounds from one split).
    Whether even finding rarity perfectly would beat that heuristic beyond the splits' noise."""

    baselines: dict[float, dict[str, float]]
    best_heuristic: dict[float, str]
    rows: list[SweepRow]
    room: dict[float, tuple[float, float, float]]


def baselines_by_split(data, splits, run_splits: Sequence[int]) -> dict[str, dict[int, float]]:
    """Every baseline's F on each split's test videos under ``data``'s annotators: the
    heuristics, the rarity ceiling, the two label-free formulas, the ceiling and the recurrence
    formula with their ties broken (:data:`TIE_NOISE`), and humans."""
    from course_lib.data.synthetic_videos import rarity_scores

    tables = {}
    for k in run_splits:
        keys = splits[k].test_keys
        ceiling, recurrence = rarity_scores(data, keys), ev.recurrence_scores(data, keys)
        tables[k] = ev.baseline_table(data, splits[k], extra={
            CEILING: ceiling, NOVELTY: ev.novelty_scores(data, keys), RECURRENCE: recurrence,
            CEILING_UNTIED: ties_broken(ceiling), RECURRENCE_UNTIED: ties_broken(recurrence)},
            rank=False, supervised=False)
    return {name: {k: t[name].f_score for k, t in tables.items()}
            for name in tables[run_splits[0]]}


def ties_broken(scores: Mapping[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """:data:`TIE_DRAWS` copies of ``scores``, each step plus a draw from −:data:`TIE_NOISE` to
    +:data:`TIE_NOISE` (seeded by the draw and the video's key): the same ranking where the
    scores differ, equal scores ordered at random.

    The draws are centred on 0 because the knapsack adds up shot scores: one shot scored 1 is
    worth exactly as much as three scored 1/3, and noise that only adds would make every
    combination of more shots worth more, so the knapsack would always take the three."""
    def noise(draw: int, key: str, n: int) -> np.ndarray:  # the same for a video in any split
        rng = np.random.default_rng([draw, zlib.crc32(key.encode())])
        return TIE_NOISE * (2 * rng.random(n, np.float32) - 1)

    return [{key: s + noise(draw, key, len(s)) for key, s in scores.items()}
            for draw in range(TIE_DRAWS)]


def rarity_sweep(results: Sequence[JobResult], tier: str,
                 weights: Sequence[float] = RARITY_WEIGHTS, rule: str = cmp.FINAL,
                 dataset: str = "synthetic", **kwargs) -> Sweep:
    """Every finished run of ``results`` on the synthetic ``dataset`` (``"synthetic"`` or
    ``"synthetic-digits"``) under annotators of each rarity weight; ``kwargs`` go to the paired
    statistics."""
    from course_lib.data.synthetic_videos import synthetic_benchmark

    check_weights(weights)
    finished = _finished_runs(results, tier, dataset)
    run_splits = sorted({r.job.split for r in finished})
    models = cmp.in_order({r.job.model for r in finished})
    baselines, best, rows, room = {}, {}, [], {}
    for weight in weights:
        data, splits = synthetic_benchmark(tier, weight, dataset)
        by_split = baselines_by_split(data, splits, run_splits)
        baselines[weight] = _mean_over_splits(by_split)
        best[weight] = _best_heuristic(baselines[weight])
        room[weight] = _room_by_split(by_split, best[weight], run_splits)
        runs = [rescored(r, data, None if rule == cmp.BEST else (0, r.selections[rule][0]))
                for r in finished]
        for model in models:
            mine = [r for r in runs if r.job.model == model]
            versus = {}
            if len(mine) > 1:  # one run gives no paired statistics
                versus["untrained"] = cmp.versus_untrained(mine, model, rule, **kwargs)
                for name in dict.fromkeys(("random", best[weight])):
                    versus[name] = cmp.versus_baseline(mine, model, name, by_split[name],
                                                       rule, **kwargs)
            rows.append(SweepRow(
                weight, model, float(np.mean([cmp.selected_f(r, rule) for r in mine])),
                float(np.mean([r.f_scores[0] for r in mine])),
                float(np.nanmean([(r.rank_correlation or {}).get("kendall_tau", np.nan)
                                  for r in mine])), versus))
    return Sweep(baselines, best, rows, room)


def _mean_over_splits(by_split: Mapping[str, Mapping[int, float]]) -> dict[str, float]:
    """Each baseline's F averaged over the splits of :func:`baselines_by_split`."""
    return {name: float(np.mean(list(f.values()))) for name, f in by_split.items()}


def _room_by_split(by_split: Mapping[str, Mapping[int, float]], heuristic: str,
                   run_splits: Sequence[int]) -> tuple[float, float, float]:
    """The ceiling with its ties broken minus ``heuristic``, paired by split: (mean, 95 %
    t-interval low, high; NaN bounds from one split)."""
    margins = np.array([by_split[CEILING_UNTIED][k] - by_split[heuristic][k]
                        for k in run_splits])
    return (float(margins.mean()),
            *(cmp.t_interval(margins) if len(margins) > 1 else (np.nan, np.nan)))


def check_weights(weights: Sequence[float]) -> None:
    """One clear error for a rarity weight outside [0, 1]."""
    if not all(0.0 <= w <= 1.0 for w in weights):
        raise CourseError(f"Rarity weights must lie in [0, 1] (the share of the annotators' "
                          f"interest that is a scene's rarity), got {list(weights)}.")


def _best_heuristic(means: Mapping[str, float]) -> str:
    """The heuristic (random included) with the highest mean F: picked after the fact, so on a
    draw of few videos it is the luckiest of seven as much as the best."""
    return max(ev.TRIVIAL_BASELINES, key=lambda n: means[n])


@dataclass
class DrawRoom:
    """One draw of the data at one rarity weight, over its 5 splits: the ceiling with its ties
    broken, every heuristic's mean F (random included), the best of them, and the room
    (:class:`Sweep`) over it."""

    seed: int
    weight: float
    ceiling_untied: float
    heuristics: dict[str, float]
    heuristic: str
    room: tuple[float, float, float]


def room_on_draws(tier: str, seeds: Sequence[int], weights: Sequence[float] = RARITY_WEIGHTS,
                  dataset: str = "synthetic") -> list[DrawRoom]:
    """The room on other draws of the same kind of data (videos, annotators and splits drawn from
    each seed; the course's draw is the tier's own seed). The room's interval covers the splits
    of one draw, not draws: whether a rarity finder could beat every heuristic may belong to the
    draw rather than to the data's design, and only other draws tell."""
    from course_lib.data.synthetic_videos import synthetic_benchmark

    check_weights(weights)
    rooms = []
    for seed in dict.fromkeys(seeds):  # a draw named twice is one draw
        for weight in weights:
            data, splits = synthetic_benchmark(tier, weight, dataset, seed=seed)
            run_splits = list(range(len(splits)))
            by_split = baselines_by_split(data, splits, run_splits)
            means = _mean_over_splits(by_split)
            best = _best_heuristic(means)
            rooms.append(DrawRoom(seed, weight, means[CEILING_UNTIED],
                                  {n: means[n] for n in ev.TRIVIAL_BASELINES}, best,
                                  _room_by_split(by_split, best, run_splits)))
    return rooms


def draw_lines(rooms: Sequence[DrawRoom]) -> list[str]:
    """:func:`room_on_draws` as text: a line per draw and weight; then per weight, on how many
    draws the room is above and below the splits' noise, and each heuristic's lead over random
    paired by draw (95 % t-interval over the draws, where there are several)."""
    lines = [f"draw {r.seed}, rarity weight {r.weight:g}: {CEILING_UNTIED} "
             f"{r.ceiling_untied:.1f}, best heuristic {r.heuristic} "
             f"{r.heuristics[r.heuristic]:.1f}, random {r.heuristics['random']:.1f}; "
             f"room {_room(r.room)}" for r in rooms]
    for weight in dict.fromkeys(r.weight for r in rooms):
        mine = [r for r in rooms if r.weight == weight]
        above, below = sum(r.room[1] > 0 for r in mine), sum(r.room[2] < 0 for r in mine)
        mean = cmp.shown(np.mean([r.room[0] for r in mine]))
        lead = cmp.shown(np.mean([r.heuristics[r.heuristic] - r.heuristics["random"]
                                  for r in mine]))
        lines.append(f"rarity weight {weight:g}, {len(mine)} draw(s): the room is above the "
                     f"splits' noise on {above}, below it on {below}, {mean:+.1f} on average; "
                     f"the best heuristic of a draw leads random by {lead:+.1f} on average")
        if len(mine) > 1:
            leads = {n: np.array([r.heuristics[n] - r.heuristics["random"] for r in mine])
                     for n in ev.TRIVIAL_BASELINES if n != "random"}
            lines.append("  each heuristic − random, paired by draw: " + ", ".join(
                f"{n} {_interval((d.mean(), *cmp.t_interval(d)))}"
                for n, d in leads.items()))
    return lines


def _finished_runs(results: Sequence[JobResult], tier: str, dataset: str) -> list[JobResult]:
    """The finished runs of ``results`` on the synthetic ``dataset`` at ``tier``, or one clear
    error."""
    if synthetic_draw(dataset) is None:
        raise CourseError(f"The rarity sweep needs the synthetic annotators: give one of "
                          f"{', '.join(SYNTHETIC_DATASETS)} (or a draw of one, e.g. synthetic@3), "
                          f"not {dataset!r}.")
    finished = [r for r in results if r.finished and r.job.dataset == dataset
                and r.job.tier == tier]
    if not finished:
        raise CourseError(f"No finished runs on {dataset} at the {tier} tier: the sweep judges "
                          f"trained runs (course-experiments run ... --dataset {dataset} --tier "
                          f"{tier}).")
    return finished


FOLLOWED = ("recurrence in the video", "digit prior of training", "appeal", "rarity")


def scene_digits(data, key: str) -> np.ndarray:
    """The digit each step of a synthetic video shows."""
    from course_lib.data.synthetic_videos import scene_of_step

    return data[key].extras["scene_params"][:, 0].astype(int)[scene_of_step(data[key])]


def digit_prior(data, keys: Sequence[str]) -> np.ndarray:
    """Each digit's mean recurrence (:func:`~course_lib.evaluation.shot_recurrence`) over the
    steps of ``keys``: which digits tend to be rare there, learnable without counting anything."""
    totals, counts = np.zeros(10), np.zeros(10)
    for key in keys:
        np.add.at(totals, scene_digits(data, key), ev.shot_recurrence(data[key]))
        np.add.at(counts, scene_digits(data, key), 1)
    return totals / np.maximum(counts, 1)


def follow_taus(scores: np.ndarray, data, key: str, prior: np.ndarray) -> list[float]:
    """Kendall τ of one test video's scores with each of :data:`FOLLOWED`, ``prior`` the
    training videos' :func:`digit_prior`."""
    from course_lib.data.synthetic_videos import ANNOTATORS, rarity_scores

    digits = scene_digits(data, key)
    followed = (ev.shot_recurrence(data[key]), prior[digits],
                np.asarray(ANNOTATORS.appeal)[digits], rarity_scores(data, [key])[key])
    return [kendalltau(scores, other).statistic for other in followed]


def mean_taus(rows: Sequence[Sequence[float]]) -> dict[str, float]:
    """Per name of :data:`FOLLOWED`, the mean of :func:`follow_taus` rows; a video whose scores
    (or rarity) are one constant has no τ and is left out of the mean."""
    columns = np.array(rows, dtype=float).reshape(-1, len(FOLLOWED)).T
    return {name: float(np.mean(c[np.isfinite(c)])) if np.isfinite(c).any() else np.nan
            for name, c in zip(FOLLOWED, columns, strict=True)}


def what_scores_follow(results: Sequence[JobResult], tier: str, dataset: str = "synthetic"
                       ) -> dict[str, dict[str, float]]:
    """Per model, what its final test scores rank like: the mean over its runs' test videos of
    Kendall τ with each of :data:`FOLLOWED`: the recurrence formula on that video (its own
    scenes counted), the *digit prior* (:func:`digit_prior` of the run's training videos), the
    annotators' appeal and the true rarity. A diagnosis that reads the digits; a model that
    ranks like the prior more than like its video's own count has learned which digits are
    usually rare, not what is rare in the video in front of it."""
    from course_lib.data.synthetic_videos import synthetic_benchmark

    data, splits = synthetic_benchmark(tier, dataset=dataset)
    taus = {}
    for run in _finished_runs(results, tier, dataset):
        prior = digit_prior(data, splits[run.job.split].train_keys)
        for key, scores in run.test_scores(int(run.epochs[-1])).items():
            taus.setdefault(run.job.model, []).append(follow_taus(scores, data, key, prior))
    return {model: mean_taus(rows) for model, rows in taus.items()}


def follow_lines(follows: Mapping[str, Mapping[str, float]]) -> list[str]:
    """:func:`what_scores_follow` as a table."""
    width = max([28, *map(len, follows)])
    lines = ["Kendall τ of each model's final test scores with what they might follow (mean "
             "over its runs' test videos; the digit prior: each digit's mean recurrence over "
             "the training videos)",
             f"  {'model':{width}s}   " + "   ".join(FOLLOWED)]
    lines += [f"  {model:{width}s}   " + "   ".join(f"{tau:+{len(name)}.3f}"
                                                   for name, tau in row.items())
              for model, row in follows.items()]
    return lines


def _versus(p: cmp.Paired) -> str:
    mark = "*" if p.exceeds_noise and p.mean > 0 else "-" if p.exceeds_noise else " "
    mean, low, high = (cmp.shown(x) for x in (p.mean, *p.interval))
    return f"{mean:+5.1f} [{low:+5.1f}, {high:+5.1f}]{mark}"


def _interval(values: tuple[float, float, float]) -> str:
    """(mean, low, high) as "+1.1 [-2.7, +4.9]", without a negative zero."""
    mean, low, high = (cmp.shown(x) for x in values)
    return f"{mean:+.1f} [{low:+.1f}, {high:+.1f}]"


def _room(room: tuple[float, float, float]) -> str:
    return (f"{_interval(room)} paired by split (95 % t-interval)" if np.isfinite(room[1])
            else f"{cmp.shown(room[0]):+.1f} (one split: no interval)")


def sweep_lines(sweep: Sweep) -> list[str]:
    """The sweep as text: per weight, the ceiling, humans, random and the best heuristic, the
    room (:class:`Sweep`), then each model's F and its paired differences (95 % t-interval;
    * = above 0 by the rule, - = below it), and what the marks mean."""
    lines = []
    width = max([28, *(len(r.model) for r in sweep.rows)])  # "sum-gan-aae-fast+novelty+spread"
    for weight, base in sweep.baselines.items():
        heuristic = sweep.best_heuristic[weight]
        lines.append(f"rarity weight {weight:g}: F (%) {CEILING} {base[CEILING]:.1f} "
                     f"({base[CEILING_UNTIED]:.1f} with its ties broken at random), {NOVELTY} "
                     f"{base[NOVELTY]:.1f}, {RECURRENCE} {base[RECURRENCE]:.1f} "
                     f"({base[RECURRENCE_UNTIED]:.1f} with its ties broken), "
                     f"humans {base[HUMAN]:.1f}, random "
                     f"{base['random']:.1f}, best heuristic {heuristic} {base[heuristic]:.1f}")
        lines.append(f"  {CEILING_UNTIED} − {heuristic}: {_room(sweep.room[weight])}")
        lines.append(f"  {'model':{width}s} {'F':>5s} {'τ':>6s}   {'− untrained':22s} "
                     f"{'− random':22s} − {heuristic}")
        for row in (r for r in sweep.rows if r.weight == weight):
            parts = ([_versus(row.versus[n]) for n in ("untrained", "random", heuristic)]
                     if row.versus else ["one run: no paired comparison"])
            lines.append(f"  {row.model:{width}s} {row.f:5.1f} {row.kendall_tau:+6.3f}   "
                         + "   ".join(parts))
    lines.append("Paired differences: mean [95 % t-interval]; * above 0 and - below 0 by the "
                 "decision rule (the interval excludes 0).")
    return lines


def rarity_figure(sweep: Sweep, ax=None):
    """F against the annotators' rarity weight: each model (mean over its runs, final epoch),
    the best heuristic of each weight, random, the label-free ceiling, the novelty and
    recurrence formulas, the ceiling and the recurrence formula with their ties broken, and
    humans."""
    import matplotlib.pyplot as plt

    from course_lib.style import legend_beside

    fig, ax = plt.subplots(figsize=(9, 4)) if ax is None else (ax.figure, ax)
    weights = list(sweep.baselines)
    for model in cmp.in_order({r.model for r in sweep.rows}):
        f = [next(r.f for r in sweep.rows if r.model == model and r.weight == w)
             for w in weights]
        ax.plot(weights, f, "o-", color=model_color(model), label=model)
    lines = {HUMAN: ("k", "-", ""), CEILING: ("0.4", "--", ""), CEILING_UNTIED: ("0.4", ":", "v"),
             NOVELTY: ("0.4", "-.", ""), RECURRENCE: ("tab:brown", "-.", ""),
             RECURRENCE_UNTIED: ("tab:brown", ":", "v"), "random": ("0.6", ":", "")}
    for name, (color, style, marker) in lines.items():
        ax.plot(weights, [sweep.baselines[w][name] for w in weights], linestyle=style,
                marker=marker, color=color, label=name)
    ax.plot(weights, [sweep.baselines[w][sweep.best_heuristic[w]] for w in weights], "s:",
            color="0.3", label="best heuristic of each weight")
    ax.set(xlabel="annotators' rarity weight (0: appeal only, 1: rarity only; the data's: 0.3)",
           ylabel="test F-score (%)", title="The same trained runs, judged by annotators of "
           "each taste", xticks=weights)
    ax.grid(alpha=0.3)
    legend_beside(ax)
    fig.tight_layout()
    return fig


def sweep_sentences(sweep: Sweep) -> list[str]:
    """What the sweep shows, computed from it: per weight, the label-free ceiling's margin over
    the best heuristic (with its ties broken: whether it exceeds the splits' noise), the two
    formulas' margins, and which models beat random, their untrained selves and the best
    heuristic by the decision rule (:data:`~course_lib.comparison.RULE`): above, below, or
    within the noise."""
    lines = []
    for weight, base in sweep.baselines.items():
        heuristic = sweep.best_heuristic[weight]
        gap = cmp.shown(base[CEILING]) - cmp.shown(base[heuristic])  # as printed
        mean, low, high = sweep.room[weight]
        text = (f"Rarity weight {weight:g}: knowing every digit's rarity scores {base[CEILING]:.1f}"
                f", {abs(gap):.1f} points {'above' if gap > 0 else 'below'} the best "
                f"heuristic ({heuristic}, {base[heuristic]:.1f}); with its ties broken at random "
                f"(a trained selector's scores hardly ever tie) {base[CEILING_UNTIED]:.1f}, "
                f"{_room(sweep.room[weight])} over it: ")
        if weight == 0:
            text += "the annotators value appeal only here, so rarity is no guide to them."
        elif mean <= 0:
            text += "even knowing rarity does not beat that heuristic here."
        elif low > 0 or not np.isfinite(low):
            text += "room that a summarizer which found rarity could show."
        else:
            text += ("within the noise of the splits: even a summarizer that found rarity "
                     "perfectly might not beat that heuristic beyond it.")
        found = {name: cmp.shown(base[name]) - cmp.shown(base[heuristic])
                 for name in (NOVELTY, RECURRENCE)}
        text += (f" The novelty formula (no labels, no training: each shot scored by how few of "
                 f"the video's shots look like it) scores {base[NOVELTY]:.1f}, "
                 f"{abs(found[NOVELTY]):.1f} points {'above' if found[NOVELTY] > 0 else 'below'}"
                 f" the best heuristic; the recurrence formula (1 / how many separate times the "
                 f"video shows what the shot shows, scenes counted as the annotators count them) "
                 f"{base[RECURRENCE]:.1f}, {abs(found[RECURRENCE]):.1f} points "
                 f"{'above' if found[RECURRENCE] > 0 else 'below'} the best heuristic, "
                 f"{base[RECURRENCE_UNTIED]:.1f} with its ties broken at random.")
        for row in (r for r in sweep.rows if r.weight == weight and r.versus):
            said = {name: "its untrained self" if name == "untrained" else name
                    for name in row.versus}
            verdicts = {"above": [], "below": [], "within the noise of": []}
            for name, p in row.versus.items():
                side = ("within the noise of" if not p.exceeds_noise
                        else "above" if p.mean > 0 else "below")
                verdicts[side].append(said[name])
            text += f" {row.model} ({row.f:.1f}): " + "; ".join(
                f"{side} {' and '.join(names)}" for side, names in verdicts.items() if names) + "."
        lines.append(text)
    return lines
