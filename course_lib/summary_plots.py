"""Figures and widgets for video summaries (notebook 02 and the SUM-GAN notebooks).

Generic players and loss curves live in :mod:`course_lib.widgets` and :mod:`course_lib.plotting`;
this module draws what is specific to summaries: importance curves with shot boundaries, the
knapsack's choice, user summaries against a machine summary, a video explorer, and a model's
training and results beside the baselines (with the sentence that says which it beats).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML

from course_lib import evaluation as ev
from course_lib.data.summarization import SummarizationDataset, VideoRecord
from course_lib.diagnostics import FLAT_SPREAD
from course_lib.style import (
    animation_html,
    height_for_legend,
    legend_beside,
    static_camera,
    whole_epochs,
)
from course_lib.widgets import frame_png, play_controls


def importance_plot(record: VideoRecord, scores: np.ndarray | None = None,
                    summary: np.ndarray | None = None, cursor: int | None = None,
                    ax: plt.Axes | None = None, title: str = "", label: str = "importance"
                    ) -> plt.Axes:
    """Step scores (default ``gtscore``) over frames, KTS shot boundaries, selected shots shaded.

    The score axis is fixed at 0 to 1 (wider only for scores outside it), so that scores that
    barely move look flat, and panels of several models read on one scale."""
    if ax is None:
        ax = plt.subplots(figsize=(8, 2.4))[1]
    scores = record.gtscore if scores is None else np.asarray(scores)
    low, high = min(0.0, float(np.min(scores))), max(1.0, float(np.max(scores)))
    ax.step(record.picks, scores, where="post", color="C0", lw=1.2, label=label)
    if record.change_points is not None:
        for i, start in enumerate(record.change_points[1:, 0]):
            ax.axvline(start, color="0.6", lw=0.6, ls="--",
                       label="KTS shot boundaries" if i == 0 else None)
    if summary is not None:
        ax.fill_between(np.arange(len(summary)), low, low + (high - low) * summary, step="post",
                        color="C1", alpha=0.3, label="selected shots")
    if cursor is not None:
        ax.axvline(cursor, color="C3", lw=1.5)
    ax.set(xlim=(0, record.n_frames), ylim=(low, high), xlabel="frame", ylabel="score",
           title=title or f"{record.key}: importance, shots (dashed)")
    # beside the axes: inside, it would hide a video's end or start, where selectors often peak
    legend_beside(ax)
    return ax


def knapsack_plot(values: np.ndarray, weights: np.ndarray, capacity: int,
                  chosen: list[int], ax: plt.Axes | None = None) -> plt.Axes:
    """Shots as bars (width = length in frames, height = mean score), the knapsack's pick in
    orange: the budget is spent on value per frame *and* on fitting, not on the best shots."""
    if ax is None:
        ax = plt.subplots(figsize=(8, 2.6))[1]
    lefts = np.concatenate([[0], np.cumsum(weights)[:-1]])
    colors = ["C1" if i in set(chosen) else "C0" for i in range(len(values))]
    ax.bar(lefts, values, width=weights, align="edge", color=colors, edgecolor="white")
    used = int(np.sum(np.asarray(weights)[chosen]))
    ax.set(xlabel="frame", ylabel="shot score", xlim=(0, np.sum(weights)),
           title=f"Knapsack: {len(chosen)} of {len(values)} shots, {used} of {capacity} frames "
                 f"of budget (orange = selected)")
    return ax


def summaries_plot(record: VideoRecord, summary: np.ndarray, metric: str,
                   ax: plt.Axes | None = None) -> plt.Axes:
    """Each user's keyshots (rows) above the machine summary, with the F-score per user."""
    if ax is None:
        ax = plt.subplots(figsize=(8, 0.25 * record.n_users + 1.2))[1]
    users = record.user_summary
    f = ev.f_scores(summary, users)
    image = np.vstack([users, np.zeros((1, users.shape[1])), 2 * summary[None, :users.shape[1]]])
    ax.imshow(image, aspect="auto", interpolation="nearest", cmap="Blues", vmin=0, vmax=2)
    ax.set_yticks(list(range(len(users))) + [len(users) + 1])
    ax.set_yticklabels([f"user {u + 1}: F={v:.0f}" for u, v in enumerate(f)] + ["machine"],
                       fontsize="small")
    other, value = ("mean", f.mean()) if metric == "max" else ("max", f.max())  # the one unused
    ax.set(xlabel="frame", title=f"{record.key}: F = {ev.reduce_users(f, metric):.1f} ({metric} "
           f"over users; their {other}: {value:.1f})")
    return ax


def baseline_bars(ours: Mapping[str, float], published: Mapping[str, float],
                  title: str = "", ax: plt.Axes | None = None) -> plt.Axes:
    """Our F-scores beside published ones, per baseline."""
    if ax is None:
        ax = plt.subplots(figsize=(6, 2.8))[1]
    names = list(ours)
    x = np.arange(len(names))
    ax.bar(x - 0.2, [ours[n] for n in names], 0.4, label="this course")
    ax.bar(x + 0.2, [published.get(n, np.nan) for n in names], 0.4, label="Otani et al. 2019")
    for xi, name in zip(x, names, strict=True):
        ax.text(xi - 0.2, ours[name] + 1, f"{ours[name]:.1f}", ha="center", fontsize="small")
        if name in published:
            ax.text(xi + 0.2, published[name] + 1, f"{published[name]:.1f}", ha="center",
                    fontsize="small")
    ax.set_xticks(x, names)
    ax.set(ylabel="F-score (%)", title=title, ylim=(0, 100))
    ax.legend()
    return ax


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def video_explorer(dataset: SummarizationDataset, interval: int = 300) -> widgets.VBox:
    """Pick a video, scrub its steps: the frame (synthetic videos) beside the importance curve,
    the shot boundaries, the ground-truth summary and a cursor at the current frame."""
    from course_lib.data.synthetic_videos import render_frames

    choose = widgets.Dropdown(options=dataset.keys(), description="video")
    frame, curve, caption = widgets.Image(format="png"), widgets.Image(format="png"), \
        widgets.HTML()
    play, slider = play_controls(2, interval, description="step")
    cache: dict[str, np.ndarray] = {}

    def frames_of(record):
        if record.key not in cache:
            cache[record.key] = render_frames(record, step=int(np.diff(record.picks[:2])[0]))
        return cache[record.key]

    def show(change=None):
        record = dataset[choose.value]
        t = min(slider.value, record.n_steps - 1)
        if "scene_bounds" in record.extras:
            frame.value = frame_png(frames_of(record)[t], scale=2)
        summary = ev.generate_summary(record.gtscore, record.change_points, record.picks,
                                      record.n_frames)
        fig, ax = plt.subplots(figsize=(7, 2.2))
        importance_plot(record, summary=summary, cursor=int(record.picks[t]), ax=ax,
                        title=f"{record.key}: gtscore, KTS shots, keyshot summary of gtscore",
                        label="gtscore")
        curve.value = _png(fig)
        caption.value = f"step {t + 1} of {record.n_steps} = frame {record.picks[t]}"

    def new_video(change=None):
        n = dataset[choose.value].n_steps
        slider.value = 0
        play.max = slider.max = n - 1
        show()

    choose.observe(new_video, names="value")
    slider.observe(show, names="value")
    new_video()
    return widgets.VBox([widgets.HBox([choose, play, slider, caption]),
                         widgets.HBox([frame, curve])])


# ---------------------------------------------------------------- SUM-GAN (notebook 03)

def sum_gan_diagram(ax: plt.Axes | None = None) -> plt.Axes:
    """SUM-GAN's architecture as boxes and arrows (Mahasseni et al., CVPR 2017, Fig. 2)."""
    if ax is None:
        ax = plt.subplots(figsize=(10, 3.4))[1]
    boxes = {  # name: (x, y, label, colour)
        "x": (0.04, 0.5, "features\n$x_1..x_T$", "0.9"),
        "s": (0.2, 0.78, "selector\nsLSTM (bi)", "#cde"),
        "w": (0.36, 0.5, "$s_t \\cdot x_t$", "0.9"),
        "e": (0.5, 0.5, "encoder\neLSTM", "#dec"),
        "z": (0.62, 0.5, "$\\mu, \\sigma$ →\n$e = \\mu + \\epsilon\\sigma$", "#dec"),
        "d": (0.75, 0.5, "decoder\ndLSTM\n(reversed)", "#dec"),
        "c": (0.91, 0.5, "cLSTM\n$\\phi(\\cdot)$, $c(\\cdot)$", "#edc"),
        "p": (0.36, 0.14, "random scores\n$s^p_t \\sim U(0,1)$", "0.9"),
    }
    drawn = {name: ax.text(x, y, label, ha="center", va="center", fontsize="small",
                           bbox=dict(boxstyle="round,pad=0.4", fc=colour, ec="0.3"))
             for name, (x, y, label, colour) in boxes.items()}

    def arrow(a: str, b: str, **look) -> None:
        """From box ``a`` to box ``b``, centre to centre, cut where it leaves and enters them."""
        ax.annotate("", boxes[b][:2], boxes[a][:2], arrowprops=dict(
            arrowstyle="->", color="0.3", patchA=drawn[a].get_bbox_patch(),
            patchB=drawn[b].get_bbox_patch(), shrinkA=2, shrinkB=2) | look)

    for a, b in [("x", "s"), ("s", "w"), ("x", "w"), ("w", "e"), ("e", "z"), ("z", "d"),
                 ("d", "c"), ("p", "e")]:
        arrow(a, b)
    # drawn from cLSTM back, so that the bracket rises above the selector instead of through it
    arrow("c", "x", arrowstyle="<-", color="C3", connectionstyle="bar,armA=80,armB=80,fraction=0")
    ax.text(0.5, 1.0, "original $x$ also goes to cLSTM: $c(x)$ vs $c(\\hat x)$, $c(\\hat x_p)$; "
            "$L_{reconst} = \\|\\phi(x) - \\phi(\\hat x)\\|^2$", ha="center", fontsize="small",
            color="C3")
    ax.text(0.62, 0.24, "VAE = notebook 01's autoencoder", ha="center", fontsize="small",
            color="C2")
    ax.set(xlim=(-0.02, 1.0), ylim=(0.0, 1.08))
    ax.axis("off")
    return ax


# One look per baseline in every figure (colour and dash pattern both differ, so two baselines
# at nearly the same F-score stay distinguishable, and in grey print too).
BASELINE_STYLES = {
    "random": dict(color="0.45", ls=":"),
    "uniform": dict(color="tab:olive", ls="--"),
    "feature norm": dict(color="tab:brown", ls="-."),
    "motion": dict(color="tab:purple", ls=(0, (6, 2, 1, 2, 1, 2))),
    # Content-free, position only: one hue (orange), told apart by dashes.
    "ramp down from start": dict(color="tab:orange", ls=(0, (1, 1))),
    "ramp up to end": dict(color="tab:orange", ls=(0, (4, 1, 1, 1))),
    "bump at middle": dict(color="tab:orange", ls=(0, (10, 2))),
    "supervised (uses labels)": dict(color="darkgreen", ls=(0, (8, 3))),
    "human (leave-one-out)": dict(color="k", ls="-"),
}


# Seeds' lines in colours no baseline uses (the baselines take orange, olive, brown, purple,
# green and greys), the same colour for a seed in every figure.
SEED_COLORS = ("tab:blue", "tab:red", "tab:cyan", "tab:pink", "navy", "crimson", "teal",
               "magenta")


def seed_color(seed: int) -> str:
    """The colour of seed ``seed``'s line in every per-seed figure."""
    return SEED_COLORS[seed % len(SEED_COLORS)]


def baseline_line(ax: plt.Axes, name: str, value: float) -> None:
    """A baseline as a labelled horizontal line in its own style."""
    style = BASELINE_STYLES.get(name, dict(color="0.3", ls="--"))
    ax.axhline(value, lw=1.1, label=f"{name} ({value:.1f})", **style)


def score_axis(ax: plt.Axes, sigma: float | None = None, label: str | None = "score") -> None:
    """A score axis as the scores are: 0 to 1 whatever the values (a flat 0.011 range stays
    flat), with the sparsity target σ drawn and named when given."""
    ax.set_ylim(0, 1)
    if label:
        ax.set_ylabel(label)
    if sigma is not None:
        ax.axhline(sigma, color="k", lw=1.2, ls="--", label=f"σ = {sigma} (sparsity target)",
                   zorder=1.5)  # under the scores, which often lie on it


def chance_line(ax: plt.Axes) -> None:
    """A discriminator's probability axis, 0 to 1, with 0.5 drawn and named. Only the lines'
    distance says whether it tells original from summary: together at any height, it cannot."""
    ax.set_ylim(0, 1)
    ax.axhline(0.5, color="0.4", lw=1.2, ls=":", label="0.5: chance level")


# What SUM-GAN logs per video, grouped by unit: (panel title, y label, {key: legend label}).
SUM_GAN_PANELS = (
    ("reconstruction loss", "‖φ(x) − φ(x̂)‖² (φ's units squared)",
     {"reconstruction": "$L_{reconst}$"}),
    ("prior loss", "KL to N(0, I) (nats)", {"prior": "$L_{prior}$"}),
    ("adversarial losses", "nats",
     {"discriminator": "discriminator: $-L_{GAN}$", "gan_generator": "decoder: GAN term"}),
    ("discriminator outputs", "c(·) = P(original)",
     {"c_original": "c(x), original", "c_summary": "c(x̂), summary",
      "c_random": "c(x̂_p), random scores"}),
    ("mean score and spread\n(sparsity loss = |mean − σ|)", "score",
     {"mean_score": "mean score"}),
)


# What SUM-GAN-sl (and -AAE, which has no prior) logs per update, grouped the same way.
SUM_GAN_SL_PANELS = (
    ("reconstruction loss", "‖φ(x) − φ(x̂)‖ (φ's units, not squared)",
     {"reconstruction": "$L_{reconst}$"}),
    ("prior loss", "KL to N(0, I) (nats)", {"prior": "$L_{prior}$"}),
    ("least-squares GAN losses", "squared error on probabilities",
     {"discriminator": "discriminator: $(P(x)-1)^2 + P(\\hat x)^2$",
      "gan_generator": "decoder: $(P(\\hat x)-1)^2$"}),
    ("discriminator outputs", "P(original)",
     {"p_original": "P(x), original", "p_summary": "P(x̂), summary"}),
    ("mean score and spread\n(sparsity loss = |mean − σ|)", "score",
     {"mean_score": "mean score"}),
)


def _epoch_means(values: np.ndarray, steps_per_epoch: int) -> np.ndarray:
    n = len(values) // steps_per_epoch
    return values[:n * steps_per_epoch].reshape(n, steps_per_epoch).mean(axis=1)


# A panel's lines in turn: two quantities that end equal (c(x̂) and c(x̂_p) often do) stay
# visible one over the other.
_DISTINCT_LINES = [dict(marker="o", ls="-", lw=1.8), dict(marker="s", ls="--", lw=1.6),
                   dict(marker="^", ls=":", lw=1.6)]


def sum_gan_panels(history, steps_per_epoch: int = 1, *, sigma: float | None = None,
                   baselines: Mapping[str, float] | None = None, title: str = "",
                   panels=SUM_GAN_PANELS, model: str = "SUM-GAN") -> plt.Figure:
    """A SUM-GAN training history in panels grouped by unit, x in epochs.

    Losses (thin: per video, dots: epoch means), the discriminator's outputs in [0, 1], the mean
    score with a line at ``sigma`` beside the test videos' score spread (whether the model still
    selects: :func:`course_lib.diagnostics.score_spread`), and the test F-score (%) per epoch
    with ``baselines`` as dashed lines. Keys the history lacks are left out, so it also draws a
    run in progress: :func:`~course_lib.models.sum_gan.fit_sum_gan` passes it to
    :func:`course_lib.training.train` as the live plot (``plot=``). ``panels`` says what to
    draw (:data:`SUM_GAN_SL_PANELS` for SUM-GAN-sl and -AAE), ``model`` names the F-score line.
    """
    x = np.asarray(history.train_steps) / steps_per_epoch
    panels = [(name, ylabel, {k: v for k, v in keys.items() if k in history.train})
              for name, ylabel, keys in panels]
    panels = [panel for panel in panels if panel[2]]
    # three rows of two, not two of three: at a page's width each panel stays readable
    fig, axes = plt.subplots(3, 2, figsize=(13, 11), squeeze=False)
    axes = axes.ravel()
    for ax, (name, ylabel, keys) in zip(axes, panels, strict=False):
        for (key, label), look in zip(keys.items(), _DISTINCT_LINES, strict=False):
            values = np.asarray(history.train[key], dtype=float)
            line, = ax.plot(x[-len(values):], values, lw=0.6, alpha=0.35)
            means = _epoch_means(values, steps_per_epoch)
            ax.plot(np.arange(1, len(means) + 1), means, ms=3, color=line.get_color(),
                    label=label, **look)
        ax.set(title=name, xlabel="epoch", ylabel=ylabel)
    by_name = {name: ax for ax, (name, _, _) in zip(axes, panels, strict=False)}
    if "discriminator outputs" in by_name:
        chance_line(by_name["discriminator outputs"])
    score_ax = next((ax for name, ax in by_name.items() if name.startswith("mean score")), None)
    if score_ax is not None:
        score_axis(score_ax, sigma, label=None)
        if spread := history.evals.get("score_spread"):  # 0: the selector has stopped selecting
            epochs = np.asarray(history.eval_steps[-len(spread):]) / steps_per_epoch
            score_ax.plot(epochs, spread, "s-", ms=3, color="C3",
                          label="test videos' score spread (10–90 %)")
    f_ax = axes[len(panels)]
    if history.evals.get("f_score"):
        f_ax.plot(np.asarray(history.eval_steps) / steps_per_epoch, history.evals["f_score"],
                  "o-", ms=3, color="C0", label=f"{model} (test split)")
    for name, value in (baselines or {}).items():
        baseline_line(f_ax, name, value)
    f_ax.set(title="test-split F-score per epoch (epoch 0: untrained)", xlabel="epoch",
             ylabel="F-score (%)")
    for ax in axes[:len(panels) + 1]:
        ax.grid(alpha=0.3)
        whole_epochs(ax)
        if ax.get_legend_handles_labels()[0] and ax is not f_ax:
            ax.legend(fontsize="small")
    for ax in axes[len(panels) + 1:]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if f_ax.get_legend_handles_labels()[0]:
        # below the panel, in two columns: inside it would hide F, beside it a dozen baselines
        # run taller than the panel; laid out after the panels, so they keep their width
        f_ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    return fig


def sum_gan_curves(run, baselines: Mapping[str, float] | None = None, title: str = "", *,
                   sigma: float | None = None) -> plt.Figure:
    """:func:`sum_gan_panels` of a finished :class:`~course_lib.models.sum_gan.SumGanRun`."""
    return sum_gan_panels(run.history, run.steps_per_epoch, sigma=sigma, baselines=baselines,
                          title=title)


def _listing(names: list[str], values: Mapping[str, float], fmt: str, last: str) -> str:
    items = [f"{name} ({values[name]:{fmt}})" for name in names]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last} {items[-1]}"


def versus_baselines(name: str, value: float, baselines: Mapping[str, float],
                     fmt: str = ".1f", spread: float | Mapping[str, float] = 0.0,
                     spread_name: str = "one standard deviation over seeds") -> str:
    """One sentence computed from the numbers: which baselines ``value`` beats, ties and does not
    beat, so that a notebook's conclusion is what it ran.

    A tie is equal as printed with ``fmt``, or, given the noise of the result (``spread``, e.g.
    its standard deviation over seeds; NaN counts as unknown, i.e. 0), a difference no larger than
    that: a few seeds that land a hair above a baseline have not beaten it. ``spread`` may give
    each baseline its own noise (a comparison paired video by video: :func:`one_run_verdicts`).
    """
    each = isinstance(spread, Mapping)
    noise = {b: float(s) if np.isfinite(s := (spread.get(b, np.nan) if each else spread)) else 0.0
             for b in baselines}
    shown = {b: format(v, fmt) for b, v in baselines.items()}
    mine = format(value, fmt)
    ties = [b for b in baselines if shown[b] == mine or abs(value - baselines[b]) <= noise[b]]
    beats = [b for b in baselines if b not in ties and value > baselines[b]]
    loses = [b for b in baselines if b not in ties and value < baselines[b]]
    plain = fmt.lstrip("+")
    if each:  # each noisy tie with its own noise; one without noise is plainly a tie
        exact = [b for b in ties if noise[b] == 0]
        noisy = [b for b in ties if noise[b] > 0]
        within = (f"is within {spread_name} of", {b: f"{baselines[b]:{fmt}} ± {noise[b]:{plain}}"
                                                  for b in noisy}, "s")
    else:
        widest = max((noise[b] for b in ties), default=0.0)
        exact, noisy = ([], ties) if widest > 0 else (ties, [])
        within = (f"is within {spread_name} (± {widest:{plain}}) of", baselines, fmt)
    parts = ([f"beats {_listing(beats, baselines, fmt, 'and')}"] if beats else []) + \
        ([f"ties with {_listing(exact, baselines, fmt, 'and')}"] if exact else []) + \
        ([f"{within[0]} {_listing(noisy, *within[1:], 'and')}"] if noisy else []) + \
        ([f"does not beat {_listing(loses, baselines, fmt, 'or')}"] if loses else [])
    return f"{name} ({mine}) " + "; it ".join(parts) + "."


PAIRED_NOISE = "the noise (95 % t-interval of the paired per-video differences)"


def one_run_verdicts(label: str, run, dataset, table: Mapping[str, ev.Baseline],
                     seed: int, rules: Sequence[str] | None = None) -> list[str]:
    """One run's F under each selection rule against every row of ``table`` (a
    :func:`~course_lib.evaluation.baseline_table` of its test videos), paired video by video:
    a difference within the 95 % t-interval of the per-video differences is a tie (one run on a
    handful of videos that lands a hair above a baseline has not beaten it). Its
    "untrained ..." row (a mean over seeds) becomes this run's own epoch 0, named for its seed:
    what its training had to improve on. ``rules``: the selection rules to judge (default:
    all)."""
    keys = list(next(iter(table.values())).per_video)
    others = _own_untrained({name: row.per_video for name, row in table.items()},
                            _per_video_f(run, dataset, keys, 0), seed)
    return [_paired_verdict(f"{label}, {rule}", f, _per_video_f(run, dataset, keys, epoch),
                            others, ".1f")
            for rule, (epoch, f) in run.selections().items()
            if rules is None or rule in rules]


def seeds_verdicts(label: str, runs: Mapping[int, object], dataset,
                   table: Mapping[str, ev.Baseline],
                   rules: Sequence[str] | None = None) -> list[str]:
    """The mean over seeds of each selection rule's F against every row of ``table`` (its
    "untrained ..." row a mean over the same seeds), paired video by video as
    :func:`one_run_verdicts` pairs one run: each test video's F averaged over the seeds, each
    seed at the epoch its rule chose; a difference within the 95 % t-interval of the per-video
    differences is a tie. The seeds' own spread would not do: three seeds' best test
    epochs can agree to ±0.1 on a few test videos whose F each moves by ten."""
    keys = list(next(iter(table.values())).per_video)
    others = {name: row.per_video for name, row in table.items()}
    chosen = [rule for rule in next(iter(runs.values())).selections()
              if rules is None or rule in rules]
    said = []
    for rule in chosen:
        picks = [run.selections()[rule] for run in runs.values()]
        per_seed = [_per_video_f(run, dataset, keys, epoch)
                    for run, (epoch, _) in zip(runs.values(), picks, strict=True)]
        mine = {k: float(np.mean([f[k] for f in per_seed])) for k in keys}
        said.append(_paired_verdict(f"{label}, {rule}, mean over {len(runs)} seeds",
                                    float(np.mean([f for _, f in picks])), mine, others, ".1f"))
    return said


def _per_video_f(run, dataset, keys: Sequence[str], epoch: int) -> dict[str, float]:
    """One run's F on each of ``keys`` after ``epoch`` (0: untrained), from its kept scores."""
    epochs = list(run.scores_by_epoch(keys[0])[0])
    at = epochs.index(epoch)
    return ev.evaluate(dataset, {k: run.scores_by_epoch(k)[1][at] for k in keys}, keys).per_video


def one_run_tau_verdict(label: str, dataset, scores: Mapping[str, np.ndarray],
                        table: Mapping[str, ev.Baseline], untrained: Mapping[str, np.ndarray],
                        seed: int) -> str:
    """``scores``' Kendall τ against every row of ``table`` that has one, paired video by video
    as :func:`one_run_verdicts` pairs F: a difference within the 95 % t-interval of the
    per-video differences is a tie. The "untrained ..." row becomes ``untrained``'s τ (this
    seed's own untrained model's scores), named for its seed."""
    rows = {name: row.per_video_tau for name, row in table.items() if row.per_video_tau}
    keys = list(next(iter(rows.values())))

    def taus(of: Mapping[str, np.ndarray]) -> dict[str, float]:
        return dict(zip(keys, ev.rank_correlation_per_video(dataset, of, keys)[:, 0],
                        strict=True))

    mine = taus(scores)
    return _paired_verdict(label, float(np.mean(list(mine.values()))), mine,
                           _own_untrained(rows, taus(untrained), seed), "+.3f")


def best_epoch_versus_chance(label: str, run, dataset: SummarizationDataset,
                             keys: Sequence[str], seed: int = 0) -> str:
    """``run``'s best-test-epoch F beside the best of as many random scorings picked the same
    way (:func:`course_lib.evaluation.best_of_random`): picking the maximum of noisy epochs
    with the test labels lifts F by itself, so a best epoch at or below that shows nothing the
    pick did not."""
    from course_lib.comparison import BEST

    draws = len(run.history.evals["f_score"]) - 1  # the trained epochs the rule picks among
    chance = ev.best_of_random(dataset, keys, draws, np.random.default_rng(seed))
    best = run.selections()[BEST][1]
    verdict = ("picking by the test labels explains it as well as training does" if best <= chance
               else "more than picking alone gives (one run on one split: an observation, not "
               "a test)")
    return (f"{label}, best test epoch ({best:.1f}) against random scores, the best of {draws} "
            f"draws picked the same way with the test labels ({chance:.1f}, mean of 20 picks): "
            f"{'at or below' if best <= chance else 'above'} it, {verdict}.")


def below_own_untrained(runs: Mapping[int, object], rules: Sequence[str]) -> str:
    """On how many seeds each selection rule's F ends below that seed's own untrained model
    (epoch 0): a mean over seeds can hide that training made every run worse. A count of
    signs, by any margin: it says which way the runs went, not that one gap exceeds the noise."""
    worse = {r: sum(run.selections()[r][1] < run.history.evals["f_score"][0]
                    for run in runs.values()) for r in rules}
    return "Below the seed's own untrained model, by any margin: " + "; ".join(
        f"{r.split(' (')[0]} on {n} of {len(runs)} seeds" for r, n in worse.items()) + (
        " (which way each run went, not a test: a single gap may lie within the noise).")


def one_seed_baselines(baselines: Mapping[str, float], run, seed: int) -> dict[str, float]:
    """``baselines`` (F-scores by name) for a figure of one run: each "untrained ..." value (a
    mean over seeds) becomes this run's own epoch 0, named for its seed, the value
    :func:`one_run_verdicts` judges the run against. Beside one seed's F curve, whose epoch 0
    is that seed's untrained model, the mean of all seeds' would draw a second, different
    "untrained" value."""
    return _own_untrained(baselines, float(run.history.evals["f_score"][0]), seed)


def _own_untrained(rows: Mapping[str, object], own, seed: int) -> dict[str, object]:
    """``rows`` (a value, or per-video values, by baseline) with each "untrained ..." row (a
    mean over seeds) replaced by one run's own untrained value(s), named for its seed."""
    return {(f"{name} (seed {seed})" if name.startswith("untrained ") else name):
            (own if name.startswith("untrained ") else values) for name, values in rows.items()}


def _paired_verdict(label: str, value: float, mine: Mapping[str, float],
                    others: Mapping[str, Mapping[str, float]], fmt: str) -> str:
    """:func:`versus_baselines` with each baseline's noise the half-width of the 95 %
    t-interval of its per-video differences from ``mine`` (:func:`~course_lib.evaluation.
    noise_halfwidth`)."""
    return versus_baselines(
        label, value, {name: float(np.mean([v[k] for k in mine])) for name, v in others.items()},
        fmt=fmt, spread={name: ev.noise_halfwidth([mine[k] - v[k] for k in mine])
                         for name, v in others.items()},
        spread_name=PAIRED_NOISE)


def result_bars(results: Mapping[str, float], baselines: Mapping[str, float],
                xlabel: str = "F-score (%)", title: str = "", ax: plt.Axes | None = None,
                spreads: Mapping[str, float] | None = None) -> plt.Axes:
    """Horizontal bars: the model's label-free results (blue) and any chosen with the test labels
    (a name with "best test epoch": orange, hatched) above every baseline (grey), values
    printed. ``spreads`` (e.g. the standard deviation over seeds of a mean) draws ± that as an
    error bar and prints it: a mean 0.1 above a baseline is no lead when seeds move it by 6."""
    rows = {**results, **baselines}
    spreads = spreads or {}
    if ax is None:
        ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.4))[1]
    looks = [USES_TEST_LABELS if uses_test_labels(name) else LABEL_FREE for name in results]
    looks += [BASELINE_BAR] * len(baselines)
    for i, ((name, value), look) in enumerate(zip(rows.items(), looks, strict=True)):
        spread = spreads.get(name) if np.isfinite(spreads.get(name, np.nan)) else None
        ax.barh(i, value, xerr=spread, capsize=3 if spread else 0, **look)
        label = f"{value:.1f}" + (f" ± {spread:.1f}" if spread else "")
        ax.text(value + (spread or 0) + 0.5, i, label, va="center", fontsize="small")
    ax.set_yticks(range(len(rows)), list(rows))
    ax.set(xlabel=xlabel, xlim=(0, 100), title=title)
    ax.invert_yaxis()
    handles = {look["label"]: plt.Rectangle((0, 0), 1, 1, **{k: v for k, v in look.items()
                                                            if k != "label"})
               for look in looks}
    legend_beside(ax, list(handles.values()), list(handles.keys()))
    return ax


LABEL_FREE = dict(facecolor="C0", label="model, label-free choice")
USES_TEST_LABELS = dict(facecolor="C1", hatch="//", edgecolor="k",
                        label="model, best test epoch (uses test labels)")
BASELINE_BAR = dict(facecolor="0.6", label="baseline")


def uses_test_labels(name: str) -> bool:
    """Whether a result's name says it was chosen with the test labels."""
    return "best test epoch" in name or "uses test labels" in name


def seeds_plot(runs: Mapping[int, object], baselines: Mapping[str, float] | None = None,
               keys: tuple[str, str] = ("c_original", "c_summary")) -> plt.Figure:
    """Test F-score and how far the discriminator tells originals from summaries per epoch, one
    line per seed: its mean P(original) of originals minus that of summaries (``keys``: what the
    model logs for the two, ``("p_original", "p_summary")`` in SUM-GAN-sl and -AAE). The
    difference, not either output alone, says whether it separates them: 0 whatever the height
    of the two."""
    fig, axes = plt.subplots(1, 2, figsize=(13, height_for_legend(
        len(runs) + len(baselines or {}), 4.2)))
    for seed, run in runs.items():
        axes[0].plot(np.asarray(run.history.eval_steps) / run.steps_per_epoch,
                     run.history.evals["f_score"], "o-", ms=3, label=f"seed {seed}",
                     color=seed_color(seed))
        gap = run.epoch_means(keys[0]) - run.epoch_means(keys[1])
        axes[1].plot(np.arange(1, len(gap) + 1), gap, "o-", ms=3, label=f"seed {seed}",
                     color=seed_color(seed))
    for name, value in (baselines or {}).items():
        baseline_line(axes[0], name, value)
    axes[0].set(xlabel="epoch", ylabel="F-score (%)", title="test F-score, per seed")
    # the whole possible range: a gap of 0.1 is as small as it looks beside one of 1
    # notebook 03 writes the discriminator's output c(·), notebooks 04-05 P(·)
    output = "c" if keys[0].startswith("c_") else "P"
    axes[1].set(xlabel="epoch", ylabel=f"{output}(original) − {output}(summary)",
                title="discriminator: does it tell them apart? (epoch means)", ylim=(-1, 1))
    axes[1].axhline(0, color="0.4", lw=1.2, ls=":", label="0: cannot tell them apart")
    for ax in axes:
        ax.grid(alpha=0.3)
        whole_epochs(ax)
        legend_beside(ax)
    fig.tight_layout()
    return fig


def scores_vs_gtscore(record: VideoRecord, scores: np.ndarray, ax: plt.Axes | None = None,
                      title: str = "", sigma: float | None = None) -> plt.Axes:
    """The annotators' mean score (``gtscore``, grey) and the predicted step scores (blue) on
    one 0-1 axis (scores that vary by a few hundredths around σ look as flat as they are), σ
    dashed when given, the keyshots the predicted scores select shaded and the KTS shot
    boundaries dashed grey."""
    scores = np.asarray(scores, dtype=float)
    summary = ev.generate_summary(scores, record.change_points, record.picks, record.n_frames)
    ax = importance_plot(record, record.gtscore, summary, ax=ax, title=title)
    ax.get_lines()[0].set(color="k", alpha=0.6, label="gtscore (annotators)")
    ax.step(record.picks, scores, where="post", color="C0", lw=1.4,
            label=f"model score (range {scores.min():.3f}-{scores.max():.3f})")
    score_axis(ax, sigma)
    legend_beside(ax)  # again: the lines drawn since importance_plot's legend
    return ax


def selected_shots_strip(record: VideoRecord, scores: np.ndarray, max_shots: int = 10,
                         title: str = "") -> plt.Figure:
    """The middle frame of each shot the scores select (synthetic videos only: they can be
    rendered), captioned with the shot's frames and its mean gtscore."""
    from course_lib.data.synthetic_videos import render_frames

    summary = ev.generate_summary(scores, record.change_points, record.picks, record.n_frames)
    chosen = [i for i, (s0, _) in enumerate(record.change_points) if summary[s0]][:max_shots]
    fig, axes = plt.subplots(1, max(len(chosen), 1), figsize=(1.8 * max(len(chosen), 1), 2.6),
                             squeeze=False)
    for ax, i in zip(axes[0], chosen, strict=False):
        s0, s1 = record.change_points[i]
        middle = (s0 + s1) // 2
        ax.imshow(render_frames(record, middle, middle + 1)[0], cmap="gray", vmin=0, vmax=1)
        inside = (record.picks >= s0) & (record.picks <= s1)
        ax.set_title(f"{s0}-{s1}\ngt {record.gtscore[inside].mean():.2f}", fontsize="small")
    for ax in axes[0]:
        ax.axis("off")
    fig.suptitle(title or f"{record.key}: the selected shots (middle frames)")
    fig.tight_layout()
    return fig


def selection_animation(record: VideoRecord, frames: Sequence[Mapping], max_units: int = 24,
                        interval: int = 400, sigma: float | None = None) -> HTML:
    """What a summarizer does with one video over training, one animation frame per epoch.

    ``frames``: per epoch a mapping with ``epoch``, ``scores`` (one per step), ``original``
    and ``reconstructed`` ([T, units]: what the discriminator compares) and ``f_score`` (the
    test split's). Every panel's x axis is the video's steps. Top: the scores (blue) and
    ``gtscore`` (black) on one fixed 0-1 axis, σ dashed when given, the selected steps shaded;
    below: the first ``max_units`` units of the original and of the reconstructed sequence, each
    with its own colour bar, fixed over the frames and symmetric about 0 (-sl's reconstruction
    is a tanh-bounded hidden state, far smaller than the features it is compared with).
    """
    from course_lib.plotting import MAX_ANIMATION_FRAMES

    frames = list(frames)[::max(1, int(np.ceil(len(frames) / MAX_ANIMATION_FRAMES)))]
    parts = {"original": "original x (compressed features)",
             "reconstructed": "reconstruction x̂ (decoder)"}
    limits = {k: max(float(np.abs(f[k][:, :max_units]).max()) for f in frames) or 1.0
              for k in parts}
    steps = np.arange(record.n_steps)
    fig, axes = plt.subplots(3, 1, figsize=(11, 9.5), height_ratios=[1.3, 1, 1], sharex=True)
    axes[0].plot(steps, record.gtscore, color="k", alpha=0.6, lw=1.2,
                 label="gtscore (annotators)")
    score_axis(axes[0], sigma)
    axes[0].set(xlim=(-0.5, record.n_steps - 0.5))
    for ax, (key, what) in zip(axes[1:], parts.items(), strict=True):
        norm = plt.Normalize(-limits[key], limits[key])
        fig.colorbar(plt.cm.ScalarMappable(norm, cmap="RdBu_r"), ax=ax, label="value (0 white)")
        ax.set(ylabel=f"unit (first {max_units})", title=f"{what}, colour scale ±{limits[key]:.2g}"
               + _scale_against(limits[key], limits["original"]))
    axes[2].set_xlabel("step (the video subsampled)")
    fig.colorbar(plt.cm.ScalarMappable(cmap="Greys"), ax=axes[0]).ax.set_visible(False)  # align
    # the title names the lines: a legend inside would hide the video's end, where scores peak
    fig.suptitle(f"{record.key}: model scores (blue), gtscore (black), selected steps (shaded)"
                 + ("" if sigma is None else f", σ = {sigma} (dashed)"))
    fig.tight_layout()
    camera = static_camera(fig)  # gtscore, σ, colour bars stay on every frame
    for frame in frames:
        scores = np.asarray(frame["scores"], dtype=float)
        summary = ev.generate_summary(scores, record.change_points, record.picks, record.n_frames)
        selected = summary[np.minimum(record.picks, len(summary) - 1)]
        axes[0].fill_between(steps, 0, selected, color="C1", alpha=0.3, step="mid", lw=0)
        axes[0].plot(steps, scores, color="C0", lw=1.6)
        axes[0].text(0.0, 1.03, f"epoch {frame['epoch']}: test F = {frame['f_score']:.1f} %, "
                     f"scores {scores.min():.3f}-{scores.max():.3f}, mean {scores.mean():.3f}",
                     transform=axes[0].transAxes, fontsize="small")
        for ax, key in zip(axes[1:], parts, strict=True):
            ax.imshow(np.asarray(frame[key])[:, :max_units].T, aspect="auto", cmap="RdBu_r",
                      vmin=-limits[key], vmax=limits[key], interpolation="nearest")
        camera.snap()
    animation = camera.animate(interval=interval, blit=False)
    plt.close(fig)
    return animation_html(animation)


def _scale_against(limit: float, original: float) -> str:
    """Where a colour bar spans far less than the original's, how many times less: one colour
    map on two scales makes values 8× apart look alike."""
    return f" ({original / limit:.0f}× narrower than the original's)" if original > 2 * limit \
        else ""


def score_heatmap(record: VideoRecord, epochs: np.ndarray, scores: np.ndarray,
                  title: str = "") -> plt.Figure:
    """One test video's scores after every epoch (``SumGanRun.scores_by_epoch``): a row per
    epoch, a column per step. Left, on the fixed 0-1 scale, so a collapse shows as the rows
    fading to one colour; middle, each row rescaled to its own range, so what little order is
    left stays visible (a lone top step at an end of the video, say); right, the row's score
    spread, with the flat-score line. The annotators' mean score is the strip on top; KTS
    shot boundaries are the ticks above it."""
    from course_lib.diagnostics import score_spread

    scores = np.asarray(scores, dtype=float)
    low, high = scores.min(axis=1, keepdims=True), scores.max(axis=1, keepdims=True)
    rescaled = (scores - low) / np.maximum(high - low, 1e-12)
    spread = [score_spread(row) for row in scores]
    fig, axes = plt.subplots(2, 3, figsize=(12, min(3.0 + 0.12 * len(epochs), 9.0)),
                             height_ratios=[1, 5], width_ratios=[1, 1, 0.35], sharey="row")
    extent = (-0.5, record.n_steps - 0.5, epochs[-1] + 0.5, epochs[0] - 0.5)
    bounds = np.searchsorted(record.picks, record.change_points[1:, 0]) - 0.5
    for column, (image, what, unit) in enumerate((
            (scores, "scores on the fixed 0-1 scale", "score"),
            (rescaled, "each epoch rescaled to its range", "0: the row's lowest, 1: its highest"))):
        top, ax = axes[0, column], axes[1, column]
        top.vlines(bounds, 0, 1, color="0.75", lw=0.8)
        top.plot(np.arange(record.n_steps), record.gtscore, color="k", lw=1)
        top.set(ylim=(0, 1), xlim=extent[:2], xticks=[], yticks=[], title=what)
        shown = ax.imshow(image, aspect="auto", interpolation="nearest", cmap="viridis",
                          vmin=0.0, vmax=1.0, extent=extent)
        ax.set(xlabel="step (one sampled frame)")
        # below the map, taking no height from it: its rows stay level with the spread's points
        fig.colorbar(shown, cax=ax.inset_axes((0.1, -0.3, 0.8, 0.05)), orientation="horizontal",
                     label=unit)
    axes[0, 0].set_ylabel("gtscore,\nshots", fontsize="small")
    axes[1, 0].set_ylabel("epoch (0: untrained)")
    axes[0, 2].axis("off")
    axes[1, 2].plot(spread, epochs, "o-", color="C0", ms=3)
    axes[1, 2].axvline(FLAT_SPREAD, color="C3", ls="--", lw=1, label="flat below")
    axes[1, 2].set(xlabel="score spread", xlim=(0, max(max(spread), FLAT_SPREAD) * 1.15))
    # in the empty corner above the spread's panel, where it covers no epoch's point
    axes[0, 2].legend(*axes[1, 2].get_legend_handles_labels(), fontsize="small", loc="center")
    fig.suptitle(title or f"{record.key}: its scores after every epoch")
    fig.tight_layout()
    return fig


# Training *widened* the scores only where their spread grew by more than this factor over the
# untrained selector's: 0.066 untrained, 0.081 after one epoch is the initial noise, not selection.
WIDENED = 1.5


def score_history_sentences(key: str, epochs: np.ndarray, scores: np.ndarray) -> list[str]:
    """What :func:`score_heatmap` shows, computed from the same scores: the spread before
    training, at its widest and at the end (flat or not), and where the last epoch's highest
    score sits."""
    from course_lib.diagnostics import score_spread

    scores = np.asarray(scores, dtype=float)
    spread = np.array([score_spread(row) for row in scores])
    widest = int(np.argmax(spread))
    last = spread[-1]
    if last >= FLAT_SPREAD:
        state = f"at least {FLAT_SPREAD}: its scores still vary"
    elif spread[widest] >= FLAT_SPREAD and spread[widest] > WIDENED * spread[0]:
        state = (f"below {FLAT_SPREAD}: flat; training widened the spread the untrained selector "
                 "already had, then flattened it" if spread[0] >= FLAT_SPREAD else
                 f"below {FLAT_SPREAD}: flat; the selector selected, then stopped")
    elif spread[0] >= FLAT_SPREAD:
        state = (f"below {FLAT_SPREAD}: flat; training flattened the spread the untrained "
                 "selector had")
    else:
        state = f"below {FLAT_SPREAD} at every epoch: flat throughout"
    top = int(np.argmax(scores[-1]))
    n = scores.shape[1]
    where = ("the video's first step" if top == 0 else "the video's last step"
             if top == n - 1 else f"step {top} of {n}")
    widest_text = ("" if widest in (0, len(spread) - 1) else
                   f", widest {spread[widest]:.3f} at epoch {int(epochs[widest])}")
    return [f"{key}: score spread {spread[0]:.3f} before training{widest_text}, {last:.3f} at "
            f"epoch {int(epochs[-1])} ({state}).",
            f"At epoch {int(epochs[-1])} the highest score ({scores[-1, top]:.3f}, against a "
            f"median of {np.median(scores[-1]):.3f}) is at {where}."]


def reach_plot(reaches: Mapping[str, Mapping[str, np.ndarray]], term: str = "reconstruction",
               ax: plt.Axes | None = None) -> plt.Axes:
    """Where in the video a loss term pulls the scores (:func:`course_lib.collapse.reach_table`),
    one group of bars per part of the video and one bar per model (e.g. untrained and trained),
    with the share an even pull gives each part (the sparsity term's)."""
    if ax is None:
        ax = plt.subplots(figsize=(9, 3.2))[1]
    parts = len(next(iter(reaches.values()))[term])
    width = 0.8 / len(reaches)
    for i, (name, reach) in enumerate(reaches.items()):
        ax.bar(np.arange(parts) + (i - (len(reaches) - 1) / 2) * width, 100 * reach[term],
               width, label=name)
    ax.axhline(100 / parts, color="k", ls="--", lw=1, label="an even pull (the sparsity term)")
    ax.set_xticks(range(parts), [f"{100 * p // parts}–{100 * (p + 1) // parts}"
                                 for p in range(parts)], fontsize="small")
    ax.set(xlabel="part of the video (% of its steps, first to last)",
           ylabel=f"% of the {term}'s pull",
           title=f"where the {term}'s gradient reaches the scores")
    ax.legend(fontsize="small")
    return ax


# ---------------------------------------------------------------- notebook 05: stability, σ

FROZEN_CHANGES = 1  # F changed at most this often over the second half of the epochs: frozen


def stability(runs: Mapping[int, object]) -> dict[str, float]:
    """How much a model's test F-score moves, from runs of several seeds on one split.

    ``seeds``: how many runs; ``seeds with a frozen F``: how many seeds' F changed at most
    :data:`FROZEN_CHANGES` times over the second half of the epochs (the selection stopped
    changing: a collapse, which gives spreads of 0 without any stability to speak of).
    ``between seeds``: the standard deviation over seeds of each trained epoch's F (the sample
    one, n − 1 in its denominator, as notebook 04 and the comparison count it; 0 for one seed),
    averaged over the epochs; ``final epoch, between seeds``: that of the final epoch alone;
    ``between epochs``: the mean |F(e) − F(e − 1)| over trained epochs and seeds; ``seconds
    per epoch``: each run's training time over its epochs, averaged over the seeds (a run loaded
    from its checkpoint keeps the time it was trained in); ``final score spread``: the test
    scores' spread within a video after the last epoch
    (:func:`course_lib.diagnostics.score_spread`; near 0: the selector stopped selecting),
    averaged over the seeds, NaN where it was not logged.
    """
    f = np.array([run.history.evals["f_score"] for run in runs.values()], dtype=float)
    epochs, ddof = f.shape[1] - 1, int(len(runs) > 1)
    changes = (np.diff(np.round(f[:, epochs // 2:], 2), axis=1) != 0).sum(axis=1)
    return {"seeds": float(len(runs)),
            "seeds with a frozen F": float((changes <= FROZEN_CHANGES).sum()),
            "between seeds": float(f[:, 1:].std(axis=0, ddof=ddof).mean()),
            "final epoch, between seeds": float(f[:, -1].std(ddof=ddof)),
            "between epochs": float(np.abs(np.diff(f, axis=1))[:, 1:].mean()),
            "mean final F": float(f[:, -1].mean()),
            "seconds per epoch": float(np.mean([r.history.seconds / epochs
                                                for r in runs.values()])),
            "final score spread": float(np.mean([r.history.evals.get("score_spread", [np.nan])[-1]
                                                 for r in runs.values()]))}


# One training time must be this many times another's before a sentence ranks them: timings of
# fits in other processes, some loaded from checkpoints made under another load, differ by as much.
SPEED_RATIO = 1.2


def _rankable_ratio(first: Mapping[str, float], second: Mapping[str, float]) -> float:
    """How many times one model's spread between seeds must be the other's before the two can
    be ranked: the square root of the F distribution's 97.5 % point for their seeds (a two-sided
    test of two variances at 5 %; 6.2 for 3 seeds each). Spreads from a handful of seeds are
    themselves this noisy."""
    from scipy.stats import f as f_distribution

    dof = [max(int(m["seeds"]) - 1, 1) for m in (first, second)]
    return float(np.sqrt(f_distribution.ppf(0.975, *dof)))


def stability_table(measures: Mapping[str, Mapping[str, float]]) -> str:
    """:func:`stability`'s measures side by side, each as it is counted: seeds as whole numbers,
    F points and seconds to 0.01, score spreads to 0.001."""
    digits = {"seeds": 0, "seeds with a frozen F": 0, "final score spread": 3}
    lines = [f"{'':30s}" + "".join(f"{name:>14s}" for name in measures)]
    for key in next(iter(measures.values())):
        lines.append(f"{key:30s}" + "".join(f"{m[key]:14.{digits.get(key, 2)}f}"
                                            for m in measures.values()))
    return "\n".join(lines)


def stability_sentences(measures: Mapping[str, Mapping[str, float]]) -> list[str]:
    """One sentence per measure of :func:`stability`, computed from the numbers: which model had
    the smaller value (or that they were equal as printed, or, between seeds, that too few seeds
    rank them: :func:`_rankable_ratio`), for two models. The spreads of F are not ranked when
    seeds of either froze or when neither model's scores spread within a video after the last
    epoch: F then moves with the knapsack's choice among near-equal shots, and a model that does
    not select must not win. Times are ranked only beyond :data:`SPEED_RATIO`."""
    (a, first), (b, second) = measures.items()
    sentences = []
    frozen = {name: int(m["seeds with a frozen F"]) for name, m in measures.items()
              if m.get("seeds with a frozen F")}
    x, y = first["final score spread"], second["final score spread"]
    logged = np.isfinite(x) and np.isfinite(y)
    flat = logged and max(x, y) < FLAT_SPREAD
    if frozen:
        sentences.append(
            "The spreads between seeds and between epochs rank nothing here: "
            + " and ".join(f"{n} of {name}'s seeds" for name, n in frozen.items())
            + " ended with a frozen F (the same summary epoch after epoch: a collapse, which "
            "moves F by 0 without being stable learning).")
    elif flat:
        sentences.append(
            f"The spreads between seeds and between epochs rank nothing here: after the last "
            f"epoch neither model's scores spread within a video ({a} {x:.3f}, {b} {y:.3f}, both "
            f"below {FLAT_SPREAD}), so F moves with the knapsack's choice among near-equal shots, "
            "not with what a model learned.")
    ranked = () if frozen or flat else (
        ("between seeds", "moved less between seeds"),
        ("between epochs", "moved less from one epoch to the next"))
    for key, what in ranked:
        x, y = first[key], second[key]
        needed = _rankable_ratio(first, second) if key == "between seeds" else 1.0
        if f"{x:.1f}" != f"{y:.1f}" and max(x, y) < needed * min(x, y):
            sentences.append(
                f"{a} ({x:.1f}) and {b} ({y:.1f} F points) did not differ measurably between "
                f"seeds: with {first['seeds']:.0f} and {second['seeds']:.0f} seeds, one spread "
                f"would have to be {needed:.1f} times the other to rank them (an F-test of their "
                "variances, 5 %).")
        elif f"{x:.1f}" == f"{y:.1f}":
            sentences.append(f"{a} and {b} did not differ on '{key}' ({x:.1f} F points each).")
        else:
            winner, loser = (a, b) if x < y else (b, a)
            sentences.append(f"{winner} {what} ({min(x, y):.1f} against {loser}'s "
                             f"{max(x, y):.1f} F points).")
    x, y = first["seconds per epoch"], second["seconds per epoch"]
    if max(x, y) > SPEED_RATIO * min(x, y):
        winner, loser = (a, b) if x < y else (b, a)
        sentences.append(f"{winner} took less time per epoch ({min(x, y):.1f} against {loser}'s "
                         f"{max(x, y):.1f} s).")
    else:
        sentences.append(f"{a} and {b} took about as long per epoch ({x:.1f} and {y:.1f} s: "
                         f"within {SPEED_RATIO} times, which timings made in other processes or "
                         "under another load do not separate).")
    x, y = first["final score spread"], second["final score spread"]
    if logged and not flat:  # a larger spread: the selector still selects
        winner, loser = (a, b) if x > y else (b, a)
        sentences.append(f"After the last epoch {winner}'s scores spread more within a video "
                         f"({max(x, y):.3f} against {loser}'s {min(x, y):.3f}; 0 = the same "
                         "score everywhere, a selector that does not select).")
    elif flat and frozen:
        sentences.append(f"After the last epoch neither model's scores spread within a video "
                         f"({a} {x:.3f}, {b} {y:.3f}, both below {FLAT_SPREAD}: flat scores, "
                         "neither selector selects).")
    return sentences


def stability_plot(runs: Mapping[str, Mapping[int, object]],
                   baselines: Mapping[str, float] | None = None) -> plt.Figure:
    """Test F-score per epoch, one line per seed, one panel per model (shared y axis), as tall as
    the legend of seeds and baselines beside it needs."""
    entries = max(len(by_seed) for by_seed in runs.values()) + len(baselines or {})
    fig, axes = plt.subplots(1, len(runs), figsize=(6.5 * len(runs), height_for_legend(
        entries, 3.4)), sharey=True, squeeze=False)
    for ax, (name, by_seed) in zip(axes[0], runs.items(), strict=True):
        for seed, run in by_seed.items():
            ax.plot(np.asarray(run.history.eval_steps) / run.steps_per_epoch,
                    run.history.evals["f_score"], "o-", ms=3, label=f"seed {seed}",
                    color=seed_color(seed))
        for baseline, value in (baselines or {}).items():
            baseline_line(ax, baseline, value)
        ax.set(xlabel="epoch (0: untrained)", title=f"{name}: test F-score per seed")
        ax.grid(alpha=0.3)
        whole_epochs(ax)
    axes[0, 0].set_ylabel("F-score (%)")
    legend_beside(axes[0, -1])
    fig.tight_layout()
    return fig


def sigma_sweep_plot(measured: Mapping[str, Mapping[float, float]],
                     published: Mapping[str, Mapping[float, float]],
                     baselines: Mapping[str, float] | None = None, title: str = "",
                     published_baselines: Mapping[str, float] | None = None) -> plt.Figure:
    """F-score against σ: this run's (left, with the baselines) beside a paper's (right, with
    ``published_baselines``: random scores' F on each of its benchmarks, by the benchmark's
    name, drawn in its line's colour), both spanning the same number of F points, so that a
    2-point trend does not look like a 12-point one."""
    fig, (ours, theirs) = plt.subplots(1, 2, figsize=(12, 3.6))
    for name, values in measured.items():
        ours.plot(list(values), list(values.values()), "o-", label=name)
    for name, value in (baselines or {}).items():
        baseline_line(ours, name, value)
    for name, values in published.items():
        line, = theirs.plot(list(values), list(values.values()), "s--", label=name)
        if name in (published_baselines or {}):
            theirs.axhline(published_baselines[name], color=line.get_color(), ls=":", lw=1.1,
                           label=f"random scores, {name} ({published_baselines[name]:.1f})")
    ours.set(title=title or "measured here", xlabel="σ", ylabel="F-score (%)")
    theirs.set(title="reported in the paper" + (
        "\n(random scores: Otani et al., CVPR 2019)" if published_baselines else ""),
        xlabel="σ", ylabel="F-score (%)")
    span = max(np.diff(ax.get_ylim())[0] for ax in (ours, theirs))
    for ax in (ours, theirs):
        middle = np.mean(ax.get_ylim())
        ax.set_ylim(middle - span / 2, middle + span / 2)
        ax.grid(alpha=0.3)
        legend_beside(ax)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- the comparison (notebook 06)

def paired_plot(comparisons, ax: plt.Axes | None = None) -> plt.Axes:
    """One row per :class:`~course_lib.comparison.Paired`: each run's difference ``a - b`` as a
    dot coloured by its split, the mean with the decision rule's interval (filled: it excludes 0,
    the difference is beyond the noise; hollow: within it), a line at 0. The verdict is written
    beside each row, so the figure and the printed sentences say the same."""
    from course_lib.comparison import ALPHA

    if ax is None:
        ax = plt.subplots(figsize=(11, 0.8 * len(comparisons) + 2.0))[1]
    splits = sorted({s for c in comparisons for s, _ in c.runs})
    jitter = np.random.default_rng(0)
    for row, c in enumerate(comparisons):
        for split in splits:
            d = [v for (s, _), v in zip(c.runs, c.differences, strict=True) if s == split]
            # splits in one colour map, apart from the models' own colours; above the interval
            ax.plot(d, row + jitter.uniform(-0.18, 0.18, len(d)), "o", ms=5, alpha=0.8,
                    color=plt.cm.viridis(0.9 * splits.index(split) / max(1, len(splits) - 1)),
                    label=f"split {split}" if row == 0 else None, zorder=3)
        low, high = c.interval
        ax.errorbar(c.mean, row, xerr=[[c.mean - low], [high - c.mean]], fmt="D", color="k",
                    mfc="k" if c.exceeds_noise else "white", ms=8, capsize=5, lw=1.8, zorder=2)
    ax.plot([], [], "D", color="k", mfc="k", ms=8,
            label=f"mean, {1 - ALPHA:.0%} t-interval excludes 0")
    ax.plot([], [], "D", color="k", mfc="white", ms=8, label="mean, interval includes 0")
    ax.axvline(0, color="0.4", lw=1)
    ax.set_yticks(range(len(comparisons)),
                  [f"{c.a} − {c.b}\n({c.verdict})" for c in comparisons])
    ax.set(xlabel=f"difference in F-score (points), {comparisons[0].rule}",
           title="paired differences on identical (split, seed) runs")
    ax.invert_yaxis()
    ax.grid(alpha=0.3, axis="x")
    legend_beside(ax)
    return ax


def sensitivity_plot(rows, baselines: Mapping[str, Mapping[str, float]] | None = None
                     ) -> plt.Figure:
    """Left: how much the epoch, the seed and the split move each model's F (points); right:
    how much each post-processing moves the same scores' F (points, signed), with random and
    uniform scores' change under the same post-processing (``baselines``, from
    :func:`~course_lib.comparison.baseline_post_processing`)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 0.7 * len(rows) + 3.6))
    sources = {"epoch: best − final (uses test labels)": ("epoch", USES_TEST_LABELS),
               "epoch: sd over epochs": ("epoch_sd", dict(color="C0")),
               "seed: sd, same split": ("seed", dict(color="C2")),
               "split: sd, same seed": ("split", dict(color="C9"))}
    y = np.arange(len(rows))
    height = 0.8 / len(sources)
    for i, (label, (field, look)) in enumerate(sources.items()):
        values = [getattr(r, field) for r in rows]
        if np.isnan(values).all():  # e.g. one seed per split: no bar, and the legend says why
            name = label.split(":")[0]
            label = f"{name}: not measured (one {name} per {'split' if name == 'seed' else 'seed'})"
        left.barh(y + i * height, np.nan_to_num(values), height,
                  **{**look, "label": label})
    left.set_yticks(y + 0.4 - height / 2, [r.model for r in rows])
    left.set(xlabel="F-score points", title="spread from epoch, seed and split")
    posts = list(rows[0].post) if rows else []
    names = [r.model for r in rows]
    changes = [[r.post[p] for p in posts] for r in rows]
    if baselines:
        protocol = next(iter(next(iter(baselines.values()))))
        for name, by in baselines.items():
            names.append(f"{name} scores")
            changes.append([by[p] - by[protocol] for p in posts])
    y2 = np.arange(len(names))
    height2 = 0.8 / max(len(posts), 1)
    for i, post in enumerate(posts):
        right.barh(y2 + i * height2, [c[i] for c in changes], height2, label=post,
                   color=f"C{i + 4}")
    right.set_yticks(y2 + 0.4 - height2 / 2, names)
    right.axvline(0, color="0.4", lw=1)
    right.set(xlabel="F-score points, compared with the protocol",
              title="the same scores, another post-processing")
    for ax in (left, right):
        ax.invert_yaxis()
        ax.grid(alpha=0.3, axis="x")
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=1)
    fig.tight_layout()
    return fig


def published_bars(ours: Mapping[str, tuple[float, float]], published: Mapping[str, float],
                   title: str = "", ax: plt.Axes | None = None) -> plt.Axes:
    """Our mean ± spread per model (blue, with the spread as an error bar) beside the published
    figure (hatched, labelled as published)."""
    if ax is None:
        ax = plt.subplots(figsize=(9, 4.5))[1]
    names = list(ours)
    x = np.arange(len(names))
    means = [ours[n][0] for n in names]
    ax.bar(x - 0.2, means, 0.4, yerr=[ours[n][1] for n in names], capsize=3, color="C0",
           label="this course: mean ± sd over runs")
    ax.bar(x + 0.2, [published.get(n, np.nan) for n in names], 0.4, color="white",
           edgecolor="C1", hatch="//", label="published (their protocol)")
    for xi, name, mean in zip(x, names, means, strict=True):
        ax.text(xi - 0.2, mean + 1, f"{mean:.1f}", ha="center", fontsize="small")
        if name in published:
            ax.text(xi + 0.2, published[name] + 1, f"{published[name]:.1f}", ha="center",
                    fontsize="small")
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.set(ylabel="F-score (%)", ylim=(0, 100), title=title)
    ax.legend(fontsize="small")
    return ax
