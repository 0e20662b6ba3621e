"""Label-free diagnostics of what a summarizer selects: does it select at all, and what?

An F-score alone cannot tell a model that selects from one that says nothing: after KTS shots
and the 15 % knapsack, constant scores already score like published methods (Otani et al.,
"Rethinking the Evaluation of Video Summaries", CVPR 2019). These measures need no labels, so
training can log them every epoch and a lecturer can show them beside every F-score:

- :func:`score_spread` — how much a video's scores vary (0 when the model says nothing);
- :func:`constant_overlap` — how much of the selection the constant score makes anyway;
- :func:`end_share` — how much of the summary sits at the video's end (a place, not content);
- :func:`coverage_error` and :func:`diversity` — what the summary is *for*: whether the chosen
  steps represent the whole video and differ from each other (the representativeness and
  diversity ideas of Zhou et al., "Deep Reinforcement Learning for Unsupervised Video
  Summarization with Diversity-Representativeness Reward", AAAI 2018, measured here as cosine
  distances between features centred on the video's mean, so that they are comparable across
  feature scales and videos).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

import numpy as np

from course_lib.errors import CourseError
from course_lib.evaluation import centred_unit_rows, evaluate, noise_halfwidth, selected_shots

if TYPE_CHECKING:
    from course_lib.data.summarization import SummarizationDataset, VideoRecord

SPREAD_QUANTILES = (0.1, 0.9)
"""The score spread is the distance between these quantiles of a video's step scores."""
FLAT_SPREAD = 0.05
"""A spread below this is a flat score: collapsed selectors measured 0.002-0.035, selecting
ones 0.14 and more (``benchmarks/collapse_study.py``); the knapsack then picks by shot length."""


def score_spread(scores) -> float:
    """The 10–90 % range of one video's step scores, or the mean over videos of a dict of them.

    Why this measure: it is 0 for any constant, in the scores' own units (0.4 means the top tenth
    of the steps scores 0.4 above the bottom tenth), and a lone spike, such as one high step at a
    video's end, does not count as selecting, as it would for the standard deviation or the
    max − min range. A selector that keeps 15 % of the steps high has a spread of the gap;
    one that keeps fewer than a tenth high has a spread near 0, although those steps may
    choose the summary: :func:`constant_overlap` says whether they did.
    """
    if isinstance(scores, Mapping):
        if not scores:
            raise CourseError("score_spread got no videos: give {video key: step scores}.")
        return float(np.mean([score_spread(s) for s in scores.values()]))
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    if not len(values) or not np.all(np.isfinite(values)):
        raise CourseError(f"score_spread needs finite step scores, got {len(values)} values "
                          f"with {np.count_nonzero(~np.isfinite(values))} not finite.")
    low, high = np.quantile(values, SPREAD_QUANTILES)
    return float(high - low)


def constant_overlap(record: VideoRecord, scores) -> float:
    """The fraction of the shots selected from ``scores`` that constant scores select too.

    Constant scores ("uniform" in the baseline tables) show what the segmentation and the
    knapsack choose when the model says nothing: mostly the shortest shots. Near 1, the model's
    summary is that default whatever its F-score; 0 means it chose entirely other shots.
    """
    chosen, constant = selected_shots(
        record, np.stack([np.asarray(scores, dtype=np.float32).reshape(-1),
                          np.ones(record.n_steps, dtype=np.float32)]))
    if not chosen.any():
        return float("nan")  # nothing selected (every shot exceeds the budget)
    return float(np.count_nonzero(chosen & constant) / np.count_nonzero(chosen))


def _selected_steps(selected, n_steps: int) -> np.ndarray:
    selected = np.asarray(selected, dtype=bool).reshape(-1)
    if len(selected) != n_steps:
        raise CourseError(f"The selection marks {len(selected)} steps but the features have "
                          f"{n_steps}: give one True/False per step.")
    return selected


def coverage_error(features: np.ndarray, selected) -> float:
    """Mean over all steps of the cosine distance to the nearest *selected* step (lower is better).

    0 when every step has an identical step in the summary; a summary of one scene leaves the
    other scenes far from anything chosen. An empty selection covers nothing and gives NaN.
    """
    selected = _selected_steps(selected, len(features))
    if not selected.any():
        return float("nan")
    unit = centred_unit_rows(features)
    return float(np.mean(1.0 - np.max(unit @ unit[selected].T, axis=1)))


def diversity(features: np.ndarray, selected) -> float:
    """Mean pairwise cosine distance between the selected steps (higher: less repetition).

    NaN with fewer than two selected steps, where there is no pair to compare.
    """
    selected = _selected_steps(selected, len(features))
    n = int(np.count_nonzero(selected))
    if n < 2:
        return float("nan")
    unit = centred_unit_rows(features)[selected]
    similarity = unit @ unit.T
    return float(np.sum(1.0 - similarity) / (n * (n - 1)))


def selected_steps(record: VideoRecord, scores) -> np.ndarray:
    """The steps whose frame (``picks``) lies in a shot the protocol selects from ``scores``."""
    chosen = selected_shots(record, np.asarray(scores, dtype=np.float32).reshape(1, -1))[0]
    frames = np.zeros(record.n_frames, dtype=bool)
    for (start, end), keep in zip(record.change_points.tolist(), chosen, strict=True):
        frames[start:end + 1] = keep
    return frames[np.asarray(record.picks)]


def end_share(record: VideoRecord, scores, part: float = 0.1) -> float:
    """The share of the summary's steps (:func:`selected_steps`) in the video's last ``part``.

    About ``part`` for a summary that ignores position. Why it is measured: trained selectors
    of the family put a quarter or more of their summary in the last tenth of the synthetic
    test videos, their untrained selves 15 % and the annotators 8 % (docs/collapse-study.md,
    "Why the selectors collapse"): a place, learnt without labels, not content. NaN for an empty
    summary.
    """
    if not 0 < part < 1:
        raise CourseError(f"part is a share of the video, between 0 and 1, got {part}.")
    chosen = selected_steps(record, scores)
    if not chosen.any():
        return float("nan")
    last = np.arange(record.n_steps) >= record.n_steps - max(1, round(part * record.n_steps))
    return float(np.count_nonzero(chosen & last) / np.count_nonzero(chosen))


def longest_stretch_share(chosen) -> float:
    """The share of a summary's steps (a boolean mask over the steps) in its longest run of
    consecutive steps: 1 for one stretch of video, small for a summary spread over many.

    Why it is measured: under SumMe's max over annotators a summary scores as well as it
    matches its best-matching annotator, so one stretch that falls on some annotator's cut
    scores high; the family's `spread` option moves its summaries that way (docs/collapse-study.md,
    "Judged by both ways to combine annotators"). NaN for an empty summary.
    """
    chosen = np.asarray(chosen, dtype=bool)
    if chosen.ndim != 1:
        raise CourseError(f"chosen is one summary's mask over the steps (1-D), got shape "
                          f"{chosen.shape}.")
    if not chosen.any():
        return float("nan")
    edges = np.diff(np.concatenate([[0], chosen.astype(np.int8), [0]]))
    lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    return float(lengths.max() / lengths.sum())


@dataclass(frozen=True)
class SelectionDiagnostics:
    """The label-free diagnostics of one set of scores, each a mean over the videos, and the
    coverage error of each video (keyed like the dataset), for comparisons video by video.

    ``spread`` and ``constant_overlap`` are NaN for summaries that have no scores (humans').
    """

    spread: float
    constant_overlap: float
    coverage_error: float
    diversity: float
    coverage_by_video: Mapping[str, float] = field(default_factory=dict)


def diagnose(dataset: SummarizationDataset, scores: Mapping[str, np.ndarray],
             keys: Sequence[str] | None = None) -> SelectionDiagnostics:
    """Every diagnostic of one set of per-video step scores, averaged over ``keys``."""
    keys = list(scores) if keys is None else list(keys)
    if missing := [k for k in keys if k not in scores]:
        raise CourseError(f"No scores for {missing[:3]}: give one score array per video.")
    rows = []
    for key in keys:
        record = dataset[key]
        chosen = selected_steps(record, scores[key])
        rows.append((score_spread(scores[key]), constant_overlap(record, scores[key]),
                     coverage_error(record.features, chosen), diversity(record.features, chosen)))
    rows = np.array(rows)
    return SelectionDiagnostics(*map(float, np.nanmean(rows, axis=0)),
                                coverage_by_video=dict(zip(keys, map(float, rows[:, 2]),
                                                           strict=True)))


def diagnose_humans(dataset: SummarizationDataset,
                    keys: Sequence[str]) -> SelectionDiagnostics:
    """What people's own summaries cover: each user's selected steps, averaged over users."""
    rows, by_video = [], {}
    for key in keys:
        record = dataset.require_annotations(key)
        users = []
        for user in record.user_summary:
            chosen = user[np.asarray(record.picks)]
            users.append((coverage_error(record.features, chosen),
                          diversity(record.features, chosen)))
        rows += users
        by_video[key] = float(np.nanmean([coverage for coverage, _ in users]))
    return SelectionDiagnostics(float("nan"), float("nan"),
                                *map(float, np.nanmean(np.array(rows), axis=0)),
                                coverage_by_video=by_video)


@dataclass(frozen=True)
class SelectionRow:
    """One row of :func:`selection_table`: F-score (%), score spread, constant overlap, and what
    the summary covers (coverage error: lower is better) and how varied it is (diversity);
    ``coverage_by_video`` keeps each video's coverage error, which :func:`coverage_sentence`
    compares video by video."""

    f_score: float
    spread: float
    constant_overlap: float
    coverage_error: float = float("nan")
    diversity: float = float("nan")
    coverage_by_video: Mapping[str, float] = field(default_factory=dict, compare=False,
                                                    repr=False)


_COLUMNS = [f.name for f in fields(SelectionRow) if f.name != "coverage_by_video"]


def _numbers(row) -> list[float]:
    return [getattr(row, name) for name in _COLUMNS]


def _by_video_mean(maps: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Each video's mean over the maps that have it (seeds, random draws, runs)."""
    keys = dict.fromkeys(k for m in maps for k in m)
    return {k: float(np.mean([m[k] for m in maps if k in m])) for k in keys}


def selection_row(dataset: SummarizationDataset,
                  sets: Mapping[str, np.ndarray] | Sequence[Mapping[str, np.ndarray]],
                  keys: Sequence[str]) -> SelectionRow:
    """F and every diagnostic of one set of scores on ``keys`` (a list of sets, e.g. random
    draws or seeds: their mean)."""
    values, by_video = [], []
    for scores in [sets] if isinstance(sets, Mapping) else sets:
        found = diagnose(dataset, scores, keys)
        values.append((evaluate(dataset, scores, keys).mean, found.spread,
                       found.constant_overlap, found.coverage_error, found.diversity))
        by_video.append(found.coverage_by_video)
    return SelectionRow(*map(float, np.mean(values, axis=0)),
                        coverage_by_video=_by_video_mean(by_video))


def human_row(dataset: SummarizationDataset, keys: Sequence[str]) -> SelectionRow:
    """People's own summaries as a row: the human leave-one-out F, and what their selections
    cover. They have no scores, so no spread or constant overlap (NaN)."""
    from course_lib.evaluation import human_leave_one_out

    f = np.mean([human_leave_one_out(dataset.require_annotations(k), dataset.eval_method)
                 for k in keys])
    found = diagnose_humans(dataset, keys)
    return SelectionRow(float(f), float("nan"), float("nan"), found.coverage_error,
                        found.diversity, found.coverage_by_video)


def selection_table(dataset: SummarizationDataset,
                    rows: Mapping[str, Mapping[str, np.ndarray] | Sequence[Mapping]],
                    keys: Sequence[str]) -> dict[str, SelectionRow]:
    """:func:`selection_row` of each named set of scores, so that an F-score is never shown
    without whether the scores select at all, and what the selection covers."""
    return {name: selection_row(dataset, sets, keys) for name, sets in rows.items()}


def mean_row(rows: Sequence[SelectionRow]) -> SelectionRow:
    """The mean of several rows (runs, seeds, splits); NaN where there are none. A video that
    several rows cover (two seeds, or two splits that test it) gets the mean of its values."""
    if not rows:
        return SelectionRow(*[float("nan")] * len(_COLUMNS))
    return SelectionRow(*map(float, np.mean([_numbers(r) for r in rows], axis=0)),
                        coverage_by_video=_by_video_mean([r.coverage_by_video for r in rows]))


def format_selection_table(table: Mapping[str, SelectionRow]) -> str:
    """The rows of :func:`selection_table` as aligned text (a blank where a row has no value)."""
    def cell(value: float, width: int, digits: int) -> str:
        return f"{'':{width}s}" if np.isnan(value) else f"{value:{width}.{digits}f}"

    width = max(len(name) for name in table)
    lines = [f"{'':{width}s} {'F (%)':>6s} {'spread':>7s} {'constant overlap':>17s} "
             f"{'coverage error':>15s} {'diversity':>10s}"]
    lines += [f"{name:{width}s} {cell(r.f_score, 6, 1)} {cell(r.spread, 7, 3)} "
              f"{cell(r.constant_overlap, 17, 2)} {cell(r.coverage_error, 15, 3)} "
              f"{cell(r.diversity, 10, 3)}" for name, r in table.items()]
    return "\n".join(lines)


def selection_sentence(table: Mapping[str, SelectionRow], model: str, untrained: str,
                       constant: str = "uniform", random: str = "random") -> str:
    """What the table says about ``model``, computed from it: did its spread fall below its
    untrained self's, is it flat (below :data:`FLAT_SPREAD`) whichever way it moved, and is its
    selection closer to the constant scores' than random's is? (A model that selects little can
    still beat constant scores' F by the few shots it changes.)"""
    m, u, r = table[model], table[untrained], table[random]
    change = ("fell below" if m.spread < u.spread else "rose above" if m.spread > u.spread
              else "equals")
    flat = m.spread < FLAT_SPREAD
    if flat:  # "rose above" a flat untrained model is still flat
        both = "both" if u.spread < FLAT_SPREAD else "its own"
        change = (f"{change} the untrained model's ({u.spread:.3f}), {both} below "
                  f"{FLAT_SPREAD}: flat")
    else:
        change = f"{change} the untrained model's ({u.spread:.3f})"
    mine, randoms = f"{m.constant_overlap:.0%}", f"{r.constant_overlap:.0%}"
    # level where the sentence prints the same percent ("68% ..., less than random's 68%" would
    # say a difference it does not show)
    closer = ("about as much as" if mine == randoms else
              "more than" if m.constant_overlap > r.constant_overlap else "less than")
    verdict, c = "", table.get(constant)
    if (m.spread < u.spread or flat) and (mine == randoms
                                          or m.constant_overlap > r.constant_overlap):
        verdict = " It selects little beyond what the segmentation and the knapsack choose anyway"
        if c is not None and m.f_score > c.f_score:
            verdict += (f", yet its F ({m.f_score:.1f}) is above constant scores' "
                        f"({c.f_score:.1f}): the few shots where it differs from them earn that")
            verdict += (f"; its untrained self (score spread {u.spread:.3f}) scores "
                        f"{u.f_score:.1f}: training did not earn it."
                        if u.f_score >= m.f_score else ".")
        else:
            verdict += ": read its F as theirs."
    return (f"{model}: its score spread ({m.spread:.3f}; random scores {r.spread:.3f}) "
            f"{change}; "
            f"{mine} of the shots it selects are those constant scores "
            f"({constant}) select, {closer} for random scores ({randoms})."
            f"{verdict}")


def coverage_sentence(table: Mapping[str, SelectionRow], model: str, untrained: str,
                      humans: str = "humans", random: str = "random",
                      constant: str = "uniform") -> str:
    """What the label-free coverage says about ``model``, computed from the table: does its
    summary represent the video better than its untrained self's, random and constant scores'
    and people's? (Lower coverage error: every step is nearer to something chosen.) Paired video
    by video as notebooks 03-05 pair F: a mean difference within the 95 % t-interval of the
    per-video differences is a tie, since a few thousandths between means over five test videos
    are as often noise as not."""
    m = table[model]
    better, level, worse = [], [], []
    for name in (untrained, random, constant, humans):
        other = table.get(name)
        if other is None or np.isnan(other.coverage_error):
            continue
        shared = [k for k in m.coverage_by_video if k in other.coverage_by_video]
        if not shared:
            raise CourseError(f"coverage_sentence compares {model!r} with {name!r} video by video "
                              "but they share no video: make both rows with "
                              "selection_table, selection_row or human_row on the same videos.")
        differences = [m.coverage_by_video[k] - other.coverage_by_video[k] for k in shared]
        mean, noise = float(np.mean(differences)), noise_halfwidth(differences)
        noise = noise if np.isfinite(noise) else 0.0  # one video: no noise to measure, as for F
        found = level if abs(mean) <= noise else better if mean < 0 else worse
        found.append(f"{name} ({other.coverage_error:.3f})")
    noise = "within the noise (95 % t-interval of the paired per-video differences)"
    parts = ([f"better than {_listed(better)}"] if better else []) + (
        [f"about as well as {_listed(level)}, {noise}"] if level else []) + (
        [f"not as well as {_listed(worse)}"] if worse else [])
    return (f"{model}: coverage error {m.coverage_error:.3f}, diversity {m.diversity:.3f}; "
            + ("it covers the video " + "; ".join(parts) if better else
               "it covers the video no better than any of the others"
               + (f" (about as well as {_listed(level)}, {noise})" if level else "")) + ".")


def _listed(names: Sequence[str]) -> str:
    """``["a", "b", "c"]`` → ``"a, b and c"``."""
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
