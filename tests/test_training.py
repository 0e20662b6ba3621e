import os
import signal

import pytest
import torch

from course_lib import training
from course_lib.errors import CheckpointError


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


def test_train_logs_evaluates_and_saves(tmp_path):
    model, optimizer, step, calls = _setup()
    path = tmp_path / "run.pt"
    history = training.train(step, iter(range(100)), 6, state={"model": model, "opt": optimizer},
                             evaluate=lambda: {"weight": model.weight.sum().item()},
                             eval_every=4, checkpoint=path, live=False)
    assert calls == list(range(6))
    assert history.train_steps == list(range(1, 7)) and history.eval_steps == [4, 6]
    assert history.finished and history.completed_steps == 6
    assert path.exists() and not list(tmp_path.glob(".*tmp"))
    assert history.train["loss"][-1] < history.train["loss"][0]


def test_finished_checkpoint_is_loaded_instead_of_training(tmp_path):
    model, optimizer, step, _ = _setup()
    path = tmp_path / "run.pt"
    training.train(step, iter(range(100)), 5, state={"model": model}, checkpoint=path, live=False)
    trained = model.weight.detach().clone()

    fresh, _, fresh_step, calls = _setup()
    history = training.train(fresh_step, iter(range(100)), 5, state={"model": fresh},
                             checkpoint=path, live=False)
    assert calls == [] and history.finished and history.completed_steps == 5
    torch.testing.assert_close(fresh.weight, trained)


def test_interrupt_keeps_the_completed_step_and_resumes(tmp_path):
    model, optimizer, step, calls = _setup()
    path = tmp_path / "run.pt"

    def interrupted_step(batch):
        if batch == 2:  # Ctrl-C arrives in the middle of step 3: it must finish first
            os.kill(os.getpid(), signal.SIGINT)
        return step(batch)

    state = {"model": model, "opt": optimizer}
    with pytest.raises(training.TrainingInterrupted, match="after step 3 of 8") as stopped:
        training.train(interrupted_step, iter(range(100)), 8, state=state, checkpoint=path,
                       live=False)
    history = stopped.value.history
    assert calls == [0, 1, 2]
    assert history.completed_steps == 3 and not history.finished
    after_three = model.weight.detach().clone()

    resumed, resumed_opt, resumed_step, resumed_calls = _setup()
    history = training.train(resumed_step, iter(range(3, 100)), 8,
                             state={"model": resumed, "opt": resumed_opt}, checkpoint=path,
                             live=False)
    assert resumed_calls == [3, 4, 5, 6, 7]
    assert history.finished and history.train_steps == list(range(1, 9))
    assert not torch.equal(resumed.weight, after_three)


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
    assert list(tmp_path.iterdir()) == [path]


def test_checkpoint_of_another_model_gives_a_clear_error(tmp_path):
    path = tmp_path / "run.pt"
    training.save_checkpoint(path, {"model": torch.nn.Linear(3, 1)}, training.History())
    with pytest.raises(CheckpointError, match="another configuration"):
        training.load_checkpoint(path, {"model": torch.nn.Linear(4, 1)})


def test_checkpoint_name_changes_with_the_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv(training.CHECKPOINT_ENV_VAR, str(tmp_path))
    a = training.checkpoint_path("run", {"tier": "smoke", "hidden": 8})
    b = training.checkpoint_path("run", {"tier": "smoke", "hidden": 16})
    assert a != b and a.parent == tmp_path and a.name.startswith("run-smoke-")
    assert a == training.checkpoint_path("run", {"hidden": 8, "tier": "smoke"})
