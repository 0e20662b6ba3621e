"""The experiment runner (``course_lib.experiments``, ``course-experiments``): smoke-tier jobs on
the synthetic data, a few seconds each."""

import csv
import dataclasses
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from course_lib import comparison as cmp
from course_lib import experiments as ex
from course_lib.data import summarization as sm
from course_lib.diagnostics import score_spread
from course_lib.evaluation import evaluate
from course_lib.experiments.report import SMOKE_NOTE
from course_lib.experiments_cli import main
from course_lib.models import sum_gan_sl as sl
from tests.test_download import write_benchmark, write_splits

MODEL = "sum-gan-sl-fast"  # the quickest of the family at the smoke tier
GRID = sys.modules["course_lib.experiments.grid"]  # the package's `grid` is a function


def job(split=0, seed=0, model=MODEL):
    return ex.Job(model, "synthetic", "smoke", split, seed)


def snapshot(folder):
    """Every file under ``folder`` with its bytes: to show that nothing changed."""
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def same_results(a: ex.JobResult, b: ex.JobResult) -> None:
    assert a.finished and b.finished
    np.testing.assert_array_equal(a.epochs, b.epochs)
    np.testing.assert_array_equal(a.f_scores, b.f_scores)
    assert a.selections == b.selections and a.rank_correlation == b.rank_correlation
    for key in a.train_curves:
        np.testing.assert_array_equal(a.train_curves[key], b.train_curves[key])
    for epoch in a.epochs:
        scores_a, scores_b = a.test_scores(epoch), b.test_scores(epoch)
        assert scores_a.keys() == scores_b.keys()
        for key in scores_a:
            np.testing.assert_array_equal(scores_a[key], scores_b[key])


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    return out, ex.run_job(job(), out, progress=False)


def test_a_job_writes_every_file_and_its_scores_are_what_was_evaluated(finished):
    out, result = finished
    folder = job().folder(out)
    assert folder == out / "synthetic" / "smoke" / MODEL / "split0-seed0"
    epochs = ex.MODELS[MODEL].config("smoke").epochs
    for name in ("config.json", "progress.json", "epochs.csv", "f_scores.json", "result.json"):
        assert (folder / name).is_file(), name
    assert len(list((folder / "checkpoint").glob("*.pt"))) == 1
    # The reference's evaluation scripts list the folder and sort by int(name[6:-5]).
    names = sorted(os.listdir(folder / "results"), key=lambda name: int(name[6:-5]))
    assert names == [f"Synth_{e}.json" for e in range(-1, epochs)]
    data, splits = ex.load_data("synthetic", "smoke")
    f_scores = json.loads((folder / "f_scores.json").read_text())
    assert result.finished and list(result.epochs) == list(range(epochs + 1))
    for epoch, name in zip(result.epochs, names, strict=True):
        saved = json.loads((folder / "results" / name).read_text())
        assert sorted(saved) == sorted(splits[0].test_keys)
        assert all(len(saved[k]) == data[k].n_steps and all(isinstance(v, float) for v in
                                                            saved[k]) for k in saved)
        assert evaluate(data, saved).mean == pytest.approx(f_scores[epoch])
        assert result.test_metrics["score_spread"][epoch] == pytest.approx(
            score_spread(saved))  # the diagnostics are those of the saved scores
    with open(folder / "epochs.csv") as table:
        header = next(csv.reader(table))
    assert header[:5] == ["epoch", "test_f_score", "test_mean_score", "test_score_spread",
                          "test_constant_overlap"]
    assert np.all((result.test_metrics["constant_overlap"] >= 0)
                  & (result.test_metrics["constant_overlap"] <= 1))
    assert np.all(result.seconds_per_epoch > 0) and len(result.seconds_per_epoch) == epochs + 1
    assert set(result.train_curves) >= {"reconstruction", "sparsity", "discriminator"}
    assert result.parameters == sum(
        p.numel() for p in sl.build_sum_gan_sl(ex.MODELS[MODEL].config("smoke")).parameters())
    stored = json.loads((folder / "config.json").read_text())
    assert stored["config"]["videos_per_update"] > 1 and stored["data"]["fingerprint"] == (
        data.fingerprint())
    # the job's own split and seed, not the notebooks' defaults, which a reader would take for it
    assert (stored["split"], stored["seed"]) == (0, 0)
    assert "split" not in stored["config"] and "seeds" not in stored["config"]


def test_the_plain_names_train_faithfully_and_the_fast_ones_in_batches():
    for tier in ("smoke", "laptop", "paper"):
        for name in ("sum-gan-sl", "sum-gan-aae"):
            plain, fast = ex.MODELS[name].config(tier), ex.MODELS[f"{name}-fast"].config(tier)
            assert (plain.videos_per_update, plain.training_order) == (1, "split")
            assert fast.videos_per_update > 1 and fast.training_order == "by_length"


def test_a_finished_job_is_skipped(finished, monkeypatch):
    out, result = finished
    before = snapshot(job().folder(out))
    monkeypatch.setattr(sl, "fit",
                        lambda *args, **kwargs: pytest.fail("a finished job trained again"))
    again = ex.run_job(job(), out, progress=False)
    same_results(again, result)
    assert snapshot(job().folder(out)) == before


def test_an_interrupted_job_resumes_and_ends_as_an_uninterrupted_one(finished, tmp_path,
                                                                     monkeypatch):
    from course_lib.training import TrainingInterrupted

    real, calls = sl.train_step, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # Ctrl-C in the second epoch
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(sl, "train_step", interrupted)
        with pytest.raises(TrainingInterrupted):
            ex.run_job(job(), tmp_path, progress=False)
    folder = job().folder(tmp_path)
    partial = ex.load_job(folder)
    assert not partial.finished and list(partial.epochs) == [0, 1]
    # As if killed after evaluating epoch 2 but before its checkpoint: that epoch is redone.
    progress = json.loads((folder / "progress.json").read_text())
    progress["epochs"].append({**progress["epochs"][-1], "epoch": 2, "f_score": -1.0})
    (folder / "progress.json").write_text(json.dumps(progress))
    (folder / "results" / "Synth_1.json").write_text('{"video_0": [0.5]}')
    same_results(ex.run_job(job(), tmp_path, progress=False), finished[1])
    redone = json.loads((folder / "progress.json").read_text())["epochs"]
    assert [(e["epoch"], e["f_score"]) for e in redone] == list(enumerate(finished[1].f_scores))
    model = [torch.load(p, weights_only=True)["state"]["model"]
             for out in (tmp_path, finished[0])
             for p in (job().folder(out) / "checkpoint").glob("*.pt")]
    assert all(torch.equal(model[0][k], model[1][k]) for k in model[0])


@pytest.mark.parametrize("after_recording", [False, True])
def test_a_job_interrupted_in_an_evaluation_redoes_it(finished, tmp_path, monkeypatch,
                                                      after_recording):
    """A KeyboardInterrupt raised in epoch 1's evaluation (before or after its scores were
    written): the resumed job evaluates epoch 1 again, so no epoch's F-score or scores file is
    missing, and it ends as an uninterrupted job."""
    from course_lib.training import TrainingInterrupted

    real, calls = sl.evaluate_model, []

    def interrupted(model, dataset, keys, on_evaluate=None):
        calls.append(1)
        if len(calls) == 2 and not after_recording:
            raise KeyboardInterrupt
        metrics = real(model, dataset, keys, on_evaluate)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return metrics

    with monkeypatch.context() as patch:
        patch.setattr(sl, "evaluate_model", interrupted)
        with pytest.raises(TrainingInterrupted):
            ex.run_job(job(), tmp_path, progress=False)
    same_results(ex.run_job(job(), tmp_path, progress=False), finished[1])


def test_only_runs_one_job_of_the_grid(tmp_path, capsys):
    assert main(["run", MODEL, "--tier", "smoke", "--splits", "0-1", "--seeds", "0,1", "--out",
                 str(tmp_path), "--only", "split=1,seed=0"]) == 0
    assert [r.job for r in ex.load_results(tmp_path)] == [job(split=1)]
    assert "1 of 1 job(s) finished" in capsys.readouterr().out
    assert main(["run", MODEL, "--tier", "smoke", "--splits", "0-1", "--seeds", "0,1", "--out",
                 str(tmp_path), "--only", "index=3"]) == 0  # model, split, seed order
    assert [r.job for r in ex.load_results(tmp_path)] == [job(split=1), job(split=1, seed=1)]
    capsys.readouterr()
    assert main(["run", MODEL, "sum-gan", "--tier", "smoke", "--splits", "1", "--seeds", "0",
                 "--out", str(tmp_path), "--only", f"model={MODEL}"]) == 0  # finished: skipped
    assert f"1 job(s) of {MODEL} on synthetic" in capsys.readouterr().out  # not sum-gan's


def test_parallel_jobs_give_the_same_results_as_one_after_another(finished, tmp_path):
    """Two worker processes for three jobs: the third runs after another job in its worker, and
    ends as in a fresh process of its own."""
    parallel = ex.run_grid([MODEL], "synthetic", "smoke", [0, 1, 2], [0], tmp_path / "parallel",
                           jobs=2, progress=False)
    assert ex.missing(tmp_path / "parallel", [MODEL], "synthetic", "smoke", [0, 1, 2], [0]) == []
    same_results(parallel[0], finished[1])
    same_results(parallel[1], ex.run_job(job(split=1), tmp_path / "here", progress=False))
    subprocess.run([sys.executable, "-m", "course_lib.experiments_cli", "run", MODEL, "--tier",
                    "smoke", "--splits", "2", "--seeds", "0", "--out", str(tmp_path / "alone")],
                   check=True, capture_output=True, timeout=300)
    same_results(parallel[2], ex.load_job(job(split=2).folder(tmp_path / "alone")))
    log = tmp_path / "parallel" / "logs" / f"synthetic-smoke-{MODEL}-split2-seed0.log"
    assert f"{job(split=2)}: finished in " in log.read_text()


def test_an_error_in_the_runner_stops_its_workers(tmp_path, monkeypatch):
    started = []

    class Worker(GRID._Worker):
        def __init__(self, *args):
            super().__init__(*args)
            started.append(self.process)

    monkeypatch.setattr(GRID, "_Worker", Worker)
    monkeypatch.setattr(GRID, "_epochs_done", lambda job, out: 1 / 0)  # while both run
    with pytest.raises(ZeroDivisionError):
        ex.run_grid([MODEL], "synthetic", "smoke", [0, 1], [0], tmp_path, jobs=2,
                    progress=False)
    assert len(started) == 2 and all(p.poll() is not None for p in started)


def test_jobs_of_several_grids_run_in_one_call_and_come_back_in_the_order_given(finished,
                                                                                 tmp_path):
    other = job(split=1, model="sum-gan")
    results = ex.run_jobs([other, job(), other], tmp_path, jobs=2, progress=False)
    assert [r.job for r in results] == [other, job()]  # a job listed twice runs once
    same_results(results[1], finished[1])
    assert ex.missing(tmp_path, ["sum-gan"], "synthetic", "smoke", [1], [0]) == []


def test_the_report_on_partial_results_names_what_is_missing(finished, capsys):
    out, _ = finished
    assert main(["report", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    folder = out / "synthetic" / "smoke"
    table = (folder / "comparison.md").read_text()
    assert table in printed
    assert f"| {MODEL} | 1 of " in table and "random" in table and "human" in table
    assert "| F, untrained |" in table and SMOKE_NOTE in table  # not a result to quote
    assert "Not the papers' configuration" not in table  # synthetic: no published numbers
    assert re.search(r"one run, so nothing is judged; .*its untrained model \d", table)
    header = next(line for line in table.splitlines() if line.startswith("| model |"))
    row = next(line for line in table.splitlines() if line.startswith(f"| {MODEL} |"))
    cells = dict(zip(header.split(" | "), row.split(" | "), strict=True))
    spread = ex.load_results(out)[0].test_metrics["score_spread"][-1]
    assert cells["score spread (final)"] == f"{spread:.3f}"
    assert "Missing:" in table and "not started: split 1 seed 0" in table
    rows = (folder / "comparison.csv").read_text().splitlines()
    assert rows[0].startswith("kind,name,") and any(r.startswith(f"model,{MODEL},") for r in rows)
    assert (folder / "f_per_epoch.png").stat().st_size > 0
    assert (folder / "f_per_split.png").stat().st_size > 0
    one_seed = ex.per_split_figure(ex.load_results(out))  # no band to speak of
    assert one_seed._suptitle.get_text().endswith("(one seed: no band)")


def test_the_report_judges_every_run_by_the_other_way_to_combine_annotators(finished, tmp_path):
    """The synthetic data is judged like SumMe (max over annotators); the report also gives
    each model's F under the mean (TVSum's), its paired difference from its untrained self
    and how much of its summaries lies in one stretch, all from the saved scores."""
    from course_lib.config import summarization_data_config
    from course_lib.diagnostics import longest_stretch_share, selected_steps
    from course_lib.evaluation import baseline_table

    out, first = finished
    shutil.copytree(out / "synthetic", tmp_path / "synthetic")
    second = ex.run_job(job(seed=1), tmp_path, progress=False)
    option = f"{MODEL}+spread"
    changed = [ex.run_job(job(seed=s, model=option), tmp_path, progress=False) for s in (0, 1)]
    assert main(["report", "--out", str(tmp_path)]) == 0
    table = (tmp_path / "synthetic" / "smoke" / "comparison.md").read_text()
    data, splits = ex.load_data("synthetic", "smoke")
    assert data.eval_method == "max"
    assert "judged by the mean over annotators (TVSum's) instead of the max" in table
    final = int(first.epochs[-1])
    f = {e: [evaluate(data, r.test_scores(e), metric="mean").mean for r in (first, second)]
         for e in (0, final)}
    assert f[final] != [evaluate(data, first.test_scores(final)).mean,
                        evaluate(data, second.test_scores(final)).mean]  # not the max's
    stretch = np.mean([longest_stretch_share(selected_steps(data[k], s))
                       for r in (first, second) for k, s in r.test_scores(final).items()])
    difference = np.mean(np.subtract(f[final], f[0]))
    row = next(line for line in table.splitlines()
               if line.startswith(f"| {MODEL} | {np.mean(f[final]):.1f} |"))
    cells = row.strip("| ").split(" | ")
    assert cells[2] == f"{np.mean(f[0]):.1f}"
    assert cells[3].startswith(f"{difference:+.1f} [")
    assert cells[4] == f"{stretch:.2f}"
    trials = max(summarization_data_config("smoke", verbose=False).n_random_trials, 10)
    by_mean = baseline_table(dataclasses.replace(data, eval_method="mean"), splits[0],
                             n_random_trials=trials)
    mean_random = by_mean["random"].f_score
    assert f"random {mean_random:.1f}" in table
    final_changed = [evaluate(data, r.test_scores(int(r.epochs[-1])), metric="mean").mean
                     for r in changed]
    gain = np.mean(np.subtract(final_changed, f[final]))
    assert (f"- Under the mean over annotators (TVSum's): {option} − {MODEL} (final epoch "
            f"(label-free)): {gain:+.1f} F points over 2 paired runs") in table
    # The sentence under the baselines judges by the paired rule, not by the means alone.
    mine = [r for r in ex.load_results(tmp_path) if r.job.model == MODEL]
    own = baseline_table(data, splits[0], n_random_trials=trials)
    sentence = next(line for line in table.splitlines()
                    if line.startswith(f"- {MODEL}, final epoch ("))
    for name in ("random", "uniform", "ramp up to end"):
        paired = cmp.versus_baseline(mine, MODEL, name, {0: own[name].f_score})
        side = ("is within the noise of" if not paired.exceeds_noise
                else "beats" if paired.mean > 0 else "trails")
        assert re.search(rf"{side} [^;]*\b{name} \(", sentence), (name, sentence)


HOLDER = """
import sys
from pathlib import Path

from course_lib import experiments as ex
from course_lib.data import summarization as sm

with ex._job_lock(Path(sys.argv[1]), "the job"):
    print("locked", flush=True)
    sys.stdin.read()  # until the test closes stdin
"""


@contextmanager
def lock_held_by_another_process(folder):
    """Another process holds the job folder's lock until the block ends; yields its pid."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)],
                              cwd=Path(ex.__file__).parents[2], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        yield holder.pid
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)


@pytest.mark.skipif(ex.fcntl is None, reason="no file locks here (Windows): jobs run unlocked")
@pytest.mark.parametrize("jobs", [1, 2])
def test_a_job_another_process_is_running_is_skipped_untouched_then_run(jobs, tmp_path, capsys):
    argv = ["run", MODEL, "--tier", "smoke", "--splits", "0-1", "--seeds", "0", "--jobs",
            str(jobs), "--out", str(tmp_path)]
    folder = job().folder(tmp_path)
    data, splits = ex.load_data("synthetic", "smoke")
    ex.claim_folder(folder, ex.job_config(job(), ex.MODELS[MODEL], data, splits[0]))
    with lock_held_by_another_process(folder) as pid:
        before = snapshot(folder)
        assert main(argv) == ex.BUSY_EXIT
        printed = capsys.readouterr().out
        assert snapshot(folder) == before  # not trained: no checkpoint, no scores
        logs = "".join(p.read_text() for p in tmp_path.glob("logs/*.log"))
        assert f"Skipped {job()}: another process" in printed
        assert f"another process (pid {pid} on " in printed + logs
        assert "Done: 1 of 2 job(s) finished" in printed and "1 skipped" in printed
        assert ex.load_job(job(split=1).folder(tmp_path)).finished  # the others ran
        with pytest.raises(ex.JobBusy, match="another process"):
            ex.run_job(job(), tmp_path, progress=False)
        results = ex.run_grid([MODEL], "synthetic", "smoke", [0, 1], [0], tmp_path, jobs=jobs,
                              progress=False)
        assert [r.running_elsewhere for r in results] == [True, False]
        with pytest.raises(ex.CourseError, match=r"1 of 2 runs are not finished \(.*Wait"):
            ex.check_finished(results)  # what notebook 06 calls: a clear message
    assert main(argv) == 0
    assert "Done: 2 of 2 job(s) finished" in capsys.readouterr().out
    assert ex.load_job(folder).finished


@pytest.mark.skipif(ex.fcntl is None, reason="no file locks here (Windows): jobs run unlocked")
def test_a_file_system_without_locks_runs_the_job_unlocked_and_says_so(tmp_path, monkeypatch,
                                                                      capsys):
    def refused(*args):
        raise OSError(37, "No locks available")

    monkeypatch.setattr(ex.fcntl, "flock", refused)
    ran = []
    with ex._job_lock(tmp_path, job()):
        ran.append(1)
    assert ran and f"{job()}: runs unlocked" in capsys.readouterr().out


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("argv, message", [
    (["run", "sum-gan-xl", "--out", "{out}"], "Unknown model 'sum-gan-xl': use one of sum-gan,"),
    (["run", MODEL, "--dataset", "summ", "--out", "{out}"], "Unknown dataset 'summ'"),
    (["run", MODEL, "--splits", "3-5", "--out", "{out}"],
     "Split 5 does not exist: synthetic has 5 splits, numbered 0-4"),
    (["run", MODEL, "--seeds", "one", "--out", "{out}"], "--seeds 'one' is not a list"),
    (["run", MODEL, "--only", "fold=1", "--out", "{out}"], "is not KEY=VALUE"),
    (["run", MODEL, "--only", "seed=7", "--out", "{out}"],
     f"matches no job of the grid (models {MODEL};"),
    (["run", MODEL, "--only", "index=x", "--out", "{out}"], "--only index 'x' is not a list"),
    (["run", MODEL, "--only", "index=30", "--out", "{out}"], "the grid has 15 jobs"),
    (["run", MODEL, "--tier", "huge", "--out", "{out}"], "--tier 'huge' is not a tier: use one"),
    (["report", "--out", "{out}"], "holds no job folders"),
    (["report", "--out", "{out}", "--tier", "lapto"], "--tier 'lapto' is not a tier"),
    (["rarity", "--out", "{out}"], "does not exist"),
    # an open range or an empty list is not one split, nor every split
    (["run", MODEL, "--splits", "0-", "--out", "{out}"], "--splits '0-' is not a list"),
    (["run", MODEL, "--splits", "", "--out", "{out}"], "--splits '' is not a list"),
    (["run", MODEL, "--only", "index=0-1", "--out", "{out}"], "give one job's index"),
    (["run", MODEL, "--jobs", "0", "--out", "{out}"], "--jobs 0: run at least one job"),
    (["run", MODEL, "--option", "", "--out", "{out}"], "names an empty improvement"),
    (["run", MODEL, "--option", "dpp,dpp", "--out", "{out}"], "names dpp more than once"),
    (["run", f"{MODEL}+spread+spread", "--out", "{out}"], "names spread more than once"),
    (["run", "sum-gan", "--option", "spread", "--out", "{out}"],
     "sum-gan takes no improvement options: they are options of SUM-GAN-sl and SUM-GAN-AAE"),
    (["run", "sum-gan+dpp", "--out", "{out}"], "sum-gan takes no improvement options"),
])
def test_bad_input_is_one_clear_message(argv, message, tmp_path, capsys):
    argv = [a.replace("{out}", str(tmp_path / "out")) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_every_option_counts_and_each_model_runs_once():
    """``--option dpp --option spread`` asks for both (argparse alone would keep the last)."""
    from course_lib.experiments_cli import with_options

    assert with_options([MODEL, MODEL], ["dpp", "spread"]) == [f"{MODEL}+dpp+spread"]
    assert with_options([MODEL], ["dpp, spread"]) == [f"{MODEL}+dpp+spread"]
    assert with_options([MODEL, "sum-gan"], []) == [MODEL, "sum-gan"]


def test_a_results_folder_under_a_file_is_one_clear_message(tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    assert main(["run", MODEL, "--tier", "smoke", "--out", str(tmp_path / "afile" / "sub")]) == 1
    err = capsys.readouterr().err
    assert "lies under" in err and "a file, not a folder" in err and "Traceback" not in err


def test_a_report_of_nothing_asked_for_leaves_the_written_report_alone(finished, tmp_path,
                                                                       capsys):
    out, _ = finished
    shutil.copytree(out / "synthetic", tmp_path / "synthetic")
    assert main(["report", "--out", str(tmp_path)]) == 0
    written = {p: p.read_bytes() for p in (tmp_path / "synthetic" / "smoke").glob("comparison*")}
    capsys.readouterr()
    for argv, said in ((["--models", "sum-gan-xl"], "--models sum-gan-xl: no job of"),
                       (["--seeds", "5"], "holds no job of the grid asked for"),
                       (["--splits", "0-9"], "Split 5, 6, 7, 8, 9 does not exist")):
        assert main(["report", "--out", str(tmp_path), *argv]) == 1
        err = capsys.readouterr().err
        assert said in err, err
        assert all(p.read_bytes() == content for p, content in written.items())


def test_a_real_dataset_that_is_not_downloaded_is_an_error_not_the_synthetic_one(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    assert main(["run", MODEL, "--dataset", "summe", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "summe benchmark was asked for" in err and "course-data summe" in err
    assert not (tmp_path / "out").exists()
    folder = sm.summarization_dir()
    folder.mkdir(parents=True)
    write_benchmark(sm.feature_file("summe", folder), 25, annotated=False)  # as with --force
    write_splits(sm.splits_file("summe", folder), 25)
    assert main(["run", MODEL, "--dataset", "summe", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "has no shots ('change_points') in video_1" in err and "course-data summe" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_another_draw_of_the_synthetic_data_is_a_dataset_of_its_own(tmp_path, capsys):
    """synthetic@1 trains and evaluates on the synthetic data drawn from seed 1, in a folder of
    its own; a draw that is not a number is refused by name."""
    from course_lib.data.synthetic_videos import synthetic_benchmark

    (result,) = ex.run_jobs([ex.Job(MODEL, "synthetic@1", "smoke", 0, 0)], tmp_path,
                            progress=False)
    data, splits = synthetic_benchmark("smoke", seed=1)
    course_data, course_splits = synthetic_benchmark("smoke")
    assert result.folder == tmp_path / "synthetic@1" / "smoke" / MODEL / "split0-seed0"
    scores = result.test_scores(0)
    assert sorted(scores) == sorted(splits[0].test_keys)
    assert [len(scores[k]) for k in splits[0].test_keys] == [
        len(data[k].picks) for k in splits[0].test_keys]
    assert [len(data[k].picks) for k in data.keys()] != [
        len(course_data[k].picks) for k in course_data.keys()]
    assert result.f_scores[0] == pytest.approx(evaluate(data, scores, splits[0].test_keys).mean)
    assert main(["run", MODEL, "--dataset", "synthetic@x", "--out", str(tmp_path / "x")]) == 1
    assert "synthetic@N" in capsys.readouterr().err


def test_a_folder_written_before_a_configuration_field_existed_is_still_its_run(finished,
                                                                                tmp_path):
    """A field added later (here: the improvement options) has a default that keeps the old
    behaviour, so the finished run is loaded, not refused; overriding that field is another
    run."""
    out, result = finished
    folder = shutil.copytree(job().folder(out), job().folder(tmp_path))
    stored = json.loads((folder / "config.json").read_text())
    for field in ("dpp_weight", "spread_weight", "encoder_input"):
        del stored["config"][field]
    stored["config"] |= {"split": 2, "seeds": [0, 1, 2]}  # the notebooks' defaults, stored then
    (folder / "config.json").write_text(json.dumps(stored))
    same_results(ex.run_jobs([job()], tmp_path, progress=False)[0], result)
    with pytest.raises(ex.CourseError, match=r"another configuration: config\.dpp_weight"):
        ex.run_job(job(), tmp_path, overrides={"dpp_weight": 1.0}, progress=False)


def test_a_folder_of_another_configuration_is_refused_and_left_as_it_was(finished):
    out, _ = finished
    before = snapshot(out / "synthetic")
    with pytest.raises(ex.CourseError, match=r"another configuration: config\.sigma .*delete"):
        ex.run_job(job(), out, overrides={"sigma": 0.5}, progress=False)
    with pytest.raises(ex.CourseError, match="no field 'sigmaa'"):
        ex.run_job(job(), out, overrides={"sigmaa": 0.5}, progress=False)
    assert snapshot(out / "synthetic") == before


def test_the_report_says_when_its_runs_were_trained_by_several_versions(finished, tmp_path):
    out, result = finished
    assert result.code == ex.code_version() and result.code.startswith("0.")
    shutil.copytree(job().folder(out), job().folder(tmp_path))
    older = shutil.copytree(job().folder(out), job(seed=1).folder(tmp_path))
    stored = json.loads((older / "config.json").read_text())
    (older / "config.json").write_text(json.dumps(stored | {"seed": 1}))
    recorded = json.loads((older / "result.json").read_text())
    del recorded["code"]  # as a run trained before the course recorded its version
    (older / "result.json").write_text(json.dumps(recorded))
    (report, *_) = ex.report(tmp_path)
    text = report.read_text()
    assert (f"**Trained by 2 versions of the course's code:** {result.code}: 1 job; not "
            "recorded (older than the record): 1 job.") in text


def test_a_result_file_edited_by_hand_is_named_not_a_traceback(finished, tmp_path):
    out, _ = finished
    folder = shutil.copytree(job().folder(out), job().folder(tmp_path))
    result = json.loads((folder / "result.json").read_text())
    del result["selections"]
    (folder / "result.json").write_text(json.dumps(result))
    with pytest.raises(ex.CourseError, match=f"{re.escape(str(folder))} holds files "
                                             "course-experiments cannot read.*'selections'"):
        ex.load_job(folder)


def test_a_folder_made_from_other_data_names_the_fingerprints_in_full(finished, tmp_path):
    out, _ = finished
    folder = shutil.copytree(job().folder(out), job().folder(tmp_path))
    stored = json.loads((folder / "config.json").read_text())
    wanted = stored["data"]["fingerprint"]
    stored["data"]["fingerprint"] = "000000000000"
    (folder / "config.json").write_text(json.dumps(stored))
    with pytest.raises(ex.CourseError, match=re.escape(
            f"data.fingerprint ('000000000000' there, '{wanted}' asked for)")):
        ex.run_job(job(), tmp_path, progress=False)


def test_a_variant_runs_under_its_own_name(finished):
    out, _ = finished
    variant = ex.run_job(job(model="sl-sigma-0.5"), out, method=ex.MODELS[MODEL].method,
                         overrides={"sigma": 0.5, "videos_per_update": 2}, progress=False)
    assert variant.finished and json.loads((variant.folder / "config.json").read_text())[
        "overrides"] == {"sigma": 0.5}  # the smoke tier's fast trainer has 2 videos per update


def test_half_written_and_foreign_folders_are_refused(tmp_path):
    foreign = job().folder(tmp_path)
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ex.CourseError, match="holds files but no config.json"):
        ex.run_job(job(), tmp_path, progress=False)
    damaged = job(seed=1).folder(tmp_path)
    damaged.mkdir(parents=True)
    (damaged / "config.json").write_text('{"model": "sum-')
    with pytest.raises(ex.CourseError, match=r"config\.json cannot be read.*Delete the folder"):
        ex.run_job(job(seed=1), tmp_path, progress=False)
    assert (foreign / "notes.txt").read_text() == "mine"


def test_a_folder_another_process_is_claiming_at_this_moment_is_not_foreign(tmp_path):
    folder = job().folder(tmp_path)
    folder.mkdir(parents=True)
    (folder / ".config.json.123-0a1b2c3d.tmp").write_text('{"model": ')  # its config.json, half
    data, splits = ex.load_data("synthetic", "smoke")
    ex.claim_folder(folder, ex.job_config(job(), ex.MODELS[MODEL], data, splits[0]))
    assert json.loads((folder / "config.json").read_text())["model"] == MODEL


def test_a_damaged_checkpoint_names_the_job_and_the_fix(finished, tmp_path):
    import shutil

    folder = job().folder(tmp_path)
    shutil.copytree(job().folder(finished[0]), folder)
    (folder / "result.json").unlink()  # as if killed before the end
    next(folder.glob("checkpoint/*.pt")).write_bytes(b"half")
    with pytest.raises(ex.CheckpointError, match=f"{MODEL} on synthetic.*damaged"):
        ex.run_job(job(), tmp_path, progress=False)


def install_benchmark(name, records, splits):
    """A feature file and splits in the layout and place `course-data NAME` downloads them to
    (``$COURSE_DATA_DIR``); returns the feature file."""
    from course_lib.data.summarization import (
        EVAL_METHODS,
        SummarizationDataset,
        feature_file,
        save_splits,
        splits_file,
        write_h5,
    )

    write_h5(SummarizationDataset(name, records, EVAL_METHODS[name]), feature_file(name))
    save_splits(splits, splits_file(name))
    return feature_file(name)


def test_a_downloaded_benchmark_is_the_one_used(tmp_path, monkeypatch):
    """A small file in SumMe's layout and place: the job trains and evaluates on it."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    data, splits = ex.load_data("synthetic", "smoke")
    path = install_benchmark("summe", data.videos, splits[:2])
    result = ex.run_job(ex.Job(MODEL, "summe", "smoke", 1, 0), tmp_path / "out", progress=False)
    stored = json.loads((result.folder / "config.json").read_text())
    assert stored["data"]["name"] == "summe" and stored["data"]["source"] == str(path)
    assert sorted(os.listdir(result.folder / "results"))[0] == "SumMe_-1.json"
    with pytest.raises(ex.CourseError, match="Split 2 does not exist: summe has 2 splits"):
        ex.run_job(ex.Job(MODEL, "summe", "smoke", 2, 0), tmp_path / "out", progress=False)
    # Its data unreadable later (another dataset's splits in its place), a report would lose its
    # baselines and shrink the grid to the jobs found: nothing is written, the good one stays.
    (report,) = [p for p in ex.report(tmp_path / "out") if p.name == "comparison.md"]
    good = report.read_text()
    assert "Baselines on the same test videos" in good and "Missing: 1" in good
    assert "(a video's F: the max over annotators (SumMe's), this data's protocol)" in good
    assert "**Not the papers' configuration:** the smoke tier" in good
    install_benchmark("summe", data.videos, [splits[0]._replace(train_keys=("video_99",))] * 2)
    with pytest.raises(ex.CourseError, match="summe data its jobs were trained on cannot be "
                                             "read, so no report was written"):
        ex.report(tmp_path / "out")
    assert report.read_text() == good


def test_a_benchmark_file_given_by_its_path_is_sent_to_its_standard_splits(tmp_path):
    """Passed as "your own videos", SumMe's file would get random splits and F-scores that
    look like SumMe's: refused by its published name, and by its content under another name."""
    from course_lib.data.summarization import (
        EVAL_METHODS,
        EXPECTED_VIDEOS,
        SummarizationDataset,
        write_h5,
    )

    data, _ = ex.load_data("synthetic", "smoke")
    records = list(data.videos.values())
    records = [dataclasses.replace(records[i % len(records)], key=f"video_{i + 1}")
               for i in range(EXPECTED_VIDEOS["summe"])]
    videos = {r.key: r for r in records}
    for name in ("eccv16_dataset_summe_google_pool5.h5", "renamed.h5"):
        path = write_h5(SummarizationDataset("summe", videos, EVAL_METHODS["summe"]),
                        tmp_path / name)
        with pytest.raises(ex.CourseError, match="summe benchmark's feature file. Train on it "
                                                 "with `--dataset summe`"):
            ex.load_data(str(path), "smoke")
    del videos["video_25"]  # 24 videos: a file of one's own
    ex.load_data(str(write_h5(SummarizationDataset("mine", videos, EVAL_METHODS["summe"]),
                              tmp_path / "mine.h5")), "smoke")


def test_on_tvsum_the_rank_correlation_reported_is_that_of_the_final_scores_and_annotators(
        tmp_path, monkeypatch, capsys):
    """Synthetic videos as TVSum's feature file (no annotator scores in it, as the real one) and
    a made-up annotation table beside it: τ and ρ in result.json and in the report are those
    of the final epoch's test scores against each of the table's annotators at the picked
    frames, averaged over annotators, then over test videos."""
    from scipy.stats import kendalltau, spearmanr

    from course_lib.data.summarization import (
        TVSUM_ANNOTATION_FILE,
        TVSUM_ANNOTATORS,
        Split,
        summarization_dir,
    )

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    data, _ = ex.load_data("synthetic", "smoke")
    rng = np.random.default_rng(0)
    table, records = {}, {}
    for key, record in data.videos.items():
        name = f"tvsum-{key}"
        table[name] = rng.integers(1, 6, (TVSUM_ANNOTATORS, record.n_frames))
        records[key] = dataclasses.replace(record, video_name=name, user_scores=None)
    keys = data.keys()
    install_benchmark("tvsum", records, [Split(tuple(keys[:3]), tuple(keys[3:]))])
    assert ex.load_data("tvsum", "smoke")[0][keys[0]].user_scores is None  # no table yet
    (summarization_dir() / TVSUM_ANNOTATION_FILE).write_text("".join(
        f"{name}\tVT\t{','.join(map(str, row))}\n" for name, scores in table.items()
        for row in scores))
    result = ex.run_job(ex.Job(MODEL, "tvsum", "smoke", 0, 0), tmp_path / "out",
                        progress=False)
    final = result.test_scores(result.epochs[-1])
    assert sorted(final) == sorted(keys[3:])
    taus, rhos = [], []
    for key, scores in final.items():
        targets = table[records[key].video_name][:, records[key].picks]
        taus.append(np.mean([kendalltau(scores, t).statistic for t in targets]))
        rhos.append(np.mean([spearmanr(scores, t).statistic for t in targets]))
    expected = {"kendall_tau": np.mean(taus), "spearman_rho": np.mean(rhos)}
    assert result.rank_correlation == pytest.approx(expected, rel=1e-9)
    assert result.rank_correlation["kendall_tau"] != 0  # the scores rank the steps
    assert main(["report", "--out", str(tmp_path / "out")]) == 0
    row = next(r for r in csv.DictReader((tmp_path / "out" / "tvsum" / "smoke" /
                                          "comparison.csv").open()) if r["name"] == MODEL)
    assert {k: float(row[k]) for k in expected} == pytest.approx(expected, rel=1e-9)
    assert f"| {expected['kendall_tau']:.3f} | {expected['spearman_rho']:.3f} |" in (
        capsys.readouterr().out)


@pytest.mark.parametrize("args, message", [
    (["--seeds", "2-0"], "--seeds '2-0': the range 2-0 counts down, so it is empty; write it "
                         "upwards, 0-2."),
    (["--splits", "1-0"], "--splits '1-0': the range 1-0 counts down"),
    (["--out", "{file}"], "The results folder {file} (--out) is a file, not a folder"),
])
def test_an_empty_grid_or_an_out_that_is_a_file_is_an_error(tmp_path, capsys, args, message):
    """--seeds 2-0 ran nothing and exited 0; --out naming a file was a raw mkdir error."""
    file = tmp_path / "a-file"
    file.write_text("not a folder")
    command = {"--out": str(tmp_path / "results"), "--seeds": "0", "--splits": "0"}
    command.update({args[0]: args[1].format(file=file)})
    argv = ["run", MODEL, "--tier", "smoke"] + [x for kv in command.items() for x in kv]
    assert main(argv) == 1
    assert message.format(file=file) in capsys.readouterr().err
    if args[0] == "--out":
        assert main(["report", "--out", str(file)]) == 1
        assert message.format(file=file) in capsys.readouterr().err


def test_an_empty_grid_is_an_error_in_the_library_too(tmp_path):
    with pytest.raises(ex.CourseError, match=r"The grid is empty .*seeds \[\]\), so nothing "
                                             "would run"):
        ex.run_grid([MODEL], "synthetic", "smoke", [0], [], tmp_path, progress=False)


def test_a_full_disk_says_so_and_the_job_resumes_once_there_is_space(finished, tmp_path,
                                                                    monkeypatch, capsys):
    """No space left while epoch 1's progress is written: one message (not a traceback from
    inside the training loop) that says the disk is full and that nothing finished was lost;
    after that, the same command resumes and ends as an uninterrupted job."""
    real_write = Path.write_text

    def full(path, *args, **kwargs):
        if path.name.startswith(".progress.json") and "epoch\": 1" in args[0]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(path, *args, **kwargs)

    argv = ["run", MODEL, "--tier", "smoke", "--splits", "0", "--seeds", "0", "--out",
            str(tmp_path)]
    with monkeypatch.context() as patch:
        patch.setattr(Path, "write_text", full)
        assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"the disk holding {job().folder(tmp_path)} is full (No space left on device). " \
           "Nothing finished was lost" in err and "Traceback" not in err
    assert main(argv) == 0
    same_results(ex.load_job(job().folder(tmp_path)), finished[1])


@pytest.mark.parametrize("threads, jobs, most_at_once", [(2, 2, 1), (1, 2, 2), (2, 4, 2),
                                                         (3, 2, 1)])
def test_parallel_jobs_count_their_threads(tmp_path, monkeypatch, threads, jobs, most_at_once):
    """``--jobs N`` on a CPU: a job of T threads takes T of the N slots (all N where T > N), so
    two-thread jobs never share two cores; the slots come back when a job ends."""
    peak, workers = [], []

    class Worker:  # a worker that reports each job finished as soon as it is given
        def __init__(self, slot, gpus, reports):
            self.reports, self.process = reports, SimpleNamespace(poll=lambda: None)
            workers.append(slot)

        def give(self, job, out, log, variant):
            # each job in flight has one report not yet read: so many are running
            peak.append(self.reports.qsize() + 1)
            self.reports.put((self, "finished"))

        def ended(self):
            return 0

    monkeypatch.setattr(GRID, "_Worker", Worker)
    monkeypatch.setattr(GRID.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(GRID, "fit_threads", lambda config: threads)
    todo = [job(split=k) for k in range(5)]
    with GRID.tqdm(total=len(todo), disable=True) as bar:
        assert GRID.run_in_processes(todo, tmp_path, jobs, bar) == []
    assert len(peak) == len(todo) and max(peak) == most_at_once
    assert len(workers) == most_at_once  # one process per slot, for all the jobs it gets


def test_a_job_on_a_gpu_takes_one_slot_whatever_its_threads(monkeypatch):
    config = dataclasses.replace(ex.MODELS[MODEL].config("smoke"), cpu_threads=2)
    monkeypatch.setattr(GRID.torch.cuda, "is_available", lambda: True)
    assert GRID.slots_needed(config, 2) == 1
    monkeypatch.setattr(GRID.torch.cuda, "is_available", lambda: False)
    assert GRID.slots_needed(config, 2) == 2 and GRID.slots_needed(config, 1) == 1


def test_a_folder_written_before_a_field_existed_is_judged_by_what_it_meant_then(tmp_path):
    """Runs trained before ``cpu_threads`` existed trained on one thread: such a folder is the
    same run where one thread is asked for, and refused (nothing changed) where two are."""
    def config(tier, **fields):
        return {"model": MODEL, "tier": tier, "overrides": {},
                "config": {"tier": tier, "sigma": 0.1, **fields}}

    for tier, threads in (("laptop", 1), ("paper", 2)):
        folder = tmp_path / tier
        ex.claim_folder(folder, config(tier))  # written before the field existed
        before = snapshot(folder)
        if threads == 1:
            ex.claim_folder(folder, config(tier, cpu_threads=threads))
        else:
            with pytest.raises(ex.CourseError, match=r"cpu_threads \(1 there, 2 asked for\)"):
                ex.claim_folder(folder, config(tier, cpu_threads=threads))
        assert snapshot(folder) == before


def test_a_grid_that_trained_prints_one_closing_line(finished, tmp_path, capsys):
    """The jobs' bar shows 0 % in a saved notebook without the widgets' state: one printed line
    says what was trained and loaded; nothing is printed when nothing ran or without
    progress."""
    out, _ = finished
    folder = shutil.copytree(job().folder(out), job().folder(tmp_path))
    assert folder.exists()
    ex.run_jobs([job(), job(seed=1)], tmp_path)
    said = capsys.readouterr().out.strip().splitlines()[-1]
    assert said.startswith("jobs (synthetic, smoke): 1 trained in 0 min ")
    assert said.endswith("s (1 at a time), 1 loaded.")
    ex.run_jobs([job(), job(seed=1)], tmp_path)
    assert "trained in" not in capsys.readouterr().out
