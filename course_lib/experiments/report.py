"""The comparison of a grid's results: the figures and the markdown and CSV report (the
statistics are :mod:`course_lib.comparison`'s)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from course_lib import comparison
from course_lib.comparison import SELECTION_RULES, in_order, paired_report_lines, summarize
from course_lib.config import summarization_data_config
from course_lib.diagnostics import longest_stretch_share, selected_steps
from course_lib.errors import CourseError, DataError
from course_lib.evaluation import TRIVIAL_BASELINES, baseline_table  # label-free rows
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
    check_splits,
    dataset_folder,
    has_annotations,
    is_own,
    load_data,
    load_job,
    load_results,
    model_color,
    number_ranges,
)
from course_lib.experiments.rarity import rescored

# ---------------------------------------------------------------- the comparison

def _model_order(names: Iterable[str]) -> list[str]:
    """The runner's models in their own order, variants after them."""
    return in_order(names, MODELS)


def seed_curves(results: Sequence[JobResult]) -> dict[str, np.ndarray]:
    """:func:`course_lib.comparison.seed_curves` in the runner's model order."""
    return comparison.seed_curves(results, MODELS)


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

    from course_lib.style import legend_beside, whole_epochs
    from course_lib.summary_plots import baseline_line

    fig, ax = plt.subplots(figsize=(9, 4)) if ax is None else (ax.figure, ax)
    for model, curves in seed_curves(results).items():
        _band(ax, curves, model, model_color(model))
    for name, value in (baselines or {}).items():
        baseline_line(ax, name, value)
    ax.set(xlabel="epoch (0 = untrained)", ylabel="test F-score (%)", title=title or
           "F per epoch: mean over splits and seeds, band = range over seeds")
    whole_epochs(ax)
    ax.grid(alpha=0.3)
    legend_beside(ax)
    fig.tight_layout()
    return fig


def per_split_figure(results: Sequence[JobResult],
                     baselines: Mapping[int, Mapping[str, float]] | None = None,
                     where: str = ""):
    """One panel per split: each model's F per epoch (mean over seeds, band = their range),
    with that split's ``baselines[split]``: how much the split alone moves the numbers.
    ``where`` (e.g. the dataset and tier) begins the title."""
    import matplotlib.pyplot as plt

    from course_lib.style import legend_beside, whole_epochs
    from course_lib.summary_plots import BASELINE_STYLES

    splits = sorted({r.job.split for r in results if r.finished})
    fig, axes = plt.subplots(1, max(len(splits), 1), figsize=(3.2 * max(len(splits), 1) + 1.5,
                                                             3.4), sharey=True, squeeze=False)
    for ax, split in zip(axes[0], splits, strict=False):  # no panel without a split
        mine = [r for r in results if r.job.split == split]
        for model, curves in seed_curves(mine).items():
            _band(ax, curves, model, model_color(model))
        for name, value in (baselines or {}).get(split, {}).items():  # values differ by split
            ax.axhline(value, lw=1.1, label=name, **BASELINE_STYLES.get(name, {"ls": "--"}))
        ax.set(xlabel="epoch", title=f"split {split}")
        whole_epochs(ax)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test F-score (%)")
    handles, labels = axes[0][-1].get_legend_handles_labels()
    legend_beside(fig, handles, labels)
    several = len({r.job.seed for r in results if r.finished}) > 1
    fig.suptitle(f"{where}F per epoch on each split ("
                 + ("mean over seeds, band = range over seeds)" if several
                    else "one seed: no band)"))
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


def _report_data(dataset: str, tier: str, results: Sequence[JobResult]):
    """The data the jobs were trained on and its splits, or ``None`` and a note why not."""
    try:
        data, all_splits = load_data(dataset, tier)
    except DataError as error:
        return None, [], f"No baselines: {error}"
    if not has_annotations(data, data.keys()):
        return None, [], NO_F_SCORE.format(data.source) + " No baselines either: they are F-scores."
    if not results:
        return None, [], "No baselines yet: no job of this grid has finished."
    used = {_read_json(r.folder / "config.json")["data"]["fingerprint"] for r in results}
    if used != {data.fingerprint()}:
        return None, [], ("No baselines: the jobs were trained on other data than the current "
                          f"{dataset} files (data fingerprints {sorted(used)}, now "
                          f"{data.fingerprint()}).")
    return data, all_splits, ""


def _baselines(data, all_splits, tier: str, splits: Sequence[int]) -> dict:
    """The baseline table of each split, under ``data``'s way to combine annotators."""
    trials = summarization_data_config(tier, verbose=False).n_random_trials
    return {k: baseline_table(data, all_splits[k], n_random_trials=max(trials, 10))
            for k in splits}


AGGREGATIONS = {"max": "the max over annotators (SumMe's)",
                "mean": "the mean over annotators (TVSum's)"}
OTHER_AGGREGATION = {"max": "mean", "mean": "max"}


def _stretch(record, scores=None, chosen=None) -> float:
    return longest_stretch_share(selected_steps(record, scores) if chosen is None else chosen)


def judged_the_other_way(data, finished: Sequence[JobResult]) -> list[JobResult]:
    """``finished`` with the F of their untrained and final epochs recomputed under the other
    way to combine annotators (:data:`OTHER_AGGREGATION`): what a paired comparison under that
    way is computed from."""
    other = replace(data, eval_method=OTHER_AGGREGATION[data.eval_method])
    return [rescored(r, other, (0, r.selections[comparison.FINAL][0])) for r in finished]


def other_aggregation_lines(data, all_splits, tier: str, finished: Sequence[JobResult],
                            pairs: Sequence[tuple[str, str]] | None = None) -> list[str]:
    """The finished runs and the baselines judged again by the other standard way to combine
    annotators (the mean over them where the data uses the max, the max where it uses the
    mean), beside how much of each summary lies in one stretch.

    Why: under the max a summary scores as well as it matches its best-matching annotator, so
    one that puts its budget on a single stretch wins whenever some annotator's cut falls there;
    under the mean it has to match them all. A gain that holds under one way only is a gain in
    how a summary is laid out, not in what it selects. ``pairs``: the (changed, unchanged) models
    compared under it too (default: each ``MODEL+OPTION`` with its ``MODEL`` where they share two
    runs or more).
    """
    if not finished:
        return []
    other = replace(data, eval_method=OTHER_AGGREGATION[data.eval_method])
    used = sorted({r.job.split for r in finished})
    tables = _baselines(other, all_splits, tier, used)
    baselines = {b: float(np.mean([tables[k][b].f_score for k in used])) for b in tables[used[0]]}
    test_keys = [key for k in used for key in all_splits[k].test_keys]
    cuts = float(np.mean([_stretch(data[key], chosen=cut[data[key].picks])
                          for key in test_keys for cut in data[key].user_summary]))
    lines = [f"The same runs judged by {AGGREGATIONS[other.eval_method]} instead of "
             f"{AGGREGATIONS[data.eval_method]}, this data's own: under the max a summary scores "
             "as well as it matches its best-matching annotator, so one that puts its budget on "
             "one stretch of video wins whenever some annotator's cut falls there; under the "
             "mean it has to match them all. A gain under one way only is a gain in how the "
             "summary is laid out, not in what it selects. Longest stretch: the share of a "
             "summary's steps in its longest run of consecutive steps, mean over test videos "
             f"(the annotators' own cuts: {cuts:.2f}).", "",
             "| model | F, final | F, untrained | final − untrained (95 % t-interval) | "
             "longest stretch (final) | longest stretch (untrained) |", "|---|---|---|---|---|---|"]
    sentences, rescored_runs = [], []
    models = _model_order({r.job.model for r in finished})
    for model in models:
        mine = [r for r in finished if r.job.model == model]
        runs = judged_the_other_way(data, mine)
        rescored_runs += runs
        final = float(np.mean([comparison.selected_f(r, comparison.FINAL) for r in runs]))
        untrained = float(np.mean([r.f_scores[0] for r in runs]))
        if len(runs) > 1:
            paired = comparison.versus_untrained(runs, model)
            versus = (f"{paired.mean:+.1f} [{paired.interval[0]:+.1f}, "
                      f"{paired.interval[1]:+.1f}], {paired.verdict}")
        else:
            versus = "one run: no paired comparison"
        stretch = [float(np.nanmean([_stretch(data[key], scores) for key, scores in
                                     r.test_scores(epoch).items()]))
                   for r in mine for epoch in (r.selections[comparison.FINAL][0], 0)]
        lines.append(f"| {model} | {final:.1f} | {untrained:.1f} | {versus} | "
                     f"{np.mean(stretch[::2]):.2f} | {np.mean(stretch[1::2]):.2f} |")
        sentences.append("- " + paired_sentence(runs, model, {
            b: {k: tables[k][b].f_score for k in used} for b in TRIVIAL_BASELINES
            if b in baselines}))
    if pairs is None:  # as the main report: models that share two runs or more
        runs_of = comparison.f_by_run(rescored_runs, comparison.FINAL)
        pairs = [(m, m.split("+")[0]) for m in models if "+" in m and m.split("+")[0] in models
                 and len(set(runs_of[m]) & set(runs_of[m.split("+")[0]])) >= 2]
    compared = [f"- Under {AGGREGATIONS[other.eval_method]}: " + comparison.paired_comparison(
        rescored_runs, a, b).sentence() for a, b in pairs]  # a model without runs: named
    shown = ", ".join(f"{b} {v:.1f}" for b, v in baselines.items())
    return [*lines, "", f"Baselines under the same way (mean over splits "
            f"{number_ranges(used)}): {shown}.", "", *sentences, *compared, ""]


def paired_sentence(results: Sequence[JobResult], model: str,
                    per_split: Mapping[str, Mapping[int, float]]) -> str:
    """``model``'s final F against each baseline (its F on each split: ``per_split``) and its
    untrained self, by the report's one rule, paired by (split, seed) run: it beats or trails
    what the 95 % t-interval of the paired differences puts on one side of 0, and is level
    with the rest. A mean 0.2 above a baseline is not a win when the runs move by several."""
    mine = [r for r in results if r.job.model == model]
    final = float(np.mean([comparison.selected_f(r, comparison.FINAL) for r in mine]))
    label = f"{model}, final epoch ({final:.1f})"
    if len(mine) < 2:
        values = {name: np.mean([v[r.job.split] for r in mine]) for name, v in per_split.items()}
        values["its untrained model"] = mine[0].f_scores[0]
        return (f"{label}: one run, so nothing is judged; on its test videos "
                + ", ".join(f"{name} {v:.1f}" for name, v in values.items()) + ".")
    compared = {name: comparison.versus_baseline(mine, model, name, values)
                for name, values in per_split.items()}
    compared["its untrained model"] = comparison.versus_untrained(mine, model)
    groups = {"beats": [], "is within the noise of": [], "trails": []}
    for name, paired in compared.items():
        side = ("is within the noise of" if not paired.exceeds_noise
                else "beats" if paired.mean > 0 else "trails")
        groups[side].append(f"{name} ({final - paired.mean:.1f})")
    said = [f"{words} {', '.join(names)}" for words, names in groups.items() if names]
    return (f"{label} " + "; ".join(said) + f" (paired by run over {len(mine)} runs, "
            "95 % t-interval)." + _across_splits(compared))


def _across_splits(compared: Mapping[str, comparison.Paired]) -> str:
    """Whether the gaps beyond the noise hold across splits. The seeds of a split share its test
    videos and each baseline's F there, so pairs by run measure the noise between seeds on these
    splits; one mean difference per split (a t-test over the splits) asks about other splits."""
    ahead = {name: p for name, p in compared.items() if p.exceeds_noise}
    if not ahead or all(len(p.split_differences) == p.n for p in ahead.values()):
        return ""  # nothing beyond the noise, or one run per split: the runs are the splits
    k = len(next(iter(ahead.values())).split_differences)
    if k <= 2:
        return (f" The seeds of a split share its test videos, and with {k} split"
                f"{'s' * (k != 1)} nothing can be said about other splits.")
    holds = [name for name, p in ahead.items() if p.split_t_p < comparison.ALPHA]
    return (" The seeds of a split share its test videos, so these pairs measure the noise "
            f"between seeds; across the {k} splits (one mean difference per split, t-test) the "
            "gap holds for " + (", ".join(holds) if holds else "none of them") + ".")


def report(out: str | Path, *, dataset: str | None = None, tier: str | None = None,
           models: Sequence[str] | None = None, splits: Sequence[int] | None = None,
           seeds: Sequence[int] | None = None) -> list[Path]:
    """Write ``comparison.md``, ``comparison.csv``, ``f_per_epoch.png`` and ``f_per_split.png``
    into ``<out>/<dataset>/<tier>/`` for each dataset and tier found (or asked for), from the
    finished jobs, and say which jobs of the grid are missing. The grid is ``models`` ×
    ``splits`` × ``seeds`` (default: the models and seeds found, every split of the data)."""
    import matplotlib.pyplot as plt

    out = check_out(out, writing=False)
    found = load_results(out, dataset=dataset, tier=tier)
    if not found:
        where = " ".join(f"--{k} {v}" for k, v in (("dataset", dataset), ("tier", tier)) if v)
        raise CourseError(f"{out} holds no job folders{' for ' + where if where else ''}: run "
                          f"`course-experiments run MODEL --out {out}` first.")
    held = {r.job.model for r in found}
    if unknown := [m for m in models or () if m not in held and m not in MODELS]:
        raise CourseError(f"--models {' '.join(unknown)}: no job of {out} and no model of the "
                          f"runner has that name; nothing was written. The folder holds "
                          f"{', '.join(_model_order(held))}.")
    sections = {}  # every section's grid is checked before any report is replaced
    for ds, tr in sorted({(r.job.dataset, r.job.tier) for r in found}):
        results = [r for r in found if (r.job.dataset, r.job.tier) == (ds, tr)]
        names = _model_order(models or {r.job.model for r in results})
        try:
            n_splits = len(load_data(ds, tr)[1])
            grid_splits = check_splits(ds, tr, splits if splits is not None else range(n_splits))
        except DataError as error:
            if not is_own(ds):  # a report without it would lose its baselines and its grid
                raise CourseError(
                    f"The {ds} data its jobs were trained on cannot be read, so no report was "
                    f"written (any report already in {out / dataset_folder(ds) / tr} is "
                    f"unchanged): {error}") from error
            grid_splits = sorted({r.job.split for r in results})  # no baselines to lose
        grid_seeds = list(seeds) if seeds is not None else sorted({r.job.seed for r in results})
        mine = [r for r in results if r.job.model in names and r.job.split in grid_splits
                and r.job.seed in grid_seeds]
        if mine:  # a grid of which no job was ever started leaves that section's report alone
            sections[ds, tr] = names, grid_splits, grid_seeds, mine
    if not sections:
        raise CourseError(
            f"{out} holds no job of the grid asked for (--models, --splits, --seeds); nothing "
            f"was written. It holds {', '.join(_model_order(held))} with seeds "
            f"{number_ranges(sorted({r.job.seed for r in found}))}.")
    written = []
    for (ds, tr), (names, grid_splits, grid_seeds, results) in sections.items():
        finished = [r for r in results if r.finished]
        absent = missing(out, names, ds, tr, grid_splits, grid_seeds)
        used_splits = sorted({r.job.split for r in finished})
        data, all_splits, note = _report_data(ds, tr, finished)
        tables = {} if data is None else _baselines(data, all_splits, tr, used_splits)
        other = ([] if data is None else
                 other_aggregation_lines(data, all_splits, tr, [r for m in names for r in
                                                                  finished if r.job.model == m]))
        folder = out / dataset_folder(ds) / tr
        written += _write_report(folder, ds, tr, names, finished, absent, tables, note,
                                 grid_splits, grid_seeds, out, other,
                                 None if data is None else AGGREGATIONS[data.eval_method])
        mean_baselines = {b: float(np.mean([t[b].f_score for t in tables.values()]))
                          for b in next(iter(tables.values()), {})}
        shown = {b: v for b, v in mean_baselines.items() if b in ("random", "uniform")
                 or b.startswith("human")}
        if not any(np.isfinite(r.f_scores).any() for r in finished):
            continue  # no annotations (your own videos): no F-score to draw
        where = f"{ds} ({tr} tier): "  # a figure copied elsewhere keeps what it shows
        for name, fig in (("f_per_epoch.png", f_per_epoch_figure(
                              finished, shown, title=f"{where}F per epoch: mean over splits and "
                              "seeds, band = range over seeds")),
                          ("f_per_split.png", per_split_figure(finished, {
                              k: {b: t[b].f_score for b in shown} for k, t in tables.items()},
                              where))):
            fig.savefig(tmp := folder / f".{name}.tmp.png", dpi=110, bbox_inches="tight")
            plt.close(fig)
            os.replace(tmp, folder / name)
            written.append(folder / name)
    return written


SMOKE_NOTE = ("**The smoke tier is the test suite's:** a few steps on a handful of short videos, "
              "so that every path runs in seconds. Nothing here has to learn: read no result "
              "from these numbers (the laptop tier is the smallest that does).")


def _versions_note(finished: Sequence[JobResult]) -> list[str]:
    """A paragraph when the runs were trained by more than one version of the course's code."""
    counts: dict[str, int] = {}
    for code in (r.code or "not recorded (older than the record)" for r in finished):
        counts[code] = counts.get(code, 0) + 1
    if len(counts) < 2:
        return []
    return [f"**Trained by {len(counts)} versions of the course's code:** "
            + "; ".join(f"{code}: {n} job{'s' * (n != 1)}" for code, n in counts.items())
            + ". A job repeats its numbers exactly only with the same code, so compare models "
            "trained by one version (another --out for each).", ""]


NOT_THE_PAPERS = ("**Not the papers' configuration:** the {tier} tier trains smaller models "
                  "for fewer epochs than the papers (their sizes and schedule are the paper "
                  "tier's: `--tier paper`), so these F-scores cannot be set beside published "
                  "ones; the baselines below can.")


def _number(value: float, fmt: str = ".1f", sd: float = np.nan) -> str:
    if np.isnan(value):
        return "—"
    shown = float(format(value, fmt)) + 0.0  # no "-0.000"
    return format(shown, fmt) + ("" if np.isnan(sd) else f" ± {sd:{fmt}}")


def _write_report(folder: Path, dataset: str, tier: str, names: list[str],
                  finished: list[JobResult], absent: list[Job], tables: dict, note: str,
                  splits: list[int], seeds: list[int], out: Path,
                  other: Sequence[str] = (), aggregation: str | None = None) -> list[Path]:
    """The comparison table (markdown and CSV) of one dataset and tier; ``other``: the lines
    that judge the runs by the other way to combine annotators; ``aggregation``: how this data
    combines them into a video's F."""
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
             "(%) on each split's test videos"
             + (f" (a video's F: {aggregation}, this data's protocol)" if aggregation else "")
             + " under three model-selection rules; each cell "
             "is the mean over splits for each seed, then the mean ± standard deviation over "
             "seeds (finished jobs only). τ and ρ: rank correlation of the final epoch's "
             "scores with the annotators' (— where the data holds no annotator's score per "
             "step, as SumMe's file: its annotators cut summaries). Score spread: the 10–90 "
             "% range of a test video's scores, mean over videos (0: the model scores every "
             "step alike and no longer selects); constant overlap: the share of its selected "
             "shots that constant scores select too (1: its summary is what segmentation and "
             "knapsack give anyway). s / epoch: median over jobs of the mean seconds per "
             "epoch (with its evaluation; other work on the machine slows it).", "",
             *([SMOKE_NOTE, ""] if tier == "smoke" else []),
             *_versions_note(finished),
             *([NOT_THE_PAPERS.format(tier=tier), ""]
               if dataset in ("summe", "tvsum") and tier != "paper" else []),
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
        trivial = [b for b in TRIVIAL_BASELINES if b in baselines]
        lines += [f"Baselines on the same test videos (mean over splits "
                  f"{number_ranges(used)}):", "",
                  "| baseline | F | Kendall τ | Spearman ρ |", "|---|---|---|---|",
                  *(f"| {b} | {v['f_final_mean']:.1f} | {_number(v['kendall_tau'], '.3f')} | "
                    f"{_number(v['spearman_rho'], '.3f')} |" for b, v in baselines.items()), "",
                  *("- " + paired_sentence(finished, m, {
                      b: {k: tables[k][b].f_score for k in used} for b in trivial})
                    for m, r in rows.items() if r["finished"]), ""]
    elif note:
        lines += [note, ""]
    lines += other
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
