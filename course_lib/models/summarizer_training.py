"""What the SUM-GAN family (notebooks 03-06) shares: CPU settings, scoring, evaluation, checks of
a split, a run's history and its model-selection rules.

A model module (:mod:`~course_lib.models.sum_gan`, :mod:`~course_lib.models.sum_gan_sl`) keeps
its modules, losses and update step; its fit function trains with
:func:`course_lib.training.train` and returns a :class:`SumGanRun`. Every model of the family
exposes ``prepare`` (check and batch a video's features), ``compress`` and ``selector``, so one
:func:`score_videos` scores them all. The list of the methods is :mod:`course_lib.registry`.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from course_lib.config import NEUTRAL_LATER_FIELDS
from course_lib.errors import CourseError
from course_lib.models import lstm_autoencoder
from course_lib.models.sequence_lstm import low_precision_products, matmul_dtype
from course_lib.processes import CPU_THREADS, available_cores, fit_threads
from course_lib.runtime import flush_denormals
from course_lib.training import (
    CHECKPOINT_SECONDS,
    GeneratorState,
    checkpoint_exists,
    checkpoint_path,
    train,
)

# The family trains on one video at a time (batch 1, a few hundred steps, small layers in the
# laptop tier): there oneDNN's CPU LSTM was 3x faster than the course's whole-sequence one (73 vs
# 220 ms per 150-step video, laptop tier; the opposite of notebook 01's big batches). At the
# paper's size (hidden 500) oneDNN also won for the fast trainer's batches: forward + backward
# 0.85 / 4.1 / 8.1 ms per step at batch 1 / 10 / 20 against 1.6 / 6.3 / 11.1 ms. The fit
# functions use it on a CPU.
CPU_LSTM_ONEDNN = True
# Values below float32's smallest normal number (1.2e-38) flushed to zero. Training makes such
# values in the LSTMs' backward pass, and a CPU computes on them many times slower: on a 2-core
# Xeon with AMX, one fast -sl update (10 videos, paper size, 2 threads) took 78.7 s without and
# 7.7 s with flushing, mostly in oneDNN's LSTM backward; the faithful trainer gains too. What it
# changes: a number below 1e-38 becomes 0 (a GPU's fast-math kernels do the same; TensorFlow
# flushes on CPUs by default), on every intra-op thread (runtime.flush_denormals).
CPU_FLUSH_DENORMAL = True
# A test video's scores in a run's history (History.eval_arrays) are kept under this prefix.
SCORES_PREFIX = "scores "


_CPU_SETTINGS_DEPTH = [0]  # how many cpu_settings blocks enclose the running code


@contextmanager
def cpu_settings(device: torch.device, threads: int | None = None,
                 products: torch.dtype | None = None) -> Iterator[None]:
    """On a CPU: the LSTM kernel and flushing of denormal numbers chosen above, and ``threads``
    intra-op threads (default :data:`CPU_THREADS`; at most the cores this process may run on,
    where more would wait on each other; one where flushing cannot reach the other threads,
    which would compute on denormals: a paper-size faithful -sl fit took 26.0-27.5 s on two
    such threads, 28.7-30.5 s on one, 13.9-17.4 s on two that flush), restored afterwards
    (flushing to PyTorch's default, off: PyTorch cannot say if it was on). Inside another such
    block (a measurement made during a fit) the outer one's settings hold, and leaving the
    inner one changes nothing. ``products`` (e.g. ``torch.bfloat16``): the recurrences multiply
    in that precision (:func:`~course_lib.models.sequence_lstm.low_precision_products`), on the
    course's LSTM, since oneDNN's gains nothing from it."""
    if device.type != "cpu" or _CPU_SETTINGS_DEPTH[0]:
        yield
        return
    kernel, saved = lstm_autoencoder.USE_ONEDNN_LSTM, torch.get_num_threads()
    lstm_autoencoder.USE_ONEDNN_LSTM = CPU_LSTM_ONEDNN and products is None
    everywhere = flush_denormals(CPU_FLUSH_DENORMAL) or not CPU_FLUSH_DENORMAL
    torch.set_num_threads(min(threads or CPU_THREADS, available_cores()) if everywhere else 1)
    _CPU_SETTINGS_DEPTH[0] += 1
    try:
        if products is None:
            yield
        else:
            with low_precision_products(products):
                yield
    finally:
        _CPU_SETTINGS_DEPTH[0] -= 1
        lstm_autoencoder.USE_ONEDNN_LSTM = kernel
        torch.set_num_threads(saved)
        flush_denormals(False)


def with_cpu_settings(function: Callable) -> Callable:
    """``function(model, ...)`` under :func:`cpu_settings` for the model's device, as a fit
    trains: for the measurements that run a model's many small forward and backward passes
    outside a fit. On two threads the collapse measurements of notebook 05's trained model took
    15 s alone and 61 s beside one busy core; on one thread, 12 s beside it."""
    @functools.wraps(function)
    def under_cpu_settings(model, *args, **kwargs):
        with cpu_settings(next(model.parameters()).device):
            return function(model, *args, **kwargs)
    return under_cpu_settings


def seeded(build: Callable[[], torch.nn.Module], seed: int | None) -> torch.nn.Module:
    """``build()`` with its parameters drawn from ``seed``, leaving the global random state as
    it was (``seed=None``: drawn from the global state, as PyTorch does)."""
    if seed is None:
        return build()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def part_sizes(model: torch.nn.Module) -> dict[str, int]:
    """Parameters per part of ``model.parts()`` (the rows of the papers' tables), and in all."""
    count = lstm_autoencoder.count_parameters
    return {**{name: sum(count(m) for m in modules) for name, modules in model.parts().items()},
            "total": count(model)}


def shuffled_epochs(items: Sequence, seed: int) -> Iterator[list]:
    """Every epoch a fresh permutation of ``items``, drawn from ``seed``: the same epochs at
    each call, so a resumed run repeats the draws it already made and skips what they gave."""
    rng = np.random.default_rng(seed)
    for _ in itertools.count():
        yield [items[i] for i in rng.permutation(len(items))]


# ---------------------------------------------------------------- scoring and evaluation

@torch.no_grad()
def score_videos(model, dataset, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """The selector's scores, one per step, for each video of ``keys`` (what is evaluated)."""
    was_training = model.training
    model.eval()
    try:
        return {k: model.selector(model.compress(model.prepare(
            torch.from_numpy(np.asarray(dataset[k].features)))))[0].cpu().numpy()
            for k in keys}
    finally:
        model.train(was_training)


def evaluate_model(model, dataset, keys: Sequence[str], on_evaluate: Callable | None = None
                   ) -> dict[str, float]:
    """F-score (%) on ``keys`` through the standard protocol, the mean score, and whether the
    model still selects: the within-video score spread and the share of its selected shots that
    constant scores select too (:mod:`course_lib.diagnostics`; an F-score alone cannot tell).

    ``on_evaluate(scores, metrics)``, when given, also sees the scores themselves (the
    experiment runner saves them after every epoch, as the reference does). Videos without
    annotations (your own) have no F-score: NaN, the label-free measures still run."""
    from course_lib.diagnostics import constant_overlap, score_spread
    from course_lib.evaluation import evaluate

    scores = score_videos(model, dataset, keys)
    annotated = all(dataset[k].user_summary is not None for k in keys)
    metrics = {"f_score": evaluate(dataset, scores, keys).mean if annotated else float("nan"),
               "mean_score": float(np.mean([s.mean() for s in scores.values()])),
               "score_spread": score_spread(scores),
               "constant_overlap": _mean_of_defined([constant_overlap(dataset[k], scores[k])
                                                     for k in keys])}
    if on_evaluate is not None:
        on_evaluate(scores, metrics)
    return metrics


def _mean_of_defined(values: Sequence[float]) -> float:
    """The mean of the values that are not NaN, NaN (without NumPy's warning) if none is: a
    video whose every shot exceeds the budget selects nothing, and has no overlap to count."""
    defined = [v for v in values if not np.isnan(v)]
    return float(np.mean(defined)) if defined else float("nan")


def check_split(dataset, split) -> tuple[list[str], list[str]]:
    """The split's training and test keys, after checking that the dataset has every video
    and that no video is listed twice or in both parts (a split built in code never went
    through :func:`~course_lib.data.summarization.load_splits`)."""
    from course_lib.data.summarization import Split, check_split_keys

    train_keys, test_keys = list(split.train_keys), list(split.test_keys)
    if not train_keys or not test_keys:
        raise CourseError("the split needs training and test videos.")
    check_split_keys(Split(tuple(train_keys), tuple(test_keys)), "The split")
    missing = [k for k in train_keys + test_keys if k not in set(dataset.keys())]
    if missing:
        raise CourseError(f"the split names videos that {dataset.name} lacks: {missing}. Use "
                          f"the split file that belongs to {dataset.name}, or make splits from "
                          f"its own keys (make_splits).")
    return train_keys, test_keys


def run_settings(config, dataset, seed: int, train_keys: Sequence[str]) -> dict:
    """What a training checkpoint's key hashes: the configuration (without the fields added
    later that keep their neutral value, :data:`~course_lib.config.NEUTRAL_LATER_FIELDS`), the
    seed, the training videos and a fingerprint of the data itself, so a run trained on other
    data (an older version of the synthetic videos, another download) is never loaded beside
    this data's baselines."""
    fields = {k: v for k, v in asdict(config).items()
              if k not in NEUTRAL_LATER_FIELDS or v != NEUTRAL_LATER_FIELDS[k]}
    return {**fields, "seed": seed, "dataset": dataset.name, "source": dataset.source,
            "data": dataset.fingerprint(), "train_keys": list(train_keys)}


def checkpoint_file(checkpoint: bool | Path, name: str, settings: dict) -> Path | None:
    """Where a fit function keeps its checkpoint: nowhere (``False``), the course's checkpoint
    folder (``True``) or the folder given (the experiment runner's job folder)."""
    if checkpoint is False:
        return None
    path = checkpoint_path(name, settings)
    return path if checkpoint is True else Path(checkpoint) / path.name


# ---------------------------------------------------------------- a run and model selection

@dataclass
class SumGanRun:
    """A trained model with its history and how many steps (updates) make an epoch."""

    model: torch.nn.Module
    history: object  # course_lib.training.History
    steps_per_epoch: int
    seed: int
    pretrain: object | None = None  # History of a VAE pre-training, if one ran
    # the summarizer's loss terms, whose sum per epoch the "lowest training loss" rule reads
    loss_terms: tuple[str, ...] = ("reconstruction", "prior", "sparsity")

    def epoch_means(self, key: str) -> np.ndarray:
        """A training metric averaged over each epoch's steps."""
        values = np.asarray(self.history.train[key], dtype=float)
        n = len(values) // self.steps_per_epoch
        return values[:n * self.steps_per_epoch].reshape(n, -1).mean(axis=1)

    def scores_by_epoch(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """The epochs evaluated (0: before training) and test video ``key``'s scores after each,
        [epochs, steps]: how the selector's scores of one video changed while it trained."""
        rows = self.history.eval_arrays.get(SCORES_PREFIX + key)
        epochs = np.asarray(self.history.eval_steps) // self.steps_per_epoch
        if rows is None or len(rows) != len(epochs):
            kept = sorted(k.removeprefix(SCORES_PREFIX) for k in self.history.eval_arrays
                          if k.startswith(SCORES_PREFIX))
            raise CourseError(
                f"the run kept no scores of {key!r} at each of its {len(epochs)} evaluations "
                + (f"(it kept those of {', '.join(kept)}: use a test video)." if kept and
                   rows is None else
                   "(its checkpoint was written before the course kept them). Move the "
                   "checkpoint away and run the fit again."))
        return epochs, np.asarray(rows, dtype=np.float32)

    def selections(self) -> dict[str, tuple[int, float]]:
        """(epoch, test F-score) under three model-selection rules.

        ``best test epoch`` looks at the test labels: what the papers' tables print,
        optimistic. ``final epoch`` and ``lowest training loss`` (the epoch with the smallest
        mean summarizer loss, the sum of ``loss_terms`` that were logged: reconstruction + prior +
        sparsity for the family, as CA-SUM selects; SUM-GAN-AAE has no prior) use no labels.
        """
        from course_lib.comparison import BEST, FINAL, LOWEST_LOSS  # the rules' names (SciPy's
        # statistics, which that module loads, are needed only once a run is selected)

        epochs = np.asarray(self.history.eval_steps) // self.steps_per_epoch
        f = np.asarray(self.history.evals["f_score"])
        trained = epochs >= 1
        if not trained.any():
            raise CourseError(
                f"the run has no evaluated epoch of training yet ({self.history.completed_steps} "
                f"of {self.steps_per_epoch} updates of epoch 1 done, evaluations at epochs "
                f"{epochs.tolist()}): it was interrupted in its first epoch. Run the fit again "
                "(it resumes from its checkpoint), then select.")
        loss = sum(self.epoch_means(term) for term in self.loss_terms
                   if term in self.history.train)
        best = int(np.flatnonzero(trained)[np.argmax(f[trained])])
        lowest = int(np.flatnonzero(epochs == 1 + int(np.argmin(loss)))[0])
        return {BEST: (int(epochs[best]), float(f[best])), FINAL: (int(epochs[-1]), float(f[-1])),
                LOWEST_LOSS: (int(epochs[lowest]), float(f[lowest]))}


# ---------------------------------------------------------------- the interface and one fit

class Summarizer(Protocol):
    """What every summarizer model offers: :func:`score_videos`, :func:`fit` and the runner
    use nothing else of it. ``prepare`` checks one video's features [T, D] (raising a
    :class:`~course_lib.errors.CourseError` that says what is wrong) and batches them [1, T, D]
    on the model's device; ``selector(compress(x))`` gives the importance scores [B, T];
    ``parameter_groups`` names the parameters each update of its :class:`Trainer` steps."""

    def prepare(self, features: torch.Tensor) -> torch.Tensor: ...

    def compress(self, x: torch.Tensor) -> torch.Tensor: ...

    def selector(self, x: torch.Tensor) -> torch.Tensor: ...

    def parameter_groups(self) -> dict[str, list[torch.nn.Parameter]]: ...


@dataclass(frozen=True)
class Trainer:
    """How a summarizer trains, for :func:`fit`: a model module keeps its modules, losses and
    update step, and says here how they make a run.

    ``make_optimizers(model, config)`` → {name: optimizer}; ``batches(train_keys, config, seed,
    start, lengths)`` → the items of the updates from update ``start`` on (a resumed run sees
    the same ones); ``make_batch(model, videos, item, targets)`` → what ``train_step(model,
    optimizers, batch, config, generator)`` takes, which returns the logged losses (floats);
    ``video_targets(config, dataset, train_keys)`` → per training video, what a loss needs
    beside its features and is computed once before training (``None``: nothing; the
    novelty option's novelty);
    ``updates_per_epoch(n_videos, config)``; ``extra_state(model)`` → more objects that a
    checkpoint keeps; ``pretrain(model, config, videos, train_keys, seed, generator, path,
    name)`` →
    the History of a pre-training that runs first, if any; ``panels(history, steps_per_epoch,
    config, model)`` → the live figure (``None``: the losses' curves); ``evaluate(model,
    dataset, keys, on_evaluate)`` → the metrics of an evaluation; ``loss_terms``: the losses
    summed by the "lowest training loss" selection.
    """

    make_optimizers: Callable
    train_step: Callable
    batches: Callable
    make_batch: Callable
    updates_per_epoch: Callable = lambda n_videos, config: n_videos
    video_targets: Callable = lambda config, dataset, train_keys: None
    extra_state: Callable = lambda model: {}
    pretrain: Callable | None = None
    panels: Callable | None = None
    evaluate: Callable = evaluate_model
    loss_terms: tuple[str, ...] = ("reconstruction", "prior", "sparsity")


def fit(model: Summarizer, config, dataset, split, name: str, trainer: Trainer, *,
        seed: int = 0, checkpoint: bool | Path = True, live: bool | None = None,
        evaluate_before: bool = True, on_evaluate: Callable | None = None,
        panels: Callable | None = None) -> SumGanRun:
    """Train ``model`` on the split's training videos for ``config.epochs`` epochs by
    ``trainer``'s updates, evaluating the test videos after every epoch (and, with
    ``evaluate_before``, before training: epoch 0); the family's fit functions are this.

    Every video is checked first (an error names it). ``seed`` drives the model's random draws
    (a generator kept in the checkpoint) and the order. The run checkpoints every epoch: a
    finished run is loaded, an interrupted one resumes exactly, another configuration trains
    its own (the file name carries a hash of the configuration, the seed and the data).
    ``checkpoint``: ``False`` none, ``True`` the course's folder, or a folder.
    On a CPU it trains on the configuration's ``cpu_threads`` (:func:`fit_threads`), its
    recurrences' products in its ``matmul_dtype``.
    ``on_evaluate(scores, metrics)`` sees each evaluation; ``panels`` replaces the trainer's
    live figure.
    """
    with cpu_settings(next(model.parameters()).device, fit_threads(config),
                      matmul_dtype(config)):
        return _fit(model, config, dataset, split, name, trainer, seed, checkpoint, live,
                    evaluate_before, on_evaluate, panels or trainer.panels)


def _fit(model, config, dataset, split, name, trainer, seed, checkpoint, live, evaluate_before,
         on_evaluate, panels):
    train_keys, test_keys = check_split(dataset, split)
    device = next(model.parameters()).device  # the training videos are copied there once
    videos = {k: torch.from_numpy(np.asarray(dataset[k].features)).to(device)
              for k in train_keys}
    for role, keys in (("training", train_keys), ("test", test_keys)):
        for key in keys:
            try:
                model.prepare(torch.from_numpy(np.asarray(dataset[key].features)))
            except ValueError as error:
                raise CourseError(f"{role} video {key!r} of {dataset.name}: {error}") from None
    targets = trainer.video_targets(config, dataset, train_keys)
    if targets is not None:
        targets = {k: t.to(device) for k, t in targets.items()}
    n = trainer.updates_per_epoch(len(train_keys), config)
    generator = torch.Generator(device=device).manual_seed(seed)
    settings = run_settings(config, dataset, seed, train_keys)
    path = checkpoint_file(checkpoint, name, settings)

    pretrain = None
    if trainer.pretrain is not None and not (path is not None and checkpoint_exists(path)):
        pretrain = trainer.pretrain(model, config, videos, train_keys, seed, generator,
                                    checkpoint_file(checkpoint, f"{name}-pretrain", settings),
                                    name)
    optimizers = trainer.make_optimizers(model, config)

    def step(item) -> dict[str, float]:
        model.train()
        batch = trainer.make_batch(model, videos, item, targets)
        return trainer.train_step(model, optimizers, batch, config, generator)

    def evaluate() -> dict:
        """The trainer's metrics, and each test video's scores for the history (a loaded run
        can still show them epoch by epoch: :meth:`SumGanRun.scores_by_epoch`)."""
        seen = {}

        def keep(scores, metrics):
            seen.update(scores)
            if on_evaluate is not None:
                on_evaluate(scores, metrics)

        metrics = trainer.evaluate(model, dataset, test_keys, keep)
        return {**metrics, **{SCORES_PREFIX + k: v for k, v in seen.items()}}

    lengths = {k: len(v) for k, v in videos.items()}
    history = train(step, lambda start: trainer.batches(train_keys, config, seed, start, lengths),
                    config.epochs * n,
                    state={"model": model, **{f"optimizer_{k}": v for k, v in optimizers.items()},
                           "generator": GeneratorState(generator), **trainer.extra_state(model)},
                    evaluate=evaluate,
                    eval_every=n, evaluate_first=evaluate_before, checkpoint=path,
                    checkpoint_every=n, checkpoint_seconds=CHECKPOINT_SECONDS,
                    title=f"{name} (seed {seed})", live=live,
                    plot=None if panels is None else lambda h: panels(h, n, config, model))
    return SumGanRun(model, history, n, seed, pretrain, trainer.loss_terms)
