"""A fourth summarizer, defined here alone, trains, scores, selects and reports through the
family's generic fit and through ``course-experiments``: the recipe of README's "Add a
summarizer", with no change to the library.

The toy: a linear selector over compressed features, trained on the family's losses (SUM-GAN's
squared-distance reconstruction of the compressed video from its score-weighted copy, and the
sparsity term), one Adam, one video per update.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from course_lib import experiments, experiments_cli, registry
from course_lib.errors import CourseError
from course_lib.models.sum_gan import mean_sparsity_loss, squared_distance_loss
from course_lib.models.summarizer_training import Trainer, fit, score_videos, seeded
from course_lib.training import as_floats


@dataclass(frozen=True)
class ToyConfig:
    tier: str
    feature_dim: int = 1024
    hidden_size: int = 8
    epochs: int = 3
    sigma: float = 0.3
    learning_rate: float = 1e-2


def toy_config(tier: str, verbose: bool = False) -> ToyConfig:
    return ToyConfig(tier)


class LinearSelector(nn.Module):
    def __init__(self, config: ToyConfig):
        super().__init__()
        self.feature_dim = config.feature_dim
        self.compress = nn.Linear(config.feature_dim, config.hidden_size)
        self.head = nn.Linear(config.hidden_size, 1)
        self.decoder = nn.Linear(config.hidden_size, config.hidden_size)

    def prepare(self, features: torch.Tensor) -> torch.Tensor:
        if features.dim() != 2 or features.shape[1] != self.feature_dim:
            raise CourseError(f"features must be [T, {self.feature_dim}], got "
                              f"{tuple(features.shape)}.")
        return features.unsqueeze(0).to(torch.float32)

    def selector(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.head(x)).squeeze(-1)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"summarizer": list(self.parameters())}


def build_toy(config: ToyConfig, seed: int | None = None) -> LinearSelector:
    return seeded(lambda: LinearSelector(config), seed)


def toy_step(model, optimizers, features, config, generator):
    x = model.compress(model.prepare(features))
    scores = model.selector(x)
    losses = {"reconstruction": squared_distance_loss(x.detach(),
                                                      model.decoder(x * scores.unsqueeze(-1))),
              "sparsity": mean_sparsity_loss(scores, config.sigma)}
    optimizers["summarizer"].zero_grad()
    sum(losses.values()).backward()
    optimizers["summarizer"].step()
    return as_floats(losses)


def toy_order(keys, config, seed, start, lengths):
    rng = np.random.default_rng(seed)
    order = itertools.chain.from_iterable(
        [keys[i] for i in rng.permutation(len(keys))] for _ in itertools.count())
    return itertools.islice(order, start, None)


TOY = Trainer(
    make_optimizers=lambda model, config: {
        "summarizer": torch.optim.Adam(model.parameters(), lr=config.learning_rate)},
    train_step=toy_step, batches=toy_order,
    make_batch=lambda model, videos, key, targets: videos[key],
    loss_terms=("reconstruction", "sparsity"))


def fit_toy(model, config, dataset, split, name: str = "toy", **options):
    return fit(model, config, dataset, split, name, TOY, **options)


@pytest.fixture
def toy():
    method = registry.register(registry.Method("Toy", "", toy_config, build_toy, fit_toy,
                                               runner={"toy-linear": None}))
    yield method
    registry.unregister(method.name)


def test_the_toy_trains_scores_and_selects_through_the_generic_fit(toy, smoke_data):
    data, splits = smoke_data
    config = toy.config("smoke")
    model = toy.build(config, 0)
    before = {k: v.copy() for k, v in score_videos(model, data, splits[0].test_keys).items()}
    run = toy.fit(model, config, data, splits[0], seed=0, checkpoint=False, live=False)
    n = len(splits[0].train_keys)
    assert run.steps_per_epoch == n and run.history.completed_steps == config.epochs * n
    assert len(run.history.evals["f_score"]) == config.epochs + 1  # epoch 0, then each epoch
    after = score_videos(model, data, splits[0].test_keys)
    assert all(len(after[k]) == len(data[k].features) for k in after)
    assert any(not np.allclose(before[k], after[k]) for k in after)  # training changed it
    rules = run.selections()
    assert len(rules) == 3
    assert all(1 <= epoch <= config.epochs for epoch, _ in rules.values())
    loss = run.epoch_means("reconstruction") + run.epoch_means("sparsity")
    assert rules["lowest training loss (label-free)"][0] == 1 + int(np.argmin(loss))


def test_the_toy_runs_and_is_reported_by_course_experiments(toy, tmp_path, capsys):
    assert "toy-linear" in experiments.MODELS
    out = tmp_path / "results"
    assert experiments_cli.main(["run", "toy-linear", "--tier", "smoke", "--splits", "0",
                                 "--seeds", "0", "--out", str(out)]) == 0
    result = experiments.load_job(out / "synthetic" / "smoke" / "toy-linear" / "split0-seed0")
    assert result.finished and len(result.f_scores) == toy.config("smoke").epochs + 1
    assert experiments_cli.main(["report", "--out", str(out)]) == 0
    table = (out / "synthetic" / "smoke" / "comparison.md").read_text()
    assert "| toy-linear |" in table


def test_a_name_taken_is_refused(toy):
    with pytest.raises(CourseError, match="already"):
        registry.register(registry.Method("Toy", "", toy_config, build_toy, fit_toy))
    with pytest.raises(CourseError, match="sum-gan-sl"):
        registry.register(registry.Method("Other", "", toy_config, build_toy, fit_toy,
                                          runner={"sum-gan-sl": None}))


PLUGIN = """
import sys
sys.path.insert(0, {tests!r})
from test_toy_summarizer import build_toy, fit_toy, toy_config
from course_lib import registry
registry.register(registry.Method("Toy", "", toy_config, build_toy, fit_toy,
                                  runner={{"toy-linear": None}}))
print("registered the toy")  # a job process's print: never taken for how a job ended
"""


def test_job_processes_learn_your_summarizer_from_course_summarizers(tmp_path):
    """``--jobs 2`` trains each job in a process of its own: $COURSE_SUMMARIZERS names the file
    that registers the toy, and every process imports it."""
    plugin = tmp_path / "my_summarizers.py"
    plugin.write_text(PLUGIN.format(tests=str(Path(__file__).parent)))
    env = {**os.environ, registry.PLUGINS_ENV_VAR: str(plugin)}
    out = tmp_path / "results"
    for args in (["run", "toy-linear", "--tier", "smoke", "--splits", "0,1", "--seeds", "0",
                  "--jobs", "2"], ["report"]):
        done = subprocess.run([sys.executable, "-m", "course_lib.experiments_cli", *args,
                               "--out", str(out)], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    for split in (0, 1):
        assert experiments.load_job(out / "synthetic" / "smoke" / "toy-linear"
                                    / f"split{split}-seed0").finished
    assert "| toy-linear |" in (out / "synthetic" / "smoke" / "comparison.md").read_text()


def test_a_plugin_that_cannot_be_imported_is_one_clear_message(monkeypatch, capsys):
    monkeypatch.setenv(registry.PLUGINS_ENV_VAR, "no_such_summarizers")
    assert experiments_cli.main(["run", "toy-linear", "--tier", "smoke"]) != 0
    err = capsys.readouterr().err
    assert "$COURSE_SUMMARIZERS names 'no_such_summarizers'" in err and ".py file" in err


CRASHING = """
import os
import sys
sys.path.insert(0, {tests!r})
from test_toy_summarizer import build_toy, fit_toy, toy_config
from course_lib import registry


def fit_or_die(model, config, data, split, **kwargs):
    if kwargs["seed"] == 1:
        os._exit(3)  # the process dies as on a segmentation fault or the memory killer
    return fit_toy(model, config, data, split, **kwargs)


registry.register(registry.Method("Crashing toy", "", toy_config, build_toy, fit_or_die,
                                  runner={{"toy-crash": None}}))
"""


def test_a_job_whose_process_dies_fails_alone_and_the_others_finish(tmp_path):
    """The job processes run one job after another: one that dies in a job fails that job (its
    log says so), and the next job on its slot gets a new process."""
    plugin = tmp_path / "crashing.py"
    plugin.write_text(CRASHING.format(tests=str(Path(__file__).parent)))
    env = {**os.environ, registry.PLUGINS_ENV_VAR: str(plugin)}
    out = tmp_path / "results"
    done = subprocess.run([sys.executable, "-m", "course_lib.experiments_cli", "run",
                           "toy-crash", "--tier", "smoke", "--splits", "0", "--seeds", "0-3",
                           "--jobs", "2", "--out", str(out)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 1
    log = out / "logs" / "synthetic-smoke-toy-crash-split0-seed1.log"
    assert f"1 job(s) failed: toy-crash on synthetic (smoke tier), split 0, seed 1 (see {log})" \
        in done.stderr
    assert "ended (status 3)" in log.read_text()
    folder = out / "synthetic" / "smoke" / "toy-crash"
    assert [experiments.load_job(folder / f"split0-seed{s}").finished for s in range(4)] == \
        [True, False, True, True]


WAITING = """
import sys
import time
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_toy_summarizer import build_toy, fit_toy, toy_config
from course_lib import registry


def fit_slowly(model, config, data, split, **kwargs):
    if kwargs["seed"] == 1:  # a long training: until Ctrl-C
        Path({started!r}).write_text("started")
        while True:
            time.sleep(0.1)
    return fit_toy(model, config, data, split, **kwargs)


registry.register(registry.Method("Slow toy", "", toy_config, build_toy, fit_slowly,
                                  runner={{"toy-slow": None}}))
"""

# Started as a script's `cmd &` or nohup starts it: with SIGINT ignored, which the runner undoes.
RUN_IGNORING_CTRL_C = ("import signal, sys\n"
                       "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                       "from course_lib.experiments_cli import main\n"
                       "sys.exit(main(sys.argv[1:]))\n")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_ctrl_c_or_kill_stops_the_runner_and_every_job_process(stop, tmp_path):
    started = tmp_path / "started"
    plugin = tmp_path / "slow.py"
    plugin.write_text(WAITING.format(tests=str(Path(__file__).parent), started=str(started)))
    env = {**os.environ, registry.PLUGINS_ENV_VAR: str(plugin)}
    out = tmp_path / "results"
    runner = subprocess.Popen([sys.executable, "-c", RUN_IGNORING_CTRL_C, "run", "toy-slow",
                               "--tier", "smoke", "--splits", "0", "--seeds", "0-2", "--jobs",
                               "2", "--out", str(out)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert started.exists()
        runner.send_signal(stop)
        _, err = runner.communicate(timeout=60)  # it waits for its job processes to end
    finally:
        runner.kill()  # where the test failed: not left running (its workers end at EOF)
    assert runner.returncode == 130 and "interrupted" in err
    log = out / "logs" / "synthetic-smoke-toy-slow-split0-seed1.log"
    assert "interrupted; every completed update is saved" in log.read_text()
    assert not experiments.load_job(out / "synthetic" / "smoke" / "toy-slow"
                                    / "split0-seed1").finished
