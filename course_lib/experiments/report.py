"""The comparison of a grid's results: statistics over seeds, the figures and the markdown and
CSV report."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from course_lib.comparison import paired_report_lines
from course_lib.config import summarization_data_config
from course_lib.errors import CourseError, DataError
from course_lib.evaluation import TRIVIAL_BASELINES  # the label-free rows of a table
from course_lib.experiments.grid import (
    missing,
)
from course_lib.experiments.jobs import (
    MODELS,
    NO_F_SCORE,
    Job,
    JobResult,
    _read_json,
    _write_text,
    check_out,
    dataset_folder,
    has_annotations,
    load_data,
    load_job,
    load_results,
    number_ranges,
)

# ---------------------------------------------------------------- the comparison

SELECTION_RULES = {"best test epoch (uses test labels)": "F, best test epoch (uses test labels)",
                   "final epoch (label-free)": "F, final epoch",
                   "lowest training loss (label-free)": "F, lowest training loss"}


def _model_order(names: Iterable[str]) -> list[str]:
    """The runner's models in their own order, variants after them."""
    names = set(names)
    return [m for m in MODELS if m in names] + sorted(names - set(MODELS))


def over_seeds(results: Sequence[JobResult], value: Callable[[JobResult], float]
               ) -> tuple[float, float, int]:
    """The protocol's aggregate of finished jobs: the mean over splits for each seed, then the
    mean and standard deviation over seeds (NaN with fewer than two) and the number of seeds."""
    per_seed = {}
    for r in results:
        if r.finished:
            per_seed.setdefault(r.job.seed, []).append(value(r))
    means = [float(np.mean(v)) for v in per_seed.values()]
    if not means:
        return float("nan"), float("nan"), 0
    return (float(np.mean(means)), float(np.std(means, ddof=1)) if len(means) > 1
            else float("nan"), len(means))


def seed_curves(results: Sequence[JobResult]) -> dict[str, np.ndarray]:
    """Per model, F per epoch for each seed (rows), averaged over that seed's finished splits;
    cut to the epochs every finished job has."""
    curves = {}
    for model in _model_order(r.job.model for r in results):
        mine = [r for r in results if r.job.model == model and r.finished]
        if not mine:
            continue
        n = min(len(r.f_scores) for r in mine)
        seeds = sorted({r.job.seed for r in mine})
        curves[model] = np.array([np.mean([r.f_scores[:n] for r in mine if r.job.seed == s],
                                          axis=0) for s in seeds])
    return curves


def _band(ax, curves: np.ndarray, label: str, color) -> None:
    """Mean over seeds as a line, the range over seeds as a band."""
    epochs = np.arange(curves.shape[1])
    ax.plot(epochs, curves.mean(axis=0), "o-", ms=3, color=color,
            label=f"{label} ({len(curves)} seed{'s' if len(curves) > 1 else ''})")
    if len(curves) > 1:
        ax.fill_between(epochs, curves.min(axis=0), curves.max(axis=0), color=color, alpha=0.2)


def f_per_epoch_figure(results: Sequence[JobResult],
                       baselines: Mapping[str, float] | None = None, ax=None, title: str = ""):
    """Test F-score per epoch for each model: the mean over seeds of the mean over splits, the
    band spanning the seeds; ``baselines`` as labelled lines."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from course_lib.summary_plots import baseline_line

    fig, ax = plt.subplots(figsize=(9, 4)) if ax is None else (ax.figure, ax)
    for i, (model, curves) in enumerate(seed_curves(results).items()):
        _band(ax, curves, model, f"C{i}")
    for name, value in (baselines or {}).items():
        baseline_line(ax, name, value)
    ax.set(xlabel="epoch (0 = untrained)", ylabel="test F-score (%)", title=title or
           "F per epoch: mean over splits and seeds, band = range over seeds")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def per_split_figure(results: Sequence[JobResult],
                     baselines: Mapping[int, Mapping[str, float]] | None = None):
    """One panel per split: each model's F per epoch (mean over seeds, band = their range),
    with that split's ``baselines[split]``: how much the split alone moves the numbers."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from course_lib.summary_plots import BASELINE_STYLES

    splits = sorted({r.job.split for r in results if r.finished})
    fig, axes = plt.subplots(1, max(len(splits), 1), figsize=(3.2 * max(len(splits), 1) + 1.5,
                                                             3.4), sharey=True, squeeze=False)
    models = _model_order(r.job.model for r in results)
    for ax, split in zip(axes[0], splits, strict=False):  # no panel without a split
        mine = [r for r in results if r.job.split == split]
        for model, curves in seed_curves(mine).items():
            _band(ax, curves, model, f"C{models.index(model)}")
        for name, value in (baselines or {}).get(split, {}).items():  # values differ by split
            ax.axhline(value, lw=1.1, label=name, **BASELINE_STYLES.get(name, {"ls": "--"}))
        ax.set(xlabel="epoch", title=f"split {split}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test F-score (%)")
    handles, labels = axes[0][-1].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle("F per epoch on each split (mean over seeds, band = range over seeds)")
    fig.tight_layout()
    return fig


def _describe_missing(out: Path, jobs: Sequence[Job]) -> list[str]:
    """One line per model: the jobs not started (split by split) and each unfinished one."""
    lines = []
    for model in _model_order(j.model for j in jobs):
        absent, started = {}, []
        for job in (j for j in jobs if j.model == model):
            r = load_job(job.folder(out)) if (job.folder(out) / "config.json").exists() else None
            if r is not None and len(r.epochs):
                started.append(f"split {job.split} seed {job.seed} (epoch {r.epochs.max()} of "
                               f"{r.total_epochs} done)")
            else:
                absent.setdefault(job.split, []).append(job.seed)
        parts = (["not started: " + ", ".join(f"split {k} seed{'s' * (len(v) > 1)} "
                                               f"{number_ranges(v)}" for k, v in absent.items())]
                 if absent else []) + ([f"unfinished: {', '.join(started)}"] if started else [])
        lines.append(f"{model}: {'; '.join(parts)}")
    return lines


def _baselines(dataset: str, tier: str, results: Sequence[JobResult], splits: Sequence[int]):
    """The baseline table of each split on the same data the jobs used, or a note why not."""
    from course_lib.evaluation import baseline_table

    try:
        data, all_splits = load_data(dataset, tier)
    except DataError as error:
        return {}, f"No baselines: {error}"
    if not has_annotations(data, data.keys()):
        return {}, NO_F_SCORE.format(data.source) + " No baselines either: they are F-scores."
    used = {_read_json(r.folder / "config.json")["data"]["fingerprint"] for r in results}
    if used != {data.fingerprint()}:
        return {}, ("No baselines: the jobs were trained on other data than the current "
                    f"{dataset} files (data fingerprints {sorted(used)}, now "
                    f"{data.fingerprint()}).")
    trials = summarization_data_config(tier, verbose=False).n_random_trials
    return {k: baseline_table(data, all_splits[k], n_random_trials=max(trials, 10))
            for k in splits}, ""


def report(out: str | Path, *, dataset: str | None = None, tier: str | None = None,
           models: Sequence[str] | None = None, splits: Sequence[int] | None = None,
           seeds: Sequence[int] | None = None) -> list[Path]:
    """Write ``comparison.md``, ``comparison.csv``, ``f_per_epoch.png`` and ``f_per_split.png``
    into ``<out>/<dataset>/<tier>/`` for each dataset and tier found (or asked for), from the
    finished jobs, and say which jobs of the grid are missing. The grid is ``models`` ×
    ``splits`` × ``seeds`` (default: the models and seeds found, every split of the data)."""
    import matplotlib.pyplot as plt

    out = check_out(out)
    found = load_results(out, dataset=dataset, tier=tier)
    if not found:
        where = " ".join(f"--{k} {v}" for k, v in (("dataset", dataset), ("tier", tier)) if v)
        raise CourseError(f"{out} holds no job folders{' for ' + where if where else ''}: run "
                          f"`course-experiments run MODEL --out {out}` first.")
    written = []
    for ds, tr in sorted({(r.job.dataset, r.job.tier) for r in found}):
        results = [r for r in found if (r.job.dataset, r.job.tier) == (ds, tr)]
        names = _model_order(models or {r.job.model for r in results})
        try:
            grid_splits = list(splits) if splits is not None else list(
                range(len(load_data(ds, tr)[1])))
        except DataError:
            grid_splits = sorted({r.job.split for r in results})
        grid_seeds = list(seeds) if seeds is not None else sorted({r.job.seed for r in results})
        results = [r for r in results if r.job.model in names and r.job.split in grid_splits
                   and r.job.seed in grid_seeds]
        finished = [r for r in results if r.finished]
        absent = missing(out, names, ds, tr, grid_splits, grid_seeds)
        tables, note = _baselines(ds, tr, finished, sorted({r.job.split for r in finished}))
        folder = out / dataset_folder(ds) / tr
        written += _write_report(folder, ds, tr, names, finished, absent, tables, note,
                                 grid_splits, grid_seeds, out)
        mean_baselines = {b: float(np.mean([t[b].f_score for t in tables.values()]))
                          for b in next(iter(tables.values()), {})}
        shown = {b: v for b, v in mean_baselines.items() if b in ("random", "uniform")
                 or b.startswith("human")}
        for name, fig in (("f_per_epoch.png", f_per_epoch_figure(finished, shown)),
                          ("f_per_split.png", per_split_figure(finished, {
                              k: {b: t[b].f_score for b in shown} for k, t in tables.items()}))):
            fig.savefig(tmp := folder / f".{name}.tmp.png", dpi=110, bbox_inches="tight")
            plt.close(fig)
            os.replace(tmp, folder / name)
            written.append(folder / name)
    return written


def summarize(results: Sequence[JobResult]) -> dict[str, float]:
    """One model's row of the comparison from its finished jobs: F of the untrained model and
    under each selection rule (mean and standard deviation over seeds, see
    :func:`over_seeds`), τ and ρ of the final
    epoch, the median of the jobs' mean seconds per epoch and the parameter count."""
    row = {"finished": len(results)}
    row["f_untrained_mean"], row["f_untrained_sd"], _ = over_seeds(results,
                                                                   lambda r: r.f_scores[0])
    for rule, key in zip(SELECTION_RULES, ("best", "final", "lowest"), strict=True):
        row[f"f_{key}_mean"], row[f"f_{key}_sd"], row["seeds"] = over_seeds(
            results, lambda r, rule=rule: r.selections[rule][1])
    ranked = [r for r in results if r.rank_correlation]
    for key in ("kendall_tau", "spearman_rho"):
        row[key] = over_seeds(ranked, lambda r, key=key: r.rank_correlation[key])[0]
    for key in ("score_spread", "constant_overlap"):
        logged = [r for r in results if key in r.test_metrics]
        row[key] = over_seeds(logged, lambda r, key=key: r.test_metrics[key][-1])[0]
    row["seconds_per_epoch"] = (float(np.median([np.nanmean(r.seconds_per_epoch[1:])
                                                 for r in results])) if results else np.nan)
    row["parameters"] = results[0].parameters if results else 0
    return row


def _number(value: float, fmt: str = ".1f", sd: float = np.nan) -> str:
    if np.isnan(value):
        return "—"
    shown = float(format(value, fmt)) + 0.0  # no "-0.000"
    return format(shown, fmt) + ("" if np.isnan(sd) else f" ± {sd:{fmt}}")


def _write_report(folder: Path, dataset: str, tier: str, names: list[str],
                  finished: list[JobResult], absent: list[Job], tables: dict, note: str,
                  splits: list[int], seeds: list[int], out: Path) -> list[Path]:
    """The comparison table (markdown and CSV) of one dataset and tier."""
    from course_lib.summary_plots import versus_baselines

    expected = len(splits) * len(seeds)
    rows = {m: summarize([r for r in finished if r.job.model == m]) for m in names}
    used = sorted(tables)
    baselines = {b: {"f_final_mean": float(np.mean([tables[k][b].f_score for k in used])),
                     **{m: float(np.mean([getattr(tables[k][b], m) for k in used]))
                        for m in ("kendall_tau", "spearman_rho")}}
                 for b in (tables[used[0]] if used else {})}
    header = ["model", "finished", "F, untrained", *SELECTION_RULES.values(), "Kendall τ (final)",
              "Spearman ρ (final)", "score spread (final)", "constant overlap (final)",
              "s / epoch", "parameters"]
    lines = [f"# The SUM-GAN family on {dataset} ({tier} tier)", "",
             f"Grid: splits {number_ranges(splits)} × seeds {number_ranges(seeds)}. F-score "
             "(%) on each split's test videos under three model-selection rules; each cell "
             "is the mean over splits for each seed, then the mean ± standard deviation over "
             "seeds (finished jobs only). τ and ρ: rank correlation of the final epoch's "
             "scores with the annotators'. Score spread: the 10–90 % range of a test video's "
             "scores, mean over videos (0: the model scores every step alike and no longer "
             "selects); constant overlap: the share of its selected shots that constant scores "
             "select too (1: its summary is what segmentation and knapsack give anyway). "
             "s / epoch: median over jobs of the mean seconds per "
             "epoch (with its evaluation; other work on the machine slows it).", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model, row in rows.items():
        lines.append("| " + " | ".join([
            model, f"{row['finished']} of {expected}",
            *(_number(row[f"f_{k}_mean"], sd=row[f"f_{k}_sd"])
              for k in ("untrained", "best", "final", "lowest")),
            _number(row["kendall_tau"], ".3f"), _number(row["spearman_rho"], ".3f"),
            _number(row["score_spread"], ".3f"), _number(row["constant_overlap"], ".2f"),
            _number(row["seconds_per_epoch"], ".2f"),
            f"{row['parameters']:,}" if row["parameters"] else "—"]) + " |")
    lines.append("")
    lines += paired_report_lines([r for m in names for r in finished if r.job.model == m])
    if baselines:
        trivial = {b: baselines[b]["f_final_mean"] for b in TRIVIAL_BASELINES if b in baselines}
        lines += [f"Baselines on the same test videos (mean over splits "
                  f"{number_ranges(used)}):", "",
                  "| baseline | F | Kendall τ | Spearman ρ |", "|---|---|---|---|",
                  *(f"| {b} | {v['f_final_mean']:.1f} | {_number(v['kendall_tau'], '.3f')} | "
                    f"{_number(v['spearman_rho'], '.3f')} |" for b, v in baselines.items()), "",
                  *("- " + versus_baselines(f"{m}, final epoch", r["f_final_mean"], {
                      **trivial, "its untrained model": r["f_untrained_mean"]})
                    for m, r in rows.items() if r["finished"]), ""]
    elif note:
        lines += [note, ""]
    if absent:
        lines += [f"Missing: {len(absent)} of the grid's {expected * len(names)} jobs, not "
                  f"finished (the table leaves them out; `course-experiments run` with the same "
                  f"grid and --out {out} runs or resumes them):", "",
                  *(f"- {line}" for line in _describe_missing(out, absent)), ""]
    else:
        lines += ["Every job of the grid is finished.", ""]
    folder.mkdir(parents=True, exist_ok=True)
    _write_text(folder / "comparison.md", "\n".join(lines))
    table = io.StringIO()
    writer = csv.DictWriter(table, ["kind", "name", "expected", *next(iter(rows.values()))],
                            lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows([{"kind": "model", "name": m, "expected": expected, **r}
                      for m, r in rows.items()])
    writer.writerows([{"kind": "baseline", "name": b, **v} for b, v in baselines.items()])
    _write_text(folder / "comparison.csv", table.getvalue())
    return [folder / "comparison.md", folder / "comparison.csv"]
