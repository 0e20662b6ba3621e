"""Fits side by side: the first one here with its live figure, the others in worker processes
(notebook 01's two autoencoders). The SUM-GAN family's fits in processes are tested in
test_sum_gan.py."""

import dataclasses
import functools
import json
import os
import signal
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from course_lib import processes
from course_lib.config import autoencoder_config
from course_lib.data import moving_mnist
from course_lib.data.mnist import embedded_digits
from course_lib.models import lstm_autoencoder as ae
from course_lib.training import LOADED_FINISHED

ONE_THREAD = types.SimpleNamespace(cpu_threads=1)


def where_it_ran(model, config, folder, name, *, checkpoint=True, live=None, wait=False):
    """A fit that notes the process it trained in and its ``live`` argument; called again, it
    loads what it noted (as a fit loads its finished checkpoint). ``wait``: it trains until
    Ctrl-C, which it notes before stopping."""
    done = Path(folder) / f"{name}.json"
    if not done.exists():
        if wait:
            try:
                (Path(folder) / f"{name}.started").touch()
                time.sleep(120)
            except KeyboardInterrupt:
                (Path(folder) / f"{name}.stopped").touch()
                raise
        done.write_text(json.dumps({"pid": os.getpid(), "live": live}))
    return types.SimpleNamespace(seconds=0.0, **json.loads(done.read_text()))


def test_the_first_fit_trains_here_with_its_figure_while_the_others_train_in_workers(
        tmp_path, capsys):
    fits = [functools.partial(where_it_ran, None, ONE_THREAD, tmp_path, name)
            for name in ("first", "second", "third")]
    first, *others = processes.fit_in_processes(fits, processes=2, first_here=True)
    assert (first.pid, first.live) == (os.getpid(), None)  # None: live inside Jupyter
    assert [(run.pid != os.getpid(), run.live) for run in others] == [(True, False)] * 2
    assert "2 fits done in worker processes" in capsys.readouterr().out


def test_where_nothing_runs_beside_it_the_first_fit_keeps_its_figure(tmp_path):
    fits = [functools.partial(where_it_ran, None, ONE_THREAD, tmp_path, name)
            for name in ("first", "second")]
    runs = processes.fit_in_processes(fits, processes=1, first_here=True)
    assert [(run.pid, run.live) for run in runs] == [(os.getpid(), None), (os.getpid(), False)]


def stopped_here(model, config, folder, name, *, checkpoint=True, live=None, error=None):
    """The fit here: stops (``error``) once the worker beside it trains."""
    deadline = time.monotonic() + 60
    while not (Path(folder) / "worker.started").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    raise error


@pytest.mark.parametrize("ignored", [False, True], ids=["", "sigint-ignored-here"])
@pytest.mark.parametrize("error", [KeyboardInterrupt(), ValueError("a bad video")])
def test_when_the_fit_here_stops_the_workers_stop_too(tmp_path, error, ignored):
    """Ctrl-C (or an error) in the fit here stops the workers between two updates, each saving,
    instead of leaving them to train to the end while the cell waits; also where the caller
    ignores SIGINT (``nohup ... &``), which its workers would inherit (a test run started so
    once waited out each worker's two minutes here)."""
    fits = [functools.partial(stopped_here, None, ONE_THREAD, tmp_path, "here", error=error),
            functools.partial(where_it_ran, None, ONE_THREAD, tmp_path, "worker", wait=True)]
    started = time.monotonic()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN if ignored else
                             signal.default_int_handler)
    try:
        with pytest.raises(type(error)):
            processes.fit_in_processes(fits, processes=2, first_here=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert (tmp_path / "worker.started").exists()  # it did train beside the fit here
    assert (tmp_path / "worker.stopped").exists() and not (tmp_path / "worker.json").exists()
    assert time.monotonic() - started < 60


def test_notebook_01s_two_fits_side_by_side_are_the_fits_made_one_after_the_other(
        tmp_path, monkeypatch):
    """The same weights and histories, bit for bit: each trains on its configuration's one
    thread either way."""
    config = dataclasses.replace(autoencoder_config("smoke"), canvas=32, steps=5, eval_every=2)
    digits = embedded_digits()
    test = torch.from_numpy(moving_mnist.moving_mnist_test_set(
        digits, 4, n_frames=config.n_input + config.n_future, n_digits=config.n_digits,
        canvas=config.canvas).frames)

    def fits():
        torch.manual_seed(0)
        np.random.seed(0)
        models = [ae.build_autoencoder(config),
                  ae.build_autoencoder(config, conditional_future=True)]
        return models, [functools.partial(ae.fit_autoencoder, model, config, digits, test, name)
                        for model, name in zip(models, ("composite", "conditional"), strict=True)]

    results, after = {}, []
    for mode, kwargs in (("apart", dict(processes=1)), ("together", dict(processes=2)),
                         ("together again", dict(processes=2))):
        monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path / mode))
        models, made = fits()
        histories = processes.fit_in_processes(made, first_here=True, **kwargs)
        results[mode] = models, histories
        after.append((np.random.random(), torch.rand(1).item()))
    # the random state afterwards is this process's, not a worker's (NumPy's: the OS's entropy)
    assert after[1] == after[2]
    del results["together again"]
    assert len(list((tmp_path / "together").glob("*.pt"))) == 2
    (apart, apart_histories), (together, together_histories) = results.values()
    for i in range(2):
        assert apart_histories[i].evals == together_histories[i].evals
        for a, b in zip(apart[i].state_dict().values(), together[i].state_dict().values(),
                        strict=True):
            assert torch.equal(a, b)


def test_an_autoencoder_fit_trains_on_its_configurations_threads(monkeypatch):
    seen, saved = [], torch.get_num_threads()
    config = dataclasses.replace(autoencoder_config("smoke"), canvas=32, steps=2, cpu_threads=1)
    model = ae.build_autoencoder(config)
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda *a, **k: seen.append(
        torch.get_num_threads()) or forward(*a, **k))
    torch.set_num_threads(2)
    try:
        ae.fit_autoencoder(model, config, embedded_digits(), torch.zeros(2, 20, 32, 32),
                           "threads", checkpoint=False, live=False)
        assert seen and set(seen) == {1} and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(saved)



def test_a_run_finished_before_is_reported_as_loaded_not_as_trained(tmp_path, capsys):
    """Notebook 05 loads three of its five fits from notebook 04's checkpoints: the line says
    which trained now and which had finished before, not "5 fits done"."""
    loaded = functools.partial(says_loaded, None, ONE_THREAD, tmp_path, "old")
    trained = functools.partial(where_it_ran, None, ONE_THREAD, tmp_path, "new")
    processes.fit_in_processes([loaded, trained], processes=2)
    assert ("1 fit done in a worker process (0 s of training); 1 fit had finished before (an "
            "earlier run of this cell, or another notebook) and only loaded; all read back here "
            "from their checkpoints."
            in capsys.readouterr().out)
    processes.fit_in_processes([loaded, loaded], processes=2)
    assert ("2 fits had finished before (an earlier run of this cell, or another notebook) and "
            "only loaded from their checkpoints." in capsys.readouterr().out)


def says_loaded(*args, **kwargs):
    """:func:`where_it_ran` after saying what :func:`course_lib.training.train` says of a run it
    finds finished."""
    print(f"{LOADED_FINISHED} from somewhere (3 steps, trained in 5 s).")
    return where_it_ran(*args, **kwargs)


def test_an_unwritable_checkpoint_folder_trains_the_fits_here_and_says_why(tmp_path, monkeypatch,
                                                                        capsys):
    """A worker's model comes back only through its checkpoint: where none can be written, the
    worker's training was lost and the model trained again here, reported as "read back"."""
    (tmp_path / "afile").write_text("not a folder")
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path / "afile" / "checkpoints"))
    fits = [functools.partial(where_it_ran, None, ONE_THREAD, tmp_path, name)
            for name in ("first", "second")]
    runs = processes.fit_in_processes(fits, processes=2, first_here=True)
    assert [run.pid for run in runs] == [os.getpid()] * 2
    said = capsys.readouterr().out
    assert "cannot be written" in said and "training the fits here, one after the other" in said
    assert "read back here" not in said
