"""Why SUM-GAN-sl and -AAE stop selecting: measurements of the collapse to near-constant scores.

A trained selector of the family often gives every step of a video nearly the same score, about
σ (:func:`course_lib.diagnostics.score_spread` falls towards 0). These functions measure the
mechanism instead of guessing it, each in a few lines of a notebook:

- :func:`term_gradients` / :func:`gradient_table` — which loss term pushes the scores towards a
  constant: each term's gradient on the selector's parameters, its size and whether descending
  it widens or narrows the scores (its cosine with the gradient of the scores' spread);
- :func:`term_reach` / :func:`reach_table` — where in the video each term pulls the scores: an
  LSTM's last state remembers mostly the last steps, so the reconstruction reaches the scores
  through the last states mostly at the video's end;
- :func:`discriminator_view` — does the discriminator tell originals from reconstructions at all;
- :func:`reconstruction_without_selection` — can the reconstruction be matched without selecting
  anything: the loss with the model's own scores against constant, shuffled and random ones;
- :class:`CollapseProbe` — all of these during a training run, at chosen epochs, without
  changing the run (its own random draws, no gradients left in the parameters);
- :func:`epoch_curves` — a run's per-epoch spread, discriminator outputs and mean score.

They work on any model with -sl's interface (``compress``, ``score``, ``summarize``,
``discriminate_both``, ``latent_terms``), SUM-GAN-AAE included.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from course_lib.errors import CourseError
from course_lib.models.sum_gan_sl import (
    distance_loss,
    least_squares,
    masked_sparsity_loss,
    reconstruction_pass,
)
from course_lib.models.summarizer_training import with_cpu_settings

SCORE_CONDITIONS = ("own", "constant σ", "constant mean", "shuffled", "random, same mean")
"""What :func:`reconstruction_without_selection` feeds the summarizer in place of its scores."""


def synthetic_split(tier: str, split: int | None = None):
    """The course's synthetic videos of ``tier`` and one of their 5 splits (the configuration's
    default split when ``split`` is None), as the experiment runner makes them."""
    from course_lib.config import DEFAULT_SPLIT
    from course_lib.data.synthetic_videos import synthetic_benchmark

    data, splits = synthetic_benchmark(tier)
    return data, splits[DEFAULT_SPLIT if split is None else split]


@contextmanager
def given_scores(model, scores: torch.Tensor):
    """The model's summarizer with ``scores`` [1, T] in place of its selector's: what the encoder,
    decoder and discriminator make of a selection the selector did not choose."""
    model.score = lambda x, lengths=None: scores.to(x)
    try:
        yield model
    finally:
        del model.score


def spread_proxy(scores: torch.Tensor) -> torch.Tensor:
    """The standard deviation of one video's scores: a differentiable stand-in for
    :func:`~course_lib.diagnostics.score_spread`, whose quantiles move only two steps' scores."""
    return scores.reshape(-1).std()


def _cosine(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    a = torch.cat([t.reshape(-1) for t in a]).double()
    b = torch.cat([t.reshape(-1) for t in b]).double()
    norm = a.norm() * b.norm()
    return float(a @ b / norm) if norm > 0 else float("nan")


@dataclass(frozen=True)
class TermGradient:
    """One loss term's pull on the selector, for one video or a mean over videos.

    ``norm``: the size of its gradient on the selector's parameters. ``widens``: the cosine
    between descending the term (minus its gradient) and the gradient of the scores' spread; > 0
    means a step on this term alone widens the scores, < 0 narrows them towards a constant.
    ``sign_widens``: the same for minus the gradient's *signs*, the direction of an early Adam
    step (which moves every parameter by about the learning rate, however small its gradient).
    ``score_widens``: the cosine taken on the scores themselves, before the selector's sigmoid
    and weights shape how a parameter step moves them.
    """

    norm: float
    widens: float
    sign_widens: float
    score_widens: float


def _terms(model, x: torch.Tensor, config, generator: torch.Generator | None):
    """The summarizer's forward pass and every loss term that reaches the scores: phase 1's
    (reconstruction, the latent terms, sparsity: what the selector descends) and the decoder
    phase's adversarial term (the selector never descends it; shown for comparison), with the
    video's scores [1, T]. The pass is the one the configuration's options make in training
    (the encoder's input, φ, windows; windows from the video's first step)."""
    seen = reconstruction_pass(model, x, None, generator, config)
    (phi_x, phi_hat), (_, p_hat) = model.discriminate_both(
        seen.original, seen.out.decoded, seen.lengths, config.discriminator_pooling)
    terms = {"reconstruction": distance_loss(phi_x, phi_hat), **model.latent_terms(seen.out),
             "sparsity": masked_sparsity_loss(seen.scores, config.sigma)}
    terms["phase 1 (sum)"] = sum(terms.values())
    terms["adversarial"] = least_squares(p_hat, 1.0)
    return seen.scores, terms


def term_gradients(model, features, config, generator: torch.Generator | None = None
                   ) -> dict[str, TermGradient]:
    """Each loss term's :class:`TermGradient` on one video's ``features`` [T, D].

    ``autograd.grad`` leaves the parameters' ``.grad`` untouched, so this can run during
    training (the reference's clipping reads gradients left from earlier updates)."""
    params = [p for p in model.selector.parameters() if p.requires_grad]
    x = model.compress(model.prepare(torch.as_tensor(np.asarray(features))))
    scores, terms = _terms(model, x, config, generator)
    spread = spread_proxy(scores)
    spread_params = torch.autograd.grad(spread, params, retain_graph=True)
    spread_scores = torch.autograd.grad(spread, scores, retain_graph=True)
    found = {}
    for name, term in terms.items():
        on_params = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
        on_params = [torch.zeros_like(p) if g is None else g
                     for p, g in zip(params, on_params, strict=True)]
        (on_scores,) = torch.autograd.grad(term, scores, retain_graph=True)
        found[name] = TermGradient(
            float(torch.cat([g.reshape(-1) for g in on_params]).norm()),
            _cosine([-g for g in on_params], spread_params),
            _cosine([-g.sign() for g in on_params], spread_params),
            _cosine([-on_scores], spread_scores))
    return found


def term_reach(model, features, config, generator: torch.Generator | None = None,
               parts: int = 10) -> dict[str, np.ndarray]:
    """Where in one video (features [T, D]) each loss term of :func:`_terms` pulls the scores:
    the mean |∂term/∂s_t| over each of ``parts`` consecutive stretches of the video, first to
    last, as shares that sum to 1. A pull that reaches every step alike (the sparsity term's)
    gives 1/parts to each; a term whose gradient reaches only the video's end puts nearly all of
    it in the last part, and the scores elsewhere are then shaped by the other terms alone."""
    x = model.compress(model.prepare(torch.as_tensor(np.asarray(features))))
    if x.shape[1] < parts:
        raise CourseError(f"term_reach needs a video of at least {parts} steps (one per part), "
                          f"got {x.shape[1]}: pass a longer video or fewer parts.")
    scores, terms = _terms(model, x, config, generator)
    found = {}
    for name, term in terms.items():
        (pull,) = torch.autograd.grad(term, scores, retain_graph=True, allow_unused=True)
        if pull is None:
            continue
        means = np.array([p.mean() for p in np.array_split(
            pull.detach().abs().double().reshape(-1).cpu().numpy(), parts)])
        total = means.sum()
        found[name] = means / total if total > 0 else np.full(parts, np.nan)
    return found


@with_cpu_settings
def reach_table(model, dataset, keys: Sequence[str], config, seed: int = 0, parts: int = 10
                ) -> dict[str, np.ndarray]:
    """:func:`term_reach` averaged over the videos ``keys`` (the VAE's noise from ``seed``)."""
    if not keys:
        raise CourseError("reach_table needs at least one video key.")
    generator = torch.Generator().manual_seed(seed)
    rows = [term_reach(model, dataset[k].features, config, generator, parts) for k in keys]
    return {name: np.nanmean([r[name] for r in rows], axis=0) for name in rows[0]}


def reach_sentence(reach: Mapping[str, np.ndarray]) -> str:
    """Where the reconstruction's pull on the scores lands (:func:`reach_table`), against an
    even pull's shares."""
    shares = reach["reconstruction"]
    parts = len(shares)
    part = "tenth" if parts == 10 else f"1/{parts}"
    first_half = shares[:parts // 2].sum()
    verdict = ("before the end, only the other terms, such as the sparsity term's even pull to "
               "σ, move the scores" if first_half < 0.1 else
               "it reaches the whole video" if shares.min() >= 0.5 / parts else
               "it reaches the video unevenly")
    return (f"Where the reconstruction pulls the scores: {shares[-1]:.0%} of its pull on the "
            f"video's last {part} and {first_half:.0%} on its first half (an even pull: "
            f"{1 / parts:.0%} and {(parts // 2) / parts:.0%}): {verdict}.")


def _mean_rows(rows: Sequence[Mapping[str, object]]) -> dict[str, object]:
    kind = type(next(iter(rows[0].values())))
    return {name: kind(*np.nanmean([[getattr(r[name], f) for f in kind.__dataclass_fields__]
                                     for r in rows], axis=0).tolist())
            for name in rows[0]}


@with_cpu_settings
def gradient_table(model, dataset, keys: Sequence[str], config, seed: int = 0
                   ) -> dict[str, TermGradient]:
    """:func:`term_gradients` averaged over the videos ``keys`` (the VAE's noise drawn from
    ``seed``, not from the training's generator)."""
    if not keys:
        raise CourseError("gradient_table needs at least one video key.")
    generator = torch.Generator().manual_seed(seed)
    return _mean_rows([term_gradients(model, dataset[k].features, config, generator)
                       for k in keys])


def separation(p_original: Sequence[float], p_summary: Sequence[float]) -> float:
    """The fraction of videos whose original the discriminator rates above its reconstruction
    (ties count half): 0.5 is chance, 1 a discriminator that always tells them apart."""
    a, b = np.asarray(p_original, dtype=float), np.asarray(p_summary, dtype=float)
    if a.shape != b.shape or not len(a):
        raise CourseError(f"separation needs one P(original) per P(summary), got {a.shape} "
                          f"and {b.shape}.")
    return float(np.mean((a > b) + 0.5 * (a == b)))


@dataclass(frozen=True)
class DiscriminatorView:
    """Mean P(original) and P(summary) over videos, and their :func:`separation`."""

    p_original: float
    p_summary: float
    separation: float


@with_cpu_settings
@torch.no_grad()
def discriminator_view(model, dataset, keys: Sequence[str], seed: int = 0) -> DiscriminatorView:
    """What the discriminator says of each video and of the summarizer's reconstruction of it."""
    generator = torch.Generator().manual_seed(seed)
    p_x, p_hat = [], []
    for key in keys:
        x = model.compress(model.prepare(torch.as_tensor(np.asarray(dataset[key].features))))
        _, (p_original, p_summary) = model.discriminate_both(
            x, model.summarize(x, None, generator).decoded)
        p_x.append(float(p_original))
        p_hat.append(float(p_summary))
    return DiscriminatorView(float(np.mean(p_x)), float(np.mean(p_hat)), separation(p_x, p_hat))


def condition_scores(own: torch.Tensor, sigma: float, rng: np.random.Generator
                     ) -> dict[str, torch.Tensor]:
    """The scores of :data:`SCORE_CONDITIONS` for one video: its own; σ everywhere; its own mean
    everywhere; its own scores in a random order (same values, no link to the content); uniform
    random scores with its own mean (U(0, 2·mean), or U(2·mean − 1, 1) above 0.5)."""
    mean = float(own.mean())
    low, high = (0.0, 2 * mean) if mean <= 0.5 else (2 * mean - 1.0, 1.0)
    steps = own.shape[-1]
    return {"own": own,
            "constant σ": torch.full_like(own, sigma),
            "constant mean": torch.full_like(own, mean),
            "shuffled": own[..., torch.from_numpy(rng.permutation(steps))],
            "random, same mean": torch.from_numpy(
                rng.uniform(low, high, size=own.shape)).to(own)}


@dataclass(frozen=True)
class ConditionResult:
    """The summarizer's losses when fed one condition's scores (means over videos and draws):
    the reconstruction distance ‖φ(x) − φ(x̂)‖ and the discriminator's P(summary)."""

    reconstruction: float
    p_summary: float


@with_cpu_settings
@torch.no_grad()
def reconstruction_without_selection(model, dataset, keys: Sequence[str], sigma: float,
                                     seed: int = 0, draws: int = 3
                                     ) -> dict[str, ConditionResult]:
    """Can the reconstruction be matched without selecting? The loss the selector descends and
    the discriminator's view, with the model's own scores and with each of
    :data:`SCORE_CONDITIONS`' stand-ins. Every condition sees the same noise draws (paired)."""
    if not keys:
        raise CourseError("reconstruction_without_selection needs at least one video key.")
    rng = np.random.default_rng(seed)
    found: dict[str, list[tuple[float, float]]] = {c: [] for c in SCORE_CONDITIONS}
    for key in keys:
        x = model.compress(model.prepare(torch.as_tensor(np.asarray(dataset[key].features))))
        for draw in range(draws):
            scores = condition_scores(model.score(x), sigma, rng)
            for name, given in scores.items():
                generator = torch.Generator().manual_seed(seed * 1000 + draw)
                with given_scores(model, given):
                    decoded = model.summarize(x, None, generator).decoded
                (phi_x, phi_hat), (_, p_hat) = model.discriminate_both(x, decoded)
                found[name].append((float(distance_loss(phi_x, phi_hat)), float(p_hat)))
    return {name: ConditionResult(*np.mean(rows, axis=0).tolist())
            for name, rows in found.items()}


@dataclass
class CollapseProbe:
    """An ``on_evaluate`` callback for a fit function that measures the model at the given
    epochs (0: before training) on ``keys`` (e.g. a few training videos): its
    :func:`gradient_table` and :func:`discriminator_view`, kept in ``gradients`` and ``views``
    by epoch. It draws from its own generators and leaves no gradients behind, so the run is the
    one it would be without the probe. Pass ``evaluate_before=True`` runs (the family's
    default): the first evaluation is epoch 0."""

    model: torch.nn.Module
    dataset: object
    keys: Sequence[str]
    config: object
    epochs: Iterable[int] = (0, 1, 2, 5, 10, 20)
    seed: int = 0
    gradients: dict[int, dict[str, TermGradient]] = field(default_factory=dict)
    views: dict[int, DiscriminatorView] = field(default_factory=dict)
    _calls: int = 0

    def __call__(self, scores, metrics) -> None:
        epoch, self._calls = self._calls, self._calls + 1
        if epoch not in set(self.epochs):
            return
        with torch.enable_grad():
            self.gradients[epoch] = gradient_table(self.model, self.dataset, self.keys,
                                                   self.config, self.seed)
        self.views[epoch] = discriminator_view(self.model, self.dataset, self.keys, self.seed)


def epoch_curves(run) -> dict[str, np.ndarray]:
    """A run's collapse, epoch by epoch: the test videos' score spread and mean score at each
    evaluation (epoch 0 first when evaluated before training), and the training updates'
    P(original), P(summary) and mean score averaged over each epoch (epochs 1 on)."""
    curves = {"test spread": np.asarray(run.history.evals["score_spread"]),
              "test mean score": np.asarray(run.history.evals["mean_score"])}
    for key in ("p_original", "p_summary", "mean_score"):
        if key in run.history.train:
            curves[f"train {key.replace('_', ' ')}"] = run.epoch_means(key)
    return curves


def why_sentences(conditions: Mapping[str, ConditionResult],
                  gradients: Mapping[str, TermGradient], view: DiscriminatorView) -> list[str]:
    """What one trained model's measurements say about its collapse, computed from them: does
    selecting lower the reconstruction, does the discriminator tell the summary apart, and which
    term pulls the selector hardest, widening or narrowing its scores."""
    own = conditions["own"].reconstruction
    stand_ins = {c: r.reconstruction for c, r in conditions.items() if c != "own"}
    best_other = min(stand_ins.values())
    gain = (best_other - own) / best_other
    listed = ", ".join(f"{c} {v:.4f}" for c, v in stand_ins.items())
    lines = [f"Reconstruction distance with its own scores {own:.4f}; with stand-ins that select "
             f"nothing: {listed}. Its own selection lowers the loss by {gain:.1%} of the best "
             "stand-in's: " + ("the reconstruction barely rewards selecting."
                               if gain < 0.1 else "selecting pays in the reconstruction.")]
    margin = view.p_original - view.p_summary
    lines.append(
        f"The discriminator rates originals {view.p_original:.3f} and reconstructions "
        f"{view.p_summary:.3f} on average, and ranks the original higher on "
        f"{view.separation:.0%} of the videos, by {margin:+.3f}: "
        + ("a near-flat adversarial signal." if abs(margin) < 0.05 else
           "the adversarial term can tell them apart."))
    phase_one = {t: g for t, g in gradients.items()
                 if t not in ("phase 1 (sum)", "adversarial") and np.isfinite(g.norm)}
    strongest = max(phase_one, key=lambda t: phase_one[t].norm)
    s, r = phase_one[strongest], phase_one.get("reconstruction")
    ratio = (f"; the reconstruction's is {s.norm / r.norm:.0f} times smaller"
             if r is not None and strongest != "reconstruction" and r.norm > 0 else "")
    lines.append(f"On the selector's parameters the strongest pull is the {strongest} term's "
                 f"(gradient norm {s.norm:.3g}){ratio}; a step on the {strongest} term alone "
                 + ("widens" if s.widens > 0 else "narrows") + f" the scores (cosine "
                 f"{s.widens:+.2f} with the gradient of their spread).")
    return lines
