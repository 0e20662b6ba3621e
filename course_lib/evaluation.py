"""The keyshot evaluation protocol of SumMe and TVSum, ported exactly, plus rank correlation.

Taught in notebook 02; every later notebook (SUM-GAN, -sl, -AAE, the comparison) is judged by it.
The steps follow the evaluation scripts of SUM-GAN-sl / SUM-GAN-AAE (Apostolidis et al.,
github.com/e-apostolidis/SUM-GAN-sl), re-implemented here:

1. step scores → frame scores by zero-order hold from ``picks`` (:func:`upsample_scores`);
2. shot score = float32 NumPy mean of its frame scores (:func:`shot_scores`);
3. budget = ``int((last shot end + 1) * 0.15)`` frames (:func:`summary_budget`);
4. 0/1 knapsack over shots, float64, traceback that excludes later shots on ties
   (:func:`knapsack`, bit-identical to the plain dynamic program :func:`knapsack_dp`);
5. per-user F-score with zero padding; max over users (SumMe) or mean (TVSum); mean over the
   test videos of a split, then over splits (:func:`evaluate`, :func:`evaluate_splits`).

One deliberate, documented choice: the reference divides 0 by 0 when the machine summary is
empty (and when a user summary is empty) and gets NaN, which poisons the split mean (or, inside
Python's ``max``, is dropped or kept depending on the users' order). Here ``empty="zero"`` (the
default) scores such a pair F = 0: a summary that selects nothing recalls nothing. Pass
``empty="nan"`` to reproduce the reference.

The arithmetic stays the reference's even where it makes a number meaningless, but never
silently: scores below zero (logits, say) or a video whose every shot exceeds the budget raise a
:class:`ScoreWarning` that names the video (``allow_negative=False`` makes negative scores an
error), and malformed input raises a :class:`~course_lib.errors.CourseError` that says the fix.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy.stats import kendalltau, rankdata
from scipy.stats import t as t_distribution

from course_lib.errors import CourseError

if TYPE_CHECKING:
    from course_lib.data.summarization import SummarizationDataset, VideoRecord

Metric = Literal["max", "mean"]
Scores = Mapping[str, np.ndarray]  # step scores per video key
EmptyRule = Literal["zero", "nan"]
BUDGET = 0.15


class ScoreWarning(UserWarning):
    """Scores or a video for which the protocol's number means little (e.g. F = 0 whatever)."""


def _as_array(scores, what: str) -> np.ndarray:
    """Scores as a float32 array, from a list, a NumPy array or a (GPU, grad-tracking) tensor."""
    if hasattr(scores, "detach"):
        scores = scores.detach().cpu().numpy()
    try:
        return np.asarray(scores, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise CourseError(f"{what} must be numbers (a 1-D array, list or tensor), got "
                          f"{type(scores).__name__} ({error}).") from error


def upsample_scores(scores, picks, n_frames: int) -> np.ndarray:
    """Frame scores by zero-order hold: frames ``[picks[i], picks[i+1])`` get ``scores[i]``.

    The last step holds until ``n_frames``; frames before ``picks[0]`` (never the case in the
    benchmark files, whose picks start at 0) stay 0, as in the reference. Leading axes of
    ``scores`` are kept (e.g. one row per epoch).
    """
    scores = _as_array(scores, "scores")
    picks = np.asarray(picks, dtype=np.int64).reshape(-1)
    if scores.ndim == 0 or scores.shape[-1] != len(picks):
        raise CourseError(f"{scores.shape[-1] if scores.ndim else 1} scores for {len(picks)} "
                          "picks: give one score per subsampled frame (step).")
    frames = np.zeros(scores.shape[:-1] + (n_frames,), dtype=np.float32)
    frames[..., picks[0]:] = np.repeat(scores, np.diff(picks, append=n_frames), axis=-1)
    return frames


def shot_scores(frame_scores: np.ndarray, change_points: np.ndarray) -> np.ndarray:
    """Mean frame score of each inclusive shot ``[s0, s1]``, as a float32 NumPy mean.

    The reference takes ``frame_scores[s0:s1+1].mean()`` on a float32 array (pairwise float32
    summation); a float64 or torch mean differs in the last bits and can flip knapsack ties, so
    this keeps the exact same operation per shot.
    """
    return _shot_means(np.asarray(frame_scores, dtype=np.float32),
                       np.asarray(change_points).tolist())


def _shot_means(frame_scores: np.ndarray, bounds: list[list[int]]) -> np.ndarray:
    """Float32 means of the shots along the last axis (one row per set of scores), as float64.

    ``np.add.reduce(...) / count`` is exactly what ``ndarray.mean`` computes for float32 (the same
    pairwise summation per row; a test checks), without its per-call overhead.
    """
    means = [np.add.reduce(frame_scores[..., s0:s1 + 1], axis=-1) / np.float32(s1 + 1 - s0)
             for s0, s1 in bounds]
    return np.stack(means, axis=-1).astype(np.float64)


def summary_budget(change_points: np.ndarray, proportion: float = BUDGET) -> int:
    """Knapsack capacity in frames: 15 % of the video, truncated."""
    return int((int(change_points[-1][1]) + 1) * proportion)


def knapsack_dp(values: Sequence[float], weights: Sequence[int], capacity: int) -> list[int]:
    """The plain per-cell 0/1 knapsack: the specification :func:`knapsack` is tested against.

    ``K[i][w]`` is the best value of the first ``i`` items within weight ``w``. The traceback
    takes item ``i-1`` iff ``K[i][w] != K[i-1][w]``: on a tie the later item is left out, and an
    item of value exactly 0 is never taken.
    """
    _check_items(np.asarray(values, dtype=np.float64)[None], weights, capacity)
    values, weights = [float(v) for v in values], [int(w) for w in weights]
    n = len(values)
    table = [[0.0] * (capacity + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        value, weight = values[i - 1], weights[i - 1]
        previous, row = table[i - 1], table[i]
        for w in range(capacity + 1):
            row[w] = previous[w]
            if weight <= w:
                row[w] = max(value + previous[w - weight], previous[w])
    return _traceback(table, weights, capacity)


def knapsack(values: Sequence[float], weights: Sequence[int], capacity: int) -> list[int]:
    """The same 0/1 knapsack with each row computed by NumPy: identical selections, far faster.

    Row ``i`` is ``max(K[i-1][w - weight] + value, K[i-1][w])`` for all ``w`` at once; the
    additions and comparisons are the same float64 operations as in :func:`knapsack_dp`, so the
    table, and therefore the traceback, is bit-identical (values must be finite).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise CourseError(f"knapsack values must be 1-D (one value per item), got shape "
                          f"{values.shape}; knapsack_batch takes one row per set of values.")
    return np.flatnonzero(knapsack_batch(values[None], weights, capacity)[0]).tolist()


def knapsack_batch(values: np.ndarray, weights: Sequence[int], capacity: int,
                   max_bytes: int = 64 << 20) -> np.ndarray:
    """:func:`knapsack` for many value vectors over the same items at once: ``[B, n]`` values →
    ``[B, n]`` bool selections. Scoring every epoch of a training run is this call per video."""
    values = np.asarray(values, dtype=np.float64)
    weights = _check_items(values, weights, capacity)
    n = values.shape[1]
    chunk = max(1, max_bytes // (8 * (n + 1) * (capacity + 1)))
    return np.concatenate([_knapsack_rows(values[b:b + chunk], weights.tolist(), capacity)
                           for b in range(0, len(values), chunk)])


def _check_items(values: np.ndarray, weights, capacity) -> np.ndarray:
    """The knapsack's inputs, checked: [B, n] finite values, n positive integer weights, and a
    whole capacity >= 0. Returns the weights as integers."""
    weights = np.asarray(weights)
    if values.ndim != 2 or weights.ndim != 1 or values.shape[1] != len(weights):
        raise CourseError(f"knapsack: values of shape {values.shape[1:]} and weights of shape "
                          f"{weights.shape} do not match: give one value and one weight (shot "
                          "length in frames) per item.")
    if not np.all(np.isfinite(values)):
        raise CourseError("knapsack values must be finite; a NaN score usually means the model "
                          "diverged (check the scores before evaluating).")
    if (weights.dtype.kind not in "iuf" or np.any(weights < 1)
            or np.any(weights != np.round(weights))):
        raise CourseError("knapsack weights (shot lengths) must be positive whole numbers of "
                          "frames.")
    if isinstance(capacity, bool) or not isinstance(capacity, int | np.integer) or capacity < 0:
        raise CourseError(f"knapsack capacity must be a whole number of frames >= 0, got "
                          f"{capacity!r}.")
    return weights.astype(np.int64)


def _knapsack_rows(values: np.ndarray, weights: list[int], capacity: int) -> np.ndarray:
    batch, n = values.shape
    table = np.zeros((n + 1, batch, capacity + 1))  # table[i, b, w] = K_b[i][w]
    candidate = np.empty((batch, capacity + 1))
    for i, weight in enumerate(weights, 1):
        previous, row = table[i - 1], table[i]
        row[:, :weight] = previous[:, :weight]
        if weight <= capacity:
            room = capacity + 1 - weight
            np.add(previous[:, :room], values[:, i - 1:i], out=candidate[:, :room])
            np.maximum(candidate[:, :room], previous[:, weight:], out=row[:, weight:])
    # Traceback for every b at once: take item i-1 iff K[i][w] != K[i-1][w].
    chosen = np.zeros((batch, n), dtype=bool)
    w, rows = np.full(batch, capacity), np.arange(batch)
    for i in range(n, 0, -1):
        chosen[:, i - 1] = table[i, rows, w] != table[i - 1, rows, w]
        w -= weights[i - 1] * chosen[:, i - 1]
    return chosen


def _traceback(table: list[list[float]], weights: list[int], capacity: int) -> list[int]:
    selected, w = [], capacity
    for i in range(len(weights), 0, -1):
        if table[i][w] != table[i - 1][w]:
            selected.append(i - 1)
            w -= weights[i - 1]
    return selected[::-1]


SOLVERS = {"vectorised": knapsack, "dp": knapsack_dp}
Solver = Literal["vectorised", "dp"]


def _check_solver(solver: str) -> None:
    if solver not in SOLVERS:
        raise CourseError(f"Unknown knapsack solver {solver!r}: use one of "
                          f"{', '.join(map(repr, SOLVERS))}.")


def _check_shot_values(values: np.ndarray, lengths: np.ndarray, budget: int, where: str,
                       allow_negative: bool) -> None:
    """Say loudly when the reference's arithmetic makes the F-score meaningless.

    The knapsack (as in the reference) never selects a shot whose value is not positive, so
    negative scores (e.g. logits) shrink the summary and all-negative scores select nothing;
    and if every shot is longer than the budget nothing can be selected whatever the scores.
    """
    if lengths.min() > budget:
        warnings.warn(f"{where}: every shot is longer than the summary budget ({budget} "
                      f"frames; the shortest shot has {lengths.min()}), so no shot can be "
                      "selected and the F-score is 0 whatever the scores.", ScoreWarning,
                      stacklevel=3)
    negative = values < 0
    if negative.any():
        problem = (f"{where}: {int(negative.any(axis=0).sum())} of {values.shape[-1]} shots have "
                   f"a negative mean score (lowest {values.min():.3g}); the knapsack, like the "
                   "reference, never selects a shot whose score is <= 0, so the summary is "
                   "smaller than the budget allows (empty, F = 0, if no score is positive). Give "
                   "probabilities, e.g. torch.sigmoid(logits).")
        if not allow_negative:
            raise CourseError(problem)
        warnings.warn(problem + " (allow_negative=False makes this an error.)", ScoreWarning,
                      stacklevel=3)
    elif not (values > 0).any(axis=-1).all():
        warnings.warn(f"{where}: every shot's score is 0, so the knapsack selects nothing and "
                      "the F-score is 0.", ScoreWarning, stacklevel=3)


def _check_user_summaries(user_frames: np.ndarray, key: str, source: str, metric: str) -> None:
    """Say which video has user summaries that select no frame: against them every summary
    scores F = 0, so with all of them empty the video's F-score is 0 whatever the model does."""
    empty = np.flatnonzero(user_frames == 0)
    if not len(empty):
        return
    effect = ("its F-score is 0 whatever the scores" if len(empty) == len(user_frames) else
              "they score F = 0 against any summary" + (
                  ", which lowers the mean over users" if metric == "mean" else ""))
    warnings.warn(f"{key} in {source}: {len(empty)} of {len(user_frames)} user summaries "
                  f"(rows {empty.tolist()[:10]} of 'user_summary') select no frame, so {effect}. "
                  "The annotation file is probably damaged or mis-converted: download it again, "
                  "or leave that video out of the split.", ScoreWarning, stacklevel=3)


def generate_summary(scores, change_points: np.ndarray, picks, n_frames: int, *,
                     proportion: float = BUDGET, solver: Solver = "vectorised",
                     allow_negative: bool = True) -> np.ndarray:
    """Step scores → 0/1 keyshot summary over frames ``0 .. last shot end`` (bool array)."""
    _check_solver(solver)
    change_points = np.asarray(change_points, dtype=np.int64)
    if change_points.ndim != 2 or change_points.shape[1:] != (2,) or not len(change_points):
        raise CourseError(f"change_points must be a non-empty [n_shots, 2] array of inclusive "
                          f"[start, end] frames, got shape {change_points.shape}.")
    if not 0 <= proportion <= 1:
        raise CourseError(f"proportion is the summary's share of the video, from 0 to 1, got "
                          f"{proportion}.")
    picks = np.asarray(picks).reshape(-1)
    scores = _video_scores(scores, "The scores", len(picks))
    values = shot_scores(upsample_scores(scores, picks, n_frames), change_points)
    lengths = change_points[:, 1] - change_points[:, 0] + 1
    budget = summary_budget(change_points, proportion)
    _check_shot_values(values[None], lengths, budget, "these scores", allow_negative)
    chosen = SOLVERS[solver](values, lengths, budget)
    summary = np.zeros(int(change_points[-1, 1]) + 1, dtype=bool)
    for s0, s1 in change_points[chosen].tolist():
        summary[s0:s1 + 1] = True
    return summary


def f_scores(summary: np.ndarray, user_summary: np.ndarray, *,
             empty: EmptyRule = "zero") -> np.ndarray:
    """F-score (in %) of one machine summary against each user summary, zero-padded to one length.

    ``P = |S∧G|/|S|``, ``R = |S∧G|/|G|``, ``F = 2PR/(P+R)·100``, 0 when ``P+R = 0``; an empty
    ``S`` or ``G`` gives 0 (``empty="zero"``) or NaN like the reference (``empty="nan"``).
    """
    summary = np.asarray(summary).astype(bool).reshape(-1)
    users = np.atleast_2d(np.asarray(user_summary)).astype(bool)
    common = min(len(summary), users.shape[1])
    overlap = np.count_nonzero(users[:, :common] & summary[:common], axis=1)
    return _f_from_counts(overlap, np.count_nonzero(summary), np.count_nonzero(users, axis=1),
                          empty)


def _f_from_counts(overlap, n_machine, n_user, empty: EmptyRule) -> np.ndarray:
    """F-scores from |S∧G| per user, |S| and |G| per user, in the reference's float64 order."""
    overlap = np.asarray(overlap, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = overlap / np.asarray(n_machine, dtype=np.float64)
        recall = overlap / np.asarray(n_user, dtype=np.float64)
        scores = 2 * precision * recall * 100 / (precision + recall)
    scores[(precision + recall) == 0] = 0.0
    if empty == "zero":
        scores[np.isnan(scores)] = 0.0
    elif empty != "nan":
        raise CourseError(f"empty must be 'zero' or 'nan', not {empty!r}")
    return scores


def reduce_users(scores: np.ndarray, metric: Metric) -> float:
    """Max over users (SumMe: the summary is judged by its closest human) or mean (TVSum)."""
    if metric == "max":
        return float(np.max(scores))
    if metric == "mean":
        return float(np.mean(scores))
    raise CourseError(f"metric must be 'max' (SumMe) or 'mean' (TVSum), not {metric!r}")


@dataclass(frozen=True)
class Evaluation:
    """F-scores (in %) of one set of per-video scores: per video and their mean."""

    per_video: dict[str, float]
    metric: str

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.per_video.values())))

    def __repr__(self) -> str:
        return f"Evaluation(F = {self.mean:.2f} % over {len(self.per_video)} videos, {self.metric})"


def evaluate(dataset: SummarizationDataset, scores: Mapping[str, np.ndarray],
             keys: Sequence[str] | None = None, *, metric: Metric | None = None,
             empty: EmptyRule = "zero", solver: Solver = "vectorised",
             allow_negative: bool = True) -> Evaluation:
    """Score per-video step scores on ``keys`` (default: every key in ``scores``) in one call.

    ``metric`` defaults to the dataset's own (``max`` for SumMe, ``mean`` for TVSum).
    """
    if not isinstance(scores, Mapping):
        raise CourseError(f"scores must be a dict {{video key: step scores}}, got "
                          f"{type(scores).__name__}: e.g. {{'video_1': array of its "
                          "n_steps scores, ...}.")
    return evaluate_epochs(dataset, [scores], keys, metric=metric, empty=empty, solver=solver,
                           allow_negative=allow_negative)[0]


def evaluate_epochs(dataset: SummarizationDataset, scores: Sequence[Mapping[str, np.ndarray]],
                    keys: Sequence[str] | None = None, *, metric: Metric | None = None,
                    empty: EmptyRule = "zero", solver: Solver = "vectorised",
                    allow_negative: bool = True) -> list[Evaluation]:
    """:func:`evaluate` for many sets of scores of the same videos (e.g. every epoch of a run).

    Each video's scores are stacked and go through the protocol together, so the knapsack's
    per-row NumPy calls are shared by all epochs. Same results as one :func:`evaluate` per set.
    """
    _check_solver(solver)
    if isinstance(scores, Mapping) or not len(scores) or not all(
            isinstance(s, Mapping) for s in scores):
        raise CourseError("evaluate_epochs takes a non-empty list of score dicts, one "
                          "{video key: step scores} per epoch (for one dict, use evaluate).")
    metric = metric or dataset.eval_method
    if metric not in ("max", "mean"):
        raise CourseError(f"metric must be 'max' (SumMe) or 'mean' (TVSum), not {metric!r}")
    keys = list(scores[0]) if keys is None else list(keys)
    if not keys:
        raise CourseError("No videos to evaluate: the scores (or keys) are empty; give the "
                          "test videos' keys, e.g. split.test_keys.")
    per_set: list[dict[str, float]] = [{} for _ in scores]
    for key in keys:
        record = dataset.require_annotations(key)
        shots = _prepared(record)
        missing = [i for i, s in enumerate(scores) if key not in s]
        if missing:
            raise CourseError(f"No scores for {key!r} (in set {missing[0]}): give one score "
                              "array per test video.")
        batch = np.stack([_video_scores(s[key], f"The scores of {key}", record.n_steps)
                          for s in scores])
        _check_user_summaries(shots.user_frames, key, dataset.source, metric)
        picked = selected_shots(record, batch, solver=solver,
                                allow_negative=allow_negative).astype(np.int64)
        f = _f_from_counts(picked @ shots.user_frames_in_shot.T, picked @ shots.lengths[:, None],
                           shots.user_frames, empty)
        for result, row in zip(per_set, f, strict=True):
            result[key] = reduce_users(row, metric)
    return [Evaluation(result, metric) for result in per_set]


def selected_shots(record: VideoRecord, scores: np.ndarray, *, solver: Solver = "vectorised",
                   allow_negative: bool = True) -> np.ndarray:
    """Which shots the protocol selects: bool [n_sets, n_shots] for step scores [n_sets, n_steps].

    Steps 1–4 of the protocol for one video and many sets of its scores (e.g. every epoch);
    F-scores and the label-free diagnostics both start from this selection.
    """
    shots = _prepared(record)
    values = _shot_means(upsample_scores(np.atleast_2d(scores), shots.picks, shots.n_frames),
                         shots.bounds)
    _check_shot_values(values, shots.lengths, shots.budget, record.key, allow_negative)
    if solver == "vectorised":
        return knapsack_batch(values, shots.lengths, shots.budget)
    chosen = np.zeros(values.shape, dtype=bool)
    for row, v in zip(chosen, values, strict=True):
        row[SOLVERS[solver](v, shots.lengths, shots.budget)] = True
    return chosen


def _video_scores(scores, what: str, n_steps: int) -> np.ndarray:
    """One video's step scores as a 1-D float32 array of ``n_steps`` values (a [1, T] or
    [T, 1] array is unambiguous and accepted; anything else is an error naming the video)."""
    array = _as_array(scores, what)
    if sum(n > 1 for n in array.shape) > 1 or array.size != n_steps:
        raise CourseError(f"{what} have shape {array.shape}; give a 1-D array of the video's "
                          f"{n_steps} step scores (one per pick).")
    return array.reshape(-1)


@dataclass(frozen=True)
class _Shots:
    """What scoring a video needs besides its scores, computed once per record.

    Shots tile the video (the reader validates it), so a keyshot summary's overlap with a user
    is the sum of that user's frames in the chosen shots: exact integer counts, the same numbers
    as the frame-level :func:`f_scores` (a test checks), without touching every frame each epoch.
    """

    picks: np.ndarray
    n_frames: int
    bounds: list[list[int]]
    lengths: np.ndarray
    budget: int
    user_frames_in_shot: np.ndarray
    user_frames: np.ndarray


_SHOTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _prepared(record: VideoRecord) -> _Shots:
    if record not in _SHOTS:
        cps = record.change_points
        starts = cps[:, 0]
        users = (np.zeros((0, record.n_frames), dtype=bool) if record.user_summary is None
                 else record.user_summary)  # a video without annotations can still be selected
        _SHOTS[record] = _Shots(
            record.picks, record.n_frames, cps.tolist(), cps[:, 1] - starts + 1,
            summary_budget(cps), np.add.reduceat(users, starts, axis=1, dtype=np.int64),
            np.count_nonzero(users, axis=1))
    return _SHOTS[record]


@dataclass(frozen=True)
class SplitsEvaluation:
    """One :class:`Evaluation` per split and the dataset-level mean over splits."""

    splits: list[Evaluation]

    @property
    def mean(self) -> float:
        return float(np.mean([e.mean for e in self.splits]))

    def __repr__(self) -> str:
        per = ", ".join(f"{e.mean:.2f}" for e in self.splits)
        return f"SplitsEvaluation(F = {self.mean:.2f} % ; per split: {per})"


def evaluate_splits(dataset: SummarizationDataset, splits: Sequence,
                    scores_per_split: Sequence[Mapping[str, np.ndarray]],
                    **kwargs) -> SplitsEvaluation:
    """Evaluate each split's test videos with its own scores; the mean over splits is the result."""
    if len(splits) != len(scores_per_split):
        raise ValueError(f"{len(splits)} splits but {len(scores_per_split)} sets of scores.")
    return SplitsEvaluation([evaluate(dataset, scores, split.test_keys, **kwargs)
                             for split, scores in zip(splits, scores_per_split, strict=True)])


# ---------------------------------------------------------------- baselines (Otani et al. 2019)

def random_scores(dataset: SummarizationDataset, keys: Sequence[str],
                  rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Uniform random step scores: Otani et al.'s baseline, strong via KTS + knapsack."""
    return {k: rng.random(dataset[k].n_steps).astype(np.float32) for k in keys}


def best_of_random(dataset: SummarizationDataset, keys: Sequence[str], draws: int,
                   rng: np.random.Generator, repeats: int = 20) -> float:
    """The mean F on ``keys`` of the best of ``draws`` random scorings, picked by that F: what
    the best-test-epoch rule makes of a model whose ``draws`` epochs learned nothing but differ
    at random, averaged over ``repeats`` picks. The sceptic's baseline for a best-epoch F."""
    return float(np.mean([max(evaluate(dataset, random_scores(dataset, keys, rng), keys).mean
                              for _ in range(draws)) for _ in range(repeats)]))


def uniform_scores(dataset: SummarizationDataset, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """Every step scored 1: the knapsack then just packs as many (short) shots as fit."""
    return {k: np.ones(dataset[k].n_steps, dtype=np.float32) for k in keys}


def feature_norm_scores(dataset: SummarizationDataset,
                        keys: Sequence[str]) -> dict[str, np.ndarray]:
    """Each step scored by the norm of its features: an untrained, label-free heuristic.

    A model that learnt "score big features high" scores like this: one cue, not content.
    """
    return {k: np.linalg.norm(dataset[k].features, axis=1).astype(np.float32) for k in keys}


def motion_scores(dataset: SummarizationDataset, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """Each step scored by how much its features changed since the previous step (the first
    step takes the second's value): "something moves or happens here", label-free."""
    scores = {}
    for k in keys:
        change = np.linalg.norm(np.diff(dataset[k].features, axis=0), axis=1)
        scores[k] = np.concatenate([change[:1], change]).astype(np.float32)
    return scores


def centred_unit_rows(features: np.ndarray) -> np.ndarray:
    """Each step's features minus the video's mean, scaled to length 1: what every step shares
    (ReLU features are all positive, so raw cosines are all near 1) does not count as similar."""
    features = np.asarray(features, dtype=np.float64)
    features = features - features.mean(axis=0)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.where(norms > 0, norms, 1.0)


def shot_novelty(record) -> np.ndarray:
    """One video's steps [T], each scored by how few of the video's shots look like its shot,
    label-free: a formula for "what is unlike the rest of the video", with no training.

    Shot s's score is 1 / Σ_j exp(−3 · d_sj / median d), d the cosine distances between the
    shots' mean features (centred per video): a shot with many look-alikes has a large sum, one
    unlike every other only its own term. Shots, not steps, are counted, so a long scene does
    not look common because it lasts. The scale (a third of the median distance) was not tuned
    on any labels.
    """
    shot = _shot_of_steps(record)
    distance = _segment_distances(record.features, shot, len(record.change_points))
    scale = np.median(distance[distance > 0]) if (distance > 0).any() else 1.0
    density = np.exp(-3 * distance / scale).sum(axis=1)
    return (1 / density)[shot].astype(np.float32)


def _shot_of_steps(record) -> np.ndarray:
    """The shot of each step [T] of a video."""
    return np.searchsorted(record.change_points[:, 0], record.picks, side="right") - 1


def _segment_distances(features: np.ndarray, segment: np.ndarray, n_segments: int
                       ) -> np.ndarray:
    """Cosine distances [S, S] between the mean features (centred per video) of the steps of
    each segment (``segment``: each step's, 0 .. ``n_segments`` − 1)."""
    x = centred_unit_rows(features)
    means = np.stack([x[segment == s].mean(axis=0) if (segment == s).any()
                      else np.zeros(x.shape[1]) for s in range(n_segments)])
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    return np.clip(1 - means @ means.T, 0.0, 2.0)


def novelty_scores(dataset: SummarizationDataset, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """:func:`shot_novelty` of each video: the formula as a summarizer's scores."""
    return {k: shot_novelty(dataset[k]) for k in keys}


# Chosen on two development draws of the synthetic laptop data (seeds 1 and 2, annotators who
# value rarity only, max and mean over them), never on the course's draw (seed 0).
RECURRENCE_CUT = 0.8


def shot_recurrence(record, cut: float = RECURRENCE_CUT) -> np.ndarray:
    """One video's steps [T], each scored 1 / the number of separate times the video shows what
    its shot shows: rarity counted in scenes, as the synthetic annotators count it, label-free.

    Shots are grouped by what they show (average-linkage clustering of their mean features,
    cosine distance, cut at ``cut`` × the median distance between the video's shots); a run of
    consecutive shots of one group is one *time* (KTS cuts a long scene into several shots, and
    :func:`shot_novelty` counts each, so a long rare scene looks common to it).
    """
    return segment_recurrence(record.features, _shot_of_steps(record), len(record.change_points),
                              cut)


def segment_recurrence(features: np.ndarray, segment: np.ndarray, n_segments: int,
                       cut: float = RECURRENCE_CUT) -> np.ndarray:
    """:func:`shot_recurrence` of a video's features [T, D] cut into segments (``segment``:
    each step's, 0 .. ``n_segments`` − 1), where the segments need not be the dataset's shots
    (a model computes it from the features alone)."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    if n_segments < 2:
        return np.ones(len(segment), np.float32)
    distance = _segment_distances(features, segment, n_segments)
    np.fill_diagonal(distance, 0.0)
    scale = np.median(distance[distance > 0]) if (distance > 0).any() else 1.0
    group = fcluster(linkage(squareform(distance, checks=False), "average"), cut * scale,
                     "distance")
    starts = group[np.r_[True, group[1:] != group[:-1]]]  # each run's group, once per run
    times = np.bincount(starts, minlength=group.max() + 1)
    return (1 / times[group])[segment].astype(np.float32)


def recurrence_scores(dataset: SummarizationDataset, keys: Sequence[str]
                      ) -> dict[str, np.ndarray]:
    """:func:`shot_recurrence` of each video: the formula as a summarizer's scores."""
    return {k: shot_recurrence(dataset[k]) for k in keys}


POSITIONAL_BASELINES = {"ramp down from start": "start", "ramp up to end": "end",
                        "bump at middle": "middle"}
# The label-free rows of baseline_table that a method must beat to show it learnt content.
TRIVIAL_BASELINES = ("random", "uniform", "feature norm", "motion", *POSITIONAL_BASELINES)


def positional_scores(dataset: SummarizationDataset, keys: Sequence[str],
                      peak: Literal["start", "middle", "end"]) -> dict[str, np.ndarray]:
    """Content-free scores that only know *where* a step is: highest at the video's start (and
    falling linearly to its end), at its end, or at its middle; all in (0, 1).

    A model whose F does not beat these may have learnt position, not content (a ramp
    from the start once beat humans on a split of the synthetic benchmark).
    """
    shapes = {"start": lambda x: 1 - x, "end": lambda x: x,
              "middle": lambda x: 1 - np.abs(2 * x - 1)}
    if peak not in shapes:
        raise CourseError(f"peak must be one of {', '.join(map(repr, shapes))}, not {peak!r}.")
    return {k: shapes[peak]((np.arange(n) + 0.5) / n).astype(np.float32)
            for k, n in ((k, dataset[k].n_steps) for k in keys)}


def supervised_reference_scores(dataset: SummarizationDataset, train_keys: Sequence[str],
                                keys: Sequence[str], alpha: float = 10.0
                                ) -> dict[str, np.ndarray]:
    """Ridge regression from a step's features to ``gtscore``, fitted on ``train_keys``.

    Not a baseline an unsupervised method should beat: it *uses the labels*. It is an upper
    reference that shows how much of the annotators' preference the features carry at all.
    """
    from sklearn.linear_model import Ridge

    if unlabelled := [k for k in train_keys if dataset[k].gtscore is None]:
        raise CourseError(f"The supervised reference fits the training videos' 'gtscore', which "
                          f"{unlabelled[:5]} of {dataset.name} ({dataset.source}) lack. Use the "
                          "feature files (`course-data summe` / `course-data tvsum`), which have "
                          "it, or leave those videos out of the split's train_keys.")
    model = Ridge(alpha=alpha).fit(np.concatenate([dataset[k].features for k in train_keys]),
                                   np.concatenate([dataset[k].gtscore for k in train_keys]))
    return {k: model.predict(dataset[k].features).astype(np.float32) for k in keys}


def human_leave_one_out(record: VideoRecord, metric: Metric, *,
                        empty: EmptyRule = "zero") -> float:
    """Each user's summary scored against the *other* users, averaged over users (Otani et al.)."""
    users = record.user_summary
    if users is None or len(users) < 2:
        raise ValueError(f"{record.key}: human leave-one-out needs at least two user summaries.")
    return float(np.mean([
        reduce_users(f_scores(users[i], np.delete(users, i, axis=0), empty=empty), metric)
        for i in range(len(users))]))


# ---------------------------------------------------------------- rank correlation (TVSum)

def annotator_step_scores(user_scores: np.ndarray, picks) -> np.ndarray:
    """Raw per-frame annotator scores → per-step targets (divided by each annotator's max)."""
    user_scores = np.asarray(user_scores, dtype=np.float64)
    return user_scores[:, np.asarray(picks)] / user_scores.max(axis=1, keepdims=True)


def rank_correlation(scores, annotator_scores: np.ndarray, *, what: str = "The scores"
                     ) -> tuple[float, float]:
    """Kendall τ and Spearman ρ of step scores against each annotator, averaged over annotators.

    Otani et al. (CVPR 2019): unlike the F-score, ranks are not flattened by shots and knapsack,
    so random scores get τ ≈ ρ ≈ 0 while humans agree at τ ≈ 0.18, ρ ≈ 0.20 on TVSum.
    Scores of another length than the annotators', NaN scores or no annotators are an error
    naming ``what`` (scipy would give NaN or a broadcasting error).
    """
    scores = _video_scores(scores, what, np.shape(annotator_scores)[-1]).astype(np.float64)
    annotator_scores = np.atleast_2d(annotator_scores)
    if not len(annotator_scores):
        raise CourseError(f"{what}: there are no annotators to rank against (0 rows of "
                          "annotator scores); give the annotators' scores [n_annotators, "
                          "n_steps] (annotator_step_scores of the video's user_scores).")
    if not np.all(np.isfinite(scores)):
        raise CourseError(f"{what} hold {int(np.sum(~np.isfinite(scores)))} NaN or infinite "
                          f"value(s) (first at step {int(np.argmax(~np.isfinite(scores)))}), so "
                          "they rank nothing (scipy would return NaN): a NaN score usually "
                          "means the model diverged; check the scores before evaluating.")
    if np.all(scores == scores[0]):
        return 0.0, 0.0  # a constant ranking orders nothing (scipy would give NaN)
    taus = [kendalltau(scores, target).statistic for target in annotator_scores]
    return float(np.nanmean(taus)), float(np.nanmean(_spearman_rows(scores, annotator_scores)))


def _spearman_rows(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Spearman's ρ of ``scores`` with each row of ``targets`` (Pearson's r of the average
    ranks, as ``scipy.stats.spearmanr``; NaN for a constant row), all rows in one go."""
    x = rankdata(scores)
    y = rankdata(targets, axis=1)
    x -= x.mean()
    y -= y.mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (y @ x) / np.sqrt((x @ x) * np.einsum("ij,ij->i", y, y))


def human_rank_correlation(annotator_scores: np.ndarray) -> tuple[float, float]:
    """Mean τ and ρ of each annotator against each other annotator (Otani et al.'s human row)."""
    annotator_scores = np.atleast_2d(annotator_scores)
    pairs = [rank_correlation(annotator_scores[i], np.delete(annotator_scores, i, axis=0))
             for i in range(len(annotator_scores))]
    tau, rho = np.mean(pairs, axis=0)
    return float(tau), float(rho)


def evaluate_rank_correlation(dataset: SummarizationDataset, scores: Mapping[str, np.ndarray],
                              keys: Sequence[str] | None = None) -> dict[str, float]:
    """Mean Kendall τ and Spearman ρ over videos that carry annotator scores (TVSum, synthetic)."""
    tau, rho = rank_correlation_per_video(dataset, scores, keys).mean(axis=0)
    return {"kendall_tau": float(tau), "spearman_rho": float(rho)}


def rank_correlation_per_video(dataset: SummarizationDataset, scores: Mapping[str, np.ndarray],
                               keys: Sequence[str] | None = None) -> np.ndarray:
    """Each video's (Kendall τ, Spearman ρ) [n_videos, 2], in ``keys``' order: their spread says
    how far a mean over a few test videos can move (:func:`standard_error`)."""
    keys = list(scores) if keys is None else list(keys)
    pairs = []
    for key in keys:
        record = dataset[key]
        if record.user_scores is None:
            raise ValueError(f"{key} of {dataset.name} has no per-annotator scores: rank "
                             "correlation needs them (TVSum's ydata-anno.tsv, or the synthetic "
                             "dataset).")
        if key not in scores:
            raise CourseError(f"No scores for {key!r}: give one score array per video of keys.")
        pairs.append(rank_correlation(scores[key],
                                      annotator_step_scores(record.user_scores, record.picks),
                                      what=f"The scores of {key}"))
    return np.asarray(pairs, dtype=np.float64).reshape(len(keys), 2)


def standard_error(values) -> float:
    """The standard error of the mean of ``values`` (sample s.d. / √n; NaN for fewer than 2)."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")


NOISE_LEVEL = 0.95
"""The course's one rule for "within the noise": the 95 % t-interval of a mean of paired
differences includes 0 (notebook 06 explains it and what it assumes)."""


def noise_halfwidth(differences) -> float:
    """Half the width of the 95 % t-interval of the mean of paired ``differences``: a mean
    difference no larger is within the noise (NaN for fewer than 2). On five test videos it is
    2.8 standard errors; one standard error would call a third of pure-noise differences a win."""
    n = len(differences)
    return (float(t_distribution.ppf((1 + NOISE_LEVEL) / 2, n - 1) * standard_error(differences))
            if n > 1 else float("nan"))


# ---------------------------------------------------------------- the baseline table

@dataclass(frozen=True)
class Baseline:
    """One row of :func:`baseline_table`: F-score (%) and rank correlation on a split's test set.

    ``kendall_tau`` / ``spearman_rho`` are NaN where the dataset has no annotator scores.
    """

    f_score: float
    kendall_tau: float
    spearman_rho: float
    per_video: Mapping[str, float] = field(default_factory=dict)  # F, mean over the draws
    per_video_tau: Mapping[str, float] = field(default_factory=dict)  # Kendall τ, likewise


def baseline_table(dataset: SummarizationDataset, split, *, n_random_trials: int = 10,
                   seed: int = 0, extra: Mapping[str, Scores | Sequence[Scores]] | None = None,
                   rank: bool = True, supervised: bool = True) -> dict[str, Baseline]:
    """Every baseline on ``split.test_keys``: the :data:`TRIVIAL_BASELINES` (random, uniform,
    feature norm, motion, the three positional ones), ``extra`` (e.g. an untrained model's
    scores, or a list of them, one per seed, averaged), the supervised reference (ridge fitted on
    ``split.train_keys``: it uses the labels) and human leave-one-out, in that order, all through
    the same protocol.

    Random is averaged over ``n_random_trials`` draws from ``np.random.default_rng(seed)``.
    Every row but human needs features; τ/ρ need annotator scores (NaN without them, or with
    ``rank=False``, which skips their cost where only F is wanted). ``supervised=False`` leaves
    out the supervised reference, about half the cost, where no label-using row is wanted. Each
    row keeps its F per test video too (``per_video``), for comparisons paired video by video.
    """
    keys = list(split.test_keys)
    rng = np.random.default_rng(seed)
    randoms = [random_scores(dataset, keys, rng) for _ in range(n_random_trials)]
    rows = {"random": randoms, "uniform": [uniform_scores(dataset, keys)],
            "feature norm": [feature_norm_scores(dataset, keys)],
            "motion": [motion_scores(dataset, keys)]}
    rows.update({name: [positional_scores(dataset, keys, peak)]
                 for name, peak in POSITIONAL_BASELINES.items()})
    rows.update({name: [scores] if isinstance(scores, Mapping) else list(scores)
                 for name, scores in (extra or {}).items()})
    if supervised:
        rows["supervised (uses labels)"] = [
            supervised_reference_scores(dataset, split.train_keys, keys)]
    ranked = rank and all(dataset[k].user_scores is not None for k in keys)
    table = {}
    for name, sets in rows.items():
        with warnings.catch_warnings():
            if name == "supervised (uses labels)":  # a regression onto [0, 1] can dip below 0:
                warnings.simplefilter("ignore", ScoreWarning)  # such shots are never picked
            evaluations = evaluate_epochs(dataset, sets, keys)
        f = np.mean([e.mean for e in evaluations])
        tau = rho = np.nan
        taus = {}
        if ranked:  # [sets, videos, (τ, ρ)]
            ranks = np.array([rank_correlation_per_video(dataset, s, keys) for s in sets])
            tau, rho = ranks.mean(axis=(0, 1))
            taus = dict(zip(keys, ranks[..., 0].mean(axis=0).tolist(), strict=True))
        table[name] = Baseline(float(f), float(tau), float(rho), {
            k: float(np.mean([e.per_video[k] for e in evaluations])) for k in keys}, taus)
    human = [human_rank_correlation(annotator_step_scores(dataset[k].user_scores,
                                                          dataset[k].picks))
             for k in keys] if ranked else [(np.nan, np.nan)]
    tau, rho = np.mean(human, axis=0)
    people = {k: float(human_leave_one_out(dataset[k], dataset.eval_method)) for k in keys}
    table["human (leave-one-out)"] = Baseline(
        float(np.mean(list(people.values()))), float(tau), float(rho), people,
        {k: float(t) for k, (t, _) in zip(keys, human, strict=True)} if ranked else {})
    return table
