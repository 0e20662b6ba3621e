import dataclasses
import errno
import os
import random
import signal
import stat
import traceback

import numpy as np
import pytest
import torch

from course_lib import training
from course_lib.config import autoencoder_config, sum_gan_config, summarization_data_config
from course_lib.data import moving_mnist
from course_lib.data.mnist import embedded_digits
from course_lib.data.summarization import make_splits
from course_lib.data.synthetic_videos import make_synthetic_dataset
from course_lib.errors import CheckpointError
from course_lib.models import lstm_autoencoder as ae
from course_lib.models import sum_gan as sg


def _ctrl_c():
    """What Ctrl-C or Jupyter's "Interrupt kernel" does: SIGINT to this process."""
    os.kill(os.getpid(), signal.SIGINT)


def _setup():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    calls = []

    def step(batch):
        calls.append(batch)
        optimizer.zero_grad()
        loss = (model(torch.ones(1, 3)) - 1).pow(2).sum()
        loss.backward()
        optimizer.step()
        return {"loss": loss.item()}

    return model, optimizer, step, calls


def _same_history(a: training.History, b: training.History) -> bool:
    strip = lambda h: {k: v for k, v in dataclasses.asdict(h).items() if k != "seconds"}  # noqa: E731
    return strip(a) == strip(b)


def _assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], dict):
            _assert_same_tensors(a[key], b[key])
        elif isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key


def test_train_logs_evaluates_and_saves(tmp_path):
    model, optimizer, step, calls = _setup()
    path = tmp_path / "run.pt"
    history = training.train(step, iter(range(100)), 6, state={"model": model, "opt": optimizer},
                             evaluate=lambda: {"weight": model.weight.sum().item()},
                             eval_every=4, evaluate_first=True, checkpoint=path, live=False)
    assert calls == list(range(6))
    assert history.train_steps == list(range(1, 7)) and history.eval_steps == [0, 4, 6]
    assert history.finished and history.completed_steps == 6
    assert path.exists() and not list(tmp_path.glob(".*tmp"))
    assert history.train["loss"][-1] < history.train["loss"][0]


def test_batches_callable_gets_the_step_to_start_from(tmp_path):
    model, optimizer, step, calls = _setup()
    starts = []

    def batches(start):
        starts.append(start)
        return iter(range(start, 100))

    training.train(step, batches, 5, state={"model": model}, checkpoint=tmp_path / "run.pt",
                   checkpoint_every=2, live=False)
    assert starts == [0] and calls == [0, 1, 2, 3, 4]


def test_finished_checkpoint_is_loaded_instead_of_training(tmp_path):
    model, optimizer, step, _ = _setup()
    path = tmp_path / "run.pt"
    training.train(step, iter(range(100)), 5, state={"model": model}, checkpoint=path, live=False)
    trained = model.weight.detach().clone()
    after_training = torch.rand(3)

    fresh, _, fresh_step, calls = _setup()
    history = training.train(fresh_step, iter(range(100)), 5, state={"model": fresh},
                             checkpoint=path, live=False)
    assert calls == [] and history.finished and history.completed_steps == 5
    assert torch.equal(fresh.weight, trained)
    # the random numbers drawn next are the same whether the run was trained or loaded
    assert torch.equal(torch.rand(3), after_training)


def test_interrupt_keeps_the_completed_step_and_resumes(tmp_path):
    model, optimizer, step, calls = _setup()
    path = tmp_path / "run.pt"

    def interrupted_step(batch):
        if batch == 2:  # Ctrl-C arrives in the middle of step 3: it must finish first
            _ctrl_c()
        return step(batch)

    state = {"model": model, "opt": optimizer}
    with pytest.raises(training.TrainingInterrupted, match="after step 3 of 8") as stopped:
        training.train(interrupted_step, lambda start: iter(range(start, 100)), 8, state=state,
                       checkpoint=path, live=False)
    history = stopped.value.history
    assert calls == [0, 1, 2]
    assert history.completed_steps == 3 and not history.finished
    assert not training.load_checkpoint(path, {"model": torch.nn.Linear(3, 1)}).finished

    resumed, resumed_opt, resumed_step, resumed_calls = _setup()
    history = training.train(resumed_step, lambda start: iter(range(start, 100)), 8,
                             state={"model": resumed, "opt": resumed_opt}, checkpoint=path,
                             live=False)
    assert resumed_calls == [3, 4, 5, 6, 7]
    assert history.finished and history.train_steps == list(range(1, 9))


def test_interrupted_run_shows_one_line_in_jupyter():
    error = training.TrainingInterrupted("run: stopped after step 3 of 8, not saved.",
                                         training.History())
    assert isinstance(error, KeyboardInterrupt)
    assert error._render_traceback_() == [
        "TrainingInterrupted: run: stopped after step 3 of 8, not saved."]


# ---------------------------------------------------------------- exact resume

def _random_run(path, interrupt_at=None, how="ctrl-c", reseed=0):
    """A run whose steps draw from every random source a step may use: torch's, numpy's and
    Python's global generators, a registered torch.Generator and a seeded batch stream.
    ``reseed`` seeds those sources before the call (a resumed run must not depend on it)."""
    torch.manual_seed(reseed)
    np.random.seed(reseed)
    random.seed(reseed)
    generator = torch.Generator().manual_seed(100 + reseed)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)

    def batches(start):
        for index in range(start, 10**6):
            yield index + 1, torch.from_numpy(np.random.default_rng([5, index]).normal(size=(4, 3)))

    def step(numbered_batch):
        number, batch = numbered_batch
        if how == "raise" and number == interrupt_at:
            raise KeyboardInterrupt  # before the step consumed anything
        noise = torch.randn(4, 3, generator=generator) + 0.1 * torch.randn(4, 3)
        scale = float(np.random.rand()) + random.random()
        loss = model((batch.float() + noise) * scale).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        if how == "ctrl-c" and number == interrupt_at:
            _ctrl_c()  # in the middle of the step
        if how == "crash" and number == interrupt_at:
            raise RuntimeError("the kernel died")  # no save: resume from the periodic one
        optimizer.step()
        return {"loss": loss.item()}

    def evaluate():
        draw = torch.rand(1).item()
        if how == "eval" and step_counter(optimizer) == interrupt_at:
            raise KeyboardInterrupt  # in the middle of the evaluation after that step
        return {"w": model.weight.sum().item(), "draw": draw}

    state = {"model": model, "optimizer": optimizer, "noise": training.GeneratorState(generator)}
    history = training.train(step, batches, 9, state=state, evaluate=evaluate,
                             eval_every=4, evaluate_first=True, checkpoint=path,
                             checkpoint_every=3, live=False)
    return model, optimizer, generator, history


def step_counter(optimizer) -> int:
    """How many steps ``optimizer`` (an Adam) has made."""
    states = list(optimizer.state.values())
    return int(states[0]["step"]) if states else 0


@pytest.mark.parametrize("how, at", [("ctrl-c", 1), ("ctrl-c", 3), ("ctrl-c", 4), ("ctrl-c", 5),
                                     ("ctrl-c", 9), ("raise", 1), ("raise", 6), ("crash", 5),
                                     ("eval", 0), ("eval", 4), ("eval", 8), ("eval", 9)])
def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(tmp_path, how, at):
    """Ctrl-C in a step, a KeyboardInterrupt raised before or in a step or in an evaluation
    (before the first step, at an evaluation boundary, at the end), a crash: the resumed run
    redoes what was missing, evaluations included, and ends as an uninterrupted one."""
    model, optimizer, generator, history = _random_run(None)
    after = torch.rand(2), np.random.rand(), random.random()

    path = tmp_path / "run.pt"
    error = RuntimeError if how == "crash" else training.TrainingInterrupted
    with pytest.raises(error):
        _random_run(path, interrupt_at=at, how=how)
    stored = training.load_checkpoint(path, {}, restore_random=False)
    assert not stored.finished
    assert stored.completed_steps == {"ctrl-c": at, "raise": at - 1, "crash": 3, "eval": at}[how]
    resumed, resumed_optimizer, resumed_generator, resumed_history = _random_run(path, reseed=1)

    assert _same_history(resumed_history, history) and resumed_history.finished
    _assert_same_tensors(resumed.state_dict(), model.state_dict())
    _assert_same_tensors(resumed_optimizer.state_dict(), optimizer.state_dict())
    assert torch.equal(resumed_generator.get_state(), generator.get_state())
    resumed_after = torch.rand(2), np.random.rand(), random.random()
    assert torch.equal(resumed_after[0], after[0]) and resumed_after[1:] == after[1:]


def test_random_states_round_trip():
    states = training.random_states()
    draws = torch.rand(3), np.random.rand(3), random.random(), np.random.normal()
    training.set_random_states(states)
    again = torch.rand(3), np.random.rand(3), random.random(), np.random.normal()
    assert torch.equal(draws[0], again[0]) and np.array_equal(draws[1], again[1])
    assert draws[2:] == again[2:]


# ---------------------------------------------------------------- interrupts during saves

def _stopped(run) -> training.TrainingInterrupted:
    """The TrainingInterrupted that ``run()`` raises; a plain KeyboardInterrupt (an interrupt
    that escaped) fails the test instead of stopping pytest."""
    try:
        run()
    except training.TrainingInterrupted as stopped:
        return stopped
    except KeyboardInterrupt:
        pytest.fail("a Ctrl-C escaped as a plain KeyboardInterrupt")
    pytest.fail("training was not interrupted")


def test_second_interrupt_during_the_save_waits_for_the_save(tmp_path, monkeypatch):
    model, optimizer, step, calls = _setup()
    path = tmp_path / "run.pt"
    real_save = torch.save

    def interrupted_save(obj, handle):
        _ctrl_c()  # Ctrl-C again, while the checkpoint is being written
        real_save(obj, handle)

    def step_with_ctrl_c(batch):
        if batch == 2:
            _ctrl_c()
        return step(batch)

    monkeypatch.setattr(torch, "save", interrupted_save)
    stopped = _stopped(lambda: training.train(step_with_ctrl_c, iter(range(100)), 8,
                                              state={"model": model}, checkpoint=path,
                                              live=False))
    assert "after step 3 of 8" in str(stopped)
    assert calls == [0, 1, 2] and not list(tmp_path.glob(".*tmp"))
    loaded = torch.nn.Linear(3, 1)
    assert training.load_checkpoint(path, {"model": loaded}).completed_steps == 3
    assert torch.equal(loaded.weight, model.weight)


def test_interrupt_during_a_periodic_save_takes_effect_after_it(tmp_path, monkeypatch):
    model, optimizer, step, calls = _setup()
    path = tmp_path / "run.pt"
    real_save = torch.save

    def interrupted_save(obj, handle):
        if obj["history"]["completed_steps"] == 2:
            _ctrl_c()
        real_save(obj, handle)

    monkeypatch.setattr(torch, "save", interrupted_save)
    stopped = _stopped(lambda: training.train(step, iter(range(100)), 8, state={"model": model},
                                              checkpoint=path, checkpoint_every=2, live=False))
    assert "after step 2 of 8" in str(stopped)
    assert calls == [0, 1]
    assert training.load_checkpoint(path, {"model": torch.nn.Linear(3, 1)}).completed_steps == 2


def test_an_evaluations_arrays_are_kept_whole_and_old_checkpoints_load_without(tmp_path):
    history = training.History()
    history.log("eval", 0, {"f_score": 40.0, "scores video_1": np.array([0.25, 0.5], np.float32)})
    history.log("eval", 4, {"f_score": 41.0, "scores video_1": np.array([0.75, 1.0], np.float32)})
    assert history.evals == {"f_score": [40.0, 41.0]}
    assert history.eval_arrays == {"scores video_1": [[0.25, 0.5], [0.75, 1.0]]}
    path = tmp_path / "run.pt"
    training.save_checkpoint(path, {"model": torch.nn.Linear(3, 1)}, history)
    assert training.load_checkpoint(path, {"model": torch.nn.Linear(3, 1)}) == history
    payload = torch.load(path, weights_only=True)
    del payload["history"]["eval_arrays"]  # as the course wrote them before keeping arrays
    torch.save(payload, path)
    old = training.load_checkpoint(path, {"model": torch.nn.Linear(3, 1)})
    assert old.eval_arrays == {} and old.evals == history.evals


# ---------------------------------------------------------------- writing checkpoints

def test_failed_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    model, optimizer, step, _ = _setup()
    path = tmp_path / "run.pt"
    training.save_checkpoint(path, {"model": model}, training.History(completed_steps=1))
    before = path.read_bytes()

    def broken_save(obj, handle):
        handle.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        training.save_checkpoint(path, {"model": model}, training.History(completed_steps=2))
    assert path.read_bytes() == before
    assert sorted(tmp_path.iterdir()) == [path, training.progress_path(path)]
    assert training.read_progress(path)["completed_steps"] == 1


def test_next_save_removes_the_temporary_files_of_a_killed_save(tmp_path):
    path = tmp_path / "run.pt"
    stale = tmp_path / ".run.pt.4242-0badf00d.tmp"  # what a save killed by SIGKILL leaves
    stale.write_bytes(b"\0" * 4096)
    other = tmp_path / ".other.pt.4242-0badf00d.tmp"  # another checkpoint's: not ours to remove
    other.write_bytes(b"\0")
    training.save_checkpoint(path, {"model": torch.nn.Linear(3, 1)}, training.History())
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name, path.name,
                                                          training.progress_path(path).name]


def test_progress_is_read_from_the_side_file_without_loading_the_checkpoint(tmp_path,
                                                                           monkeypatch):
    path = tmp_path / "run.pt"
    assert training.read_progress(path) is None
    history = training.History(completed_steps=6, eval_steps=[0, 3, 6], finished=True)
    training.save_checkpoint(path, {"model": torch.nn.Linear(3, 1)}, history)
    expected = {"completed_steps": 6, "evaluations": 3, "finished": True}
    with monkeypatch.context() as patch:
        patch.setattr(torch, "load", lambda *a, **k: pytest.fail("loaded the checkpoint"))
        assert training.read_progress(path).items() >= expected.items()
    # a side file that describes another version of the checkpoint (or none) is not trusted
    side = training.progress_path(path)
    side.write_text(side.read_text().replace('"evaluations": 3', '"evaluations": 9')
                    .replace('"checkpoint_bytes": ', '"checkpoint_bytes": 1'))
    assert training.read_progress(path) == expected
    side.unlink()
    assert training.read_progress(path) == expected


@pytest.mark.parametrize("seconds, saves", [(0.0, [2, 4, 6, 7]), (3600.0, [7])])
def test_periodic_checkpoints_wait_for_checkpoint_seconds(tmp_path, monkeypatch, seconds,
                                                          saves):
    model, optimizer, step, calls = _setup()
    saved, real_save = [], training.save_checkpoint

    def counting_save(path, state, history):
        saved.append(history.completed_steps)
        real_save(path, state, history)

    monkeypatch.setattr(training, "save_checkpoint", counting_save)
    history = training.train(step, iter(range(100)), 7, state={"model": model},
                             checkpoint=tmp_path / "run.pt", checkpoint_every=2,
                             checkpoint_seconds=seconds, live=False)
    assert saved == saves and history.finished  # the end is always saved


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_checkpoint_gets_the_users_file_mode(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        training.save_checkpoint(tmp_path / "run.pt", {"m": torch.nn.Linear(3, 1)},
                                 training.History())
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "run.pt").stat().st_mode) == mode


def _read_only_folder(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(training.os, "open", refuse)
    return tmp_path / "run.pt"


def _folder_under_a_file(tmp_path, monkeypatch):
    (tmp_path / "a file").write_text("")
    return tmp_path / "a file" / "run.pt"


@pytest.mark.parametrize("where", [_read_only_folder, _folder_under_a_file])
def test_unwritable_checkpoint_folder_warns_once_and_keeps_the_model(tmp_path, monkeypatch,
                                                                     where):
    path = where(tmp_path, monkeypatch)
    model, optimizer, step, calls = _setup()
    with pytest.warns(RuntimeWarning, match="Could not write the checkpoint") as warned:
        history = training.train(step, iter(range(100)), 6, state={"model": model},
                                 evaluate=lambda: {"w": model.weight.sum().item()},
                                 eval_every=2, checkpoint=path, checkpoint_every=2, live=False)
    assert len(warned) == 1 and str(path) in str(warned[0].message)
    assert calls == list(range(6)) and history.finished and history.eval_steps == [2, 4, 6]
    reference, _, reference_step, _ = _setup()
    training.train(reference_step, iter(range(100)), 6, state={"model": reference}, live=False)
    assert torch.equal(model.weight, reference.weight)  # the trained model, in memory


def test_unwritable_folder_on_interrupt_says_nothing_was_saved(tmp_path, monkeypatch):
    path = _read_only_folder(tmp_path, monkeypatch)
    model, optimizer, step, calls = _setup()

    def step_with_ctrl_c(batch):
        if batch == 1:
            _ctrl_c()
        return step(batch)

    with pytest.warns(RuntimeWarning), pytest.raises(training.TrainingInterrupted,
                                                     match="after step 2 of 6, not saved"):
        training.train(step_with_ctrl_c, iter(range(100)), 6, state={"model": model},
                       checkpoint=path, live=False)


# ---------------------------------------------------------------- damaged or foreign checkpoints

def _good_state():
    return {"model": torch.nn.Linear(3, 1)}


def _write(kind, path):
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(3000))
    elif kind == "truncated":
        training.save_checkpoint(path, _good_state(), training.History())
        path.write_bytes(path.read_bytes()[:700])
    elif kind == "git-lfs pointer":
        path.write_text("version https://git-lfs.github.com/spec/v1\n"
                        f"oid sha256:{'4d7a2146' * 8}\nsize 123456\n")
    elif kind == "no history":
        torch.save({"state": {k: v.state_dict() for k, v in _good_state().items()}}, path)
    elif kind == "other objects":
        torch.save({"state": {}, "history": {}, "extra": np.zeros(3)}, path)
    elif kind == "other configuration":
        training.save_checkpoint(path, {"model": torch.nn.Linear(4, 1)}, training.History())
    elif kind == "other parts":
        training.save_checkpoint(path, {"encoder": torch.nn.Linear(3, 1)}, training.History())


DAMAGED = {"empty": "is empty", "garbage": "is not a PyTorch archive",
           "truncated": "damaged or truncated", "git-lfs pointer": "git-LFS pointer"}
FOREIGN = {"no history": "lacks the model state or the training history",
           "other objects": "objects other than tensors",
           "other configuration": "does not fit this run's 'model'",
           "other parts": "does not hold 'model'"}


@pytest.mark.parametrize("kind", [*DAMAGED, *FOREIGN])
def test_unusable_checkpoint_gives_one_clear_error(tmp_path, kind):
    path = tmp_path / "run.pt"
    _write(kind, path)
    before = path.read_bytes()
    model, optimizer, step, calls = _setup()
    with pytest.raises(CheckpointError) as raised:
        training.train(step, iter(range(100)), 3, state={"model": model}, checkpoint=path,
                       live=False)
    message = str(raised.value)
    assert str(path) in message and {**DAMAGED, **FOREIGN}[kind] in message
    shown = "".join(traceback.format_exception(raised.value))  # with any chained errors
    assert "weights_only" not in shown and calls == []
    if kind in DAMAGED:
        assert "git lfs pull" in message if kind == "git-lfs pointer" else "delete it" in message
    else:  # a good file of another run is never to be deleted: moved away instead
        assert "delete" not in message.lower() and "Move it out" in message
    assert path.read_bytes() == before


def test_checkpoint_name_changes_with_the_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv(training.CHECKPOINT_ENV_VAR, str(tmp_path))
    a = training.checkpoint_path("run", {"tier": "smoke", "hidden": 8})
    b = training.checkpoint_path("run", {"tier": "smoke", "hidden": 16})
    assert a != b and a.parent == tmp_path and a.name.startswith("run-smoke-")
    assert a == training.checkpoint_path("run", {"hidden": 8, "tier": "smoke"})


# ---------------------------------------------------------------- notebook 01's training

def test_moving_mnist_stream_can_start_at_any_batch():
    digits = embedded_digits()
    stream = moving_mnist.moving_mnist_batches(digits, 2, seed=4, n_frames=3, canvas=32)
    batches = [next(stream) for _ in range(4)]
    later = moving_mnist.moving_mnist_batches(digits, 2, seed=4, start=2, n_frames=3, canvas=32)
    assert torch.equal(next(later), batches[2]) and torch.equal(next(later), batches[3])


@pytest.mark.parametrize("workers", [0, 1, 2])
@pytest.mark.parametrize("start", [0, 3])
def test_the_prefetching_loader_gives_the_streams_batches_bit_for_bit(workers, start):
    """What a GPU run trains on (batches made ahead by worker processes) is what the CPU's
    stream gives, from any step a resumed run starts at."""
    digits = embedded_digits()
    kwargs = dict(n_frames=3, canvas=32)
    stream = moving_mnist.moving_mnist_batches(digits, 2, seed=4, start=start, **kwargs)
    expected = [next(stream) for _ in range(6 - start)]
    loaded = list(moving_mnist.moving_mnist_loader(digits, 2, seed=4, start=start, stop=6,
                                                   workers=workers, **kwargs))
    assert len(loaded) == len(expected)
    for got, want in zip(loaded, expected, strict=True):
        assert torch.equal(got, want)


def _autoencoder_run(monkeypatch, interrupt_at=None, init_seed=0, checkpoint=True):
    config = dataclasses.replace(autoencoder_config("smoke"), canvas=32, steps=7, eval_every=3)
    digits = embedded_digits()
    test = torch.from_numpy(moving_mnist.moving_mnist_test_set(digits, 4, canvas=32).frames)
    torch.manual_seed(init_seed)
    model = ae.build_autoencoder(config)
    real = moving_mnist.moving_mnist_batches

    def interrupted(*args, start=0, **kwargs):
        for index, batch in enumerate(real(*args, start=start, **kwargs), start):
            if index + 1 == interrupt_at:
                _ctrl_c()  # while step `interrupt_at` runs
            yield batch

    with monkeypatch.context() as patch:
        patch.setattr(moving_mnist, "moving_mnist_batches", interrupted)
        history = ae.fit_autoencoder(model, config, digits, test, "resume", seed=3,
                                     checkpoint=checkpoint)
    return model, history


@pytest.mark.parametrize("interrupt_at", [2, 3, 5])
def test_notebook_01_training_resumes_exactly(tmp_path, monkeypatch, interrupt_at):
    monkeypatch.setenv(training.CHECKPOINT_ENV_VAR, str(tmp_path))
    model, history = _autoencoder_run(monkeypatch, checkpoint=False)
    with pytest.raises(training.TrainingInterrupted, match=f"after step {interrupt_at} of 7"):
        _autoencoder_run(monkeypatch, interrupt_at)
    resumed, resumed_history = _autoencoder_run(monkeypatch, init_seed=1)  # re-run the cell
    assert _same_history(resumed_history, history) and resumed_history.finished
    _assert_same_tensors(resumed.state_dict(), model.state_dict())


@pytest.mark.parametrize("evaluation", [1, 2])
def test_notebook_01_training_redoes_an_interrupted_evaluation(tmp_path, monkeypatch,
                                                               evaluation):
    """A KeyboardInterrupt raised in the evaluation after step 3 (or 6): the resumed run
    evaluates that step, so the test curve has no gap."""
    monkeypatch.setenv(training.CHECKPOINT_ENV_VAR, str(tmp_path))
    model, history = _autoencoder_run(monkeypatch, checkpoint=False)
    real, calls = ae.evaluate_autoencoder, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == evaluation:
            _raise_interrupt()
        return real(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(ae, "evaluate_autoencoder", interrupted)
        with pytest.raises(training.TrainingInterrupted, match=f"after step {3 * evaluation}"):
            _autoencoder_run(monkeypatch)
    resumed, resumed_history = _autoencoder_run(monkeypatch, init_seed=1)
    assert resumed_history.eval_steps == history.eval_steps == [3, 6, 7]
    assert _same_history(resumed_history, history) and resumed_history.finished
    _assert_same_tensors(resumed.state_dict(), model.state_dict())


def _raise_interrupt():
    """A KeyboardInterrupt raised as an exception (not through the signal handler)."""
    raise KeyboardInterrupt


# ---------------------------------------------------------------- notebook 03's training

@pytest.fixture(scope="module")
def sum_gan_setup():
    data = make_synthetic_dataset(summarization_data_config("smoke"))
    split = make_splits(data.keys(), rng=np.random.default_rng(0))[0]
    cfg = dataclasses.replace(sum_gan_config("smoke", verbose=False), epochs=2)
    reference = sg.fit_sum_gan(sg.build_sum_gan(cfg, 7), cfg, data, split, seed=7,
                               checkpoint=False, live=False)
    return data, split, cfg, reference


@pytest.mark.parametrize("where, at, interrupt", [
    ("pretrain_step", 2, _ctrl_c), ("evaluate_model", 1, _ctrl_c), ("train_step", 3, _ctrl_c),
    ("evaluate_model", 2, _ctrl_c), ("train_step", 8, _ctrl_c),
    ("evaluate_model", 1, _raise_interrupt), ("evaluate_model", 2, _raise_interrupt),
    ("evaluate_model", 3, _raise_interrupt)])
def test_notebook_03_training_resumes_exactly(sum_gan_setup, tmp_path, monkeypatch, where, at,
                                              interrupt):
    """Ctrl-C in pre-training, in the untrained evaluation, mid-epoch, in an epoch's
    evaluation and at the last video, or a KeyboardInterrupt raised in an evaluation: the run
    stops, nothing is marked finished, and running the cell again ends exactly where an
    uninterrupted run does, every evaluation included."""
    monkeypatch.setenv(training.CHECKPOINT_ENV_VAR, str(tmp_path))
    data, split, cfg, reference = sum_gan_setup
    calls = dict.fromkeys(["pretrain_step", "train_step", "evaluate_model"], 0)

    def count(patch, name, interrupt=None):
        real = getattr(sg, name)

        def counted(*args, **kwargs):
            calls[name] += 1
            if interrupt and calls[name] == at:
                interrupt()
            return real(*args, **kwargs)

        patch.setattr(sg, name, counted)

    with monkeypatch.context() as patch:
        for name in calls:
            count(patch, name, interrupt=interrupt if name == where else None)
        with pytest.raises(training.TrainingInterrupted):
            sg.fit_sum_gan(sg.build_sum_gan(cfg, 7), cfg, data, split, seed=7, live=False)
    if where == "pretrain_step":
        assert calls["train_step"] == calls["evaluate_model"] == 0  # training never started
    for path in tmp_path.glob("*.pt"):  # only a completed pre-training is marked finished
        finished = training.load_checkpoint(path, {}, restore_random=False).finished
        assert finished == ("-pretrain-" in path.name and where != "pretrain_step")

    calls.update(dict.fromkeys(calls, 0))
    with monkeypatch.context() as patch:
        for name in calls:
            count(patch, name)
        run = sg.fit_sum_gan(sg.build_sum_gan(cfg, 8), cfg, data, split, seed=7, live=False)
    n = len(split.train_keys)
    # pre-training resumed from its last completed video (or was done and is not repeated)
    assert calls["pretrain_step"] == (cfg.pretrain_epochs * n - at if where == "pretrain_step"
                                      else 0)
    assert _same_history(run.history, reference.history) and run.history.finished
    assert run.history.eval_steps == [n * e for e in range(cfg.epochs + 1)]
    _assert_same_tensors(run.model.state_dict(), reference.model.state_dict())
    if run.pretrain is not None:
        assert _same_history(run.pretrain, reference.pretrain)


def _deny(monkeypatch, folder, method="stat"):
    """What a folder without permission does to a non-root user (the tests run as root, whom
    permissions do not stop): ``Path.<method>`` of anything inside raises PermissionError."""
    real = getattr(type(folder), method)

    def denied(self, *args, **kwargs):
        if str(self).startswith(f"{folder}{os.sep}"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(folder), method, denied)


def test_a_checkpoint_folder_that_cannot_be_entered_is_named_with_the_fix(tmp_path, monkeypatch,
                                                                         sum_gan_setup):
    """Path.exists raises PermissionError there: it was a raw traceback, in train() and in
    SUM-GAN's fit (which looks for the checkpoint before pre-training)."""
    model, optimizer, step, _ = _setup()
    folder = tmp_path / "locked"
    _deny(monkeypatch, folder)
    message = (rf"The checkpoint folder {folder} cannot be entered \(Permission denied\).*chmod "
               rf"u\+rwx {folder}\) or set {training.CHECKPOINT_ENV_VAR}")
    with pytest.raises(CheckpointError, match=message):
        training.train(step, iter(range(100)), 3, state={"model": model}, live=False,
                       checkpoint=folder / "run.pt")
    data, split, cfg, _ = sum_gan_setup
    monkeypatch.setenv(training.CHECKPOINT_ENV_VAR, str(folder))
    with pytest.raises(CheckpointError, match=message):
        sg.fit_sum_gan(sg.build_sum_gan(cfg, 7), cfg, data, split, seed=7, live=False)


def test_an_unreadable_checkpoint_is_named_with_the_fix(tmp_path, monkeypatch):
    model, optimizer, step, _ = _setup()
    path = tmp_path / "run.pt"
    training.train(step, iter(range(100)), 2, state={"model": model}, checkpoint=path,
                   live=False)
    _deny(monkeypatch, tmp_path, "open")
    with pytest.raises(CheckpointError, match=rf"{path} cannot be read \(Permission denied\)\. "
                                              rf"Give yourself read access \(chmod u\+r {path}\)"):
        training.train(step, iter(range(100)), 2, state={"model": model}, checkpoint=path,
                       live=False)


def test_course_live_0_turns_the_live_figures_off_for_batch_runs(monkeypatch):
    from course_lib import training

    monkeypatch.setattr(training, "in_notebook", lambda: True)
    monkeypatch.delenv(training.LIVE_ENV_VAR, raising=False)
    assert training.live_by_default()
    monkeypatch.setenv(training.LIVE_ENV_VAR, "0")
    assert not training.live_by_default()
    monkeypatch.setattr(training, "LivePlot", lambda *a, **k: pytest.fail("drew a live figure"))
    history = training.train(lambda batch: {"loss": 1.0}, range(3), 3, state={})
    assert history.completed_steps == 3


def test_a_finished_run_prints_what_its_progress_bar_showed(tmp_path, capsys):
    """A saved notebook shows a progress bar at 0 % in viewers without the widgets' state: the
    printed line after training says how the run ended, and a resumed run says where it
    resumed."""
    model, optimizer, step, _ = _setup()
    path = tmp_path / "run.pt"

    def interrupted_step(batch):
        if batch == 1:
            _ctrl_c()
        return step(batch)

    state = {"model": model, "opt": optimizer}
    with pytest.raises(training.TrainingInterrupted):
        training.train(interrupted_step, lambda start: iter(range(start, 100)), 5, state=state,
                       title="toy run", checkpoint=path, live=False)
    assert "finished" not in capsys.readouterr().out
    history = training.train(step, lambda start: iter(range(start, 100)), 5, state=state,
                             title="toy run", checkpoint=path, live=False)
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("toy run: finished 5 steps in ")
    assert "resumed after step 2" in line
    assert line.endswith(f"last step: loss {history.train['loss'][-1]:.4g}.")
