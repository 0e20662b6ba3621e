"""Every notebook's paper-tier training path for a few steps on a CUDA GPU: does it run, how fast,
how much memory, what it warns about, how big its checkpoint is.

Paths (each through the library's own fit function, as the notebooks call it):

- ``01-autoencoder``: notebook 01's composite LSTM autoencoder (2 × 2048 units, batch 80, Moving
  MNIST batches made while it trains), ``fit_autoencoder``;
- ``03-sum-gan``, ``04-sum-gan-sl``, ``04-sum-gan-sl-fast``, ``05-sum-gan-aae``,
  ``05-sum-gan-aae-fast``: the runner's models at the paper tier (one video per update for the
  faithful trainers, the fast trainers' batches of similar lengths), one epoch including its
  evaluation, on synthetic videos whose training split is about the size of SumMe's;
- ``06-runner``: ``course-experiments run`` with several jobs at once on the one GPU (smoke tier:
  it checks that they share the device and finish, not their speed).

Timing: each path runs twice, a short and a longer run from a fresh model, and the difference
is what the extra steps (or the extra epoch) cost, timed with the GPU synchronised: start-up,
warm-up and the final evaluation cancel out. The SUM-GAN family's epoch is also given at SumMe
split 0's size (5,741 steps over 20 training videos) by scaling with the number of steps
(the slow faithful trainers are timed on ``--faithful-videos``, default 10), and each
family path repeats its one-epoch run from the same seed and checks the weights are identical
(the runner's promise that a resumed job ends as an uninterrupted one rests on it). Peak
memory is the device's high-water mark over the path; the checkpoint is the model's and its
optimizers' state written by the course's ``save_checkpoint``, timed and sized.

``--cpu-tiny`` runs the same paths at the smoke tier's sizes on the CPU (CI runs it, so the
script keeps working where no GPU is). Every run ends with one line per path,
``PASS name`` or ``FAIL name: why``, and ``--json FILE`` writes the figures.

Run:  python benchmarks/gpu_check.py                 (on a CUDA machine; a few minutes)
      python benchmarks/gpu_check.py --only 04-sum-gan-sl 05-sum-gan-aae
      python benchmarks/gpu_check.py --cpu-tiny
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from course_lib import config as course_config
from course_lib.data.mnist import digit_source
from course_lib.data.moving_mnist import moving_mnist_batches, moving_mnist_test_set
from course_lib.data.summarization import make_splits
from course_lib.data.synthetic_videos import make_synthetic_dataset
from course_lib.experiments import MODELS
from course_lib.models import lstm_autoencoder as ae
from course_lib.runtime import seed_everything, synchronize
from course_lib.training import save_checkpoint

SUMME_SPLIT0_STEPS = 5741  # n_steps of SumMe split 0's 20 training videos (eccv16 h5, 2 fps)
FAMILY_PATHS = {"03-sum-gan": "sum-gan", "04-sum-gan-sl": "sum-gan-sl",
                "04-sum-gan-sl-fast": "sum-gan-sl-fast", "05-sum-gan-aae": "sum-gan-aae",
                "05-sum-gan-aae-fast": "sum-gan-aae-fast"}


@dataclasses.dataclass
class Check:
    """What one path measured."""

    name: str
    ok: bool = False
    unit: str = "step"
    seconds_per_unit: float = float("nan")
    units_timed: int = 0
    peak_gib: float = float("nan")
    checkpoint_mib: float = float("nan")
    checkpoint_seconds: float = float("nan")
    notes: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    error: str = ""


def timed(device: torch.device, run: Callable[[], object]) -> float:
    synchronize(device)
    started = time.perf_counter()
    run()
    synchronize(device)
    return time.perf_counter() - started


def checkpoint_cost(check: Check, state: dict, folder: Path, device: torch.device) -> None:
    """Write ``state`` as the training loop does; record its size and how long it took."""
    path = folder / f"{check.name}.pt"
    from course_lib.training import History

    check.checkpoint_seconds = timed(device, lambda: save_checkpoint(path, state, History()))
    check.checkpoint_mib = path.stat().st_size / 2**20
    path.unlink()


def check_autoencoder(check: Check, device: torch.device, tiny: bool, folder: Path,
                      **_) -> None:
    cfg = course_config.autoencoder_config("smoke" if tiny else "paper")
    digits = digit_source()
    test = torch.from_numpy(moving_mnist_test_set(
        digits, 16 if tiny else 200, n_frames=cfg.n_input + cfg.n_future,
        n_digits=cfg.n_digits, canvas=cfg.canvas).frames)
    short, long = (2, 6) if tiny else (5, 25)

    def run(steps: int):
        seed_everything(0)
        model = ae.build_autoencoder(cfg).to(device)
        run_cfg = dataclasses.replace(cfg, steps=steps, eval_every=steps)
        return model, ae.fit_autoencoder(model, run_cfg, digits, test, check.name,
                                         checkpoint=False)

    run(short)  # warm-up: the first steps pay for kernel selection and allocation
    seconds = {}
    for steps in (short, long):
        seconds[steps] = timed(device, lambda steps=steps: run(steps))
    check.units_timed = long - short
    check.seconds_per_unit = (seconds[long] - seconds[short]) / (long - short)
    check.notes.append(f"{cfg.steps} steps (the tier's run) at this rate: "
                       f"{cfg.steps * check.seconds_per_unit / 60:.1f} min per model")
    batches = moving_mnist_batches(digits, cfg.batch_size, seed=0, n_frames=cfg.n_input
                                   + cfg.n_future, n_digits=cfg.n_digits, canvas=cfg.canvas)
    started, made = time.perf_counter(), 5
    for _ in range(made):
        next(batches)
    check.notes.append(f"making one batch on the CPU alone: "
                       f"{(time.perf_counter() - started) / made:.3f} s")
    model, _ = run(1)
    checkpoint_cost(check, {"model": model,
                            "optimizer": ae.make_optimizer(model, cfg)}, folder, device)


def family_data(tiny: bool):
    """Synthetic videos and a split whose training part is about SumMe's size (smoke: tiny)."""
    cfg = course_config.summarization_data_config("smoke" if tiny else "laptop", verbose=False)
    if not tiny:  # SumMe's 25 videos, lengths near its mean of 293 steps
        cfg = dataclasses.replace(cfg, scenes_per_video=(5, 12), scene_frames=(225, 800))
    data = make_synthetic_dataset(cfg)
    split = make_splits(data.keys(), rng=np.random.default_rng(0))[0]
    return data, split


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                 b.state_dict().values(), strict=True))


def check_family(check: Check, device: torch.device, tiny: bool, folder: Path, data,
                 faithful_videos: int | None = None, **_) -> None:
    """One epoch (and its evaluation) of the model, then the same epoch again from the same
    seed: a run on the GPU must repeat itself bit for bit, or a resumed run could not end as an
    uninterrupted one."""
    from course_lib.models.sum_gan_sl import make_optimizers

    dataset, split = data
    spec = MODELS[FAMILY_PATHS[check.name]]
    cfg = spec.config("smoke" if tiny else "paper")
    if hasattr(cfg, "pretrain_epochs"):
        cfg = dataclasses.replace(cfg, pretrain_epochs=0)  # the epochs of training are timed
    if faithful_videos and getattr(cfg, "videos_per_update", 1) == 1:
        split = split._replace(train_keys=split.train_keys[:faithful_videos])

    def run(epochs: int):
        seed_everything(0)
        model = spec.method.build(cfg, 0).to(device)
        spec.method.fit(model, dataclasses.replace(cfg, epochs=epochs), dataset, split,
                        name=check.name, seed=0, checkpoint=False, live=False)
        return model

    models = {}
    seconds = {epochs: timed(device, lambda epochs=epochs: models.update({epochs: run(epochs)}))
               for epochs in (1, 2)}
    steps = sum(dataset[k].n_steps for k in split.train_keys)
    check.unit, check.units_timed = "epoch", 1
    check.seconds_per_unit = seconds[2] - seconds[1]
    check.notes.append(f"one epoch = {len(split.train_keys)} videos, {steps} steps, "
                       f"{getattr(cfg, 'videos_per_update', 1)} per update")
    if not tiny:
        summe = check.seconds_per_unit * SUMME_SPLIT0_STEPS / steps
        check.notes.append(f"at SumMe split 0's {SUMME_SPLIT0_STEPS} steps: {summe:.1f} s "
                           f"per epoch, {cfg.epochs} epochs in {cfg.epochs * summe / 60:.1f} min")
    repeatable = same_weights(models[1], run(1))
    check.notes.append("the epoch repeated from the same seed: " + (
        "identical weights" if repeatable else "DIFFERENT weights (not reproducible)"))
    if not repeatable:
        raise RuntimeError("an epoch repeated from the same seed gave different weights")
    model = models[1]
    optimizers = (make_optimizers(model, cfg) if hasattr(cfg, "videos_per_update")
                  else {})
    checkpoint_cost(check, {"model": model, **{f"optimizer_{k}": v for k, v in
                                               optimizers.items()}}, folder, device)


def check_runner(check: Check, device: torch.device, tiny: bool, folder: Path, **_) -> None:
    jobs = 2 if tiny else 3
    command = [sys.executable, "-m", "course_lib.experiments_cli", "run", "sum-gan-sl-fast",
               "sum-gan-aae", "--tier", "smoke", "--splits", "0", "--seeds",
               ",".join(map(str, range(jobs))), "--jobs", str(jobs), "--out",
               str(folder / "runner")]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={
        **os.environ, "COURSE_CHECKPOINT_DIR": str(folder)})
    check.unit, check.units_timed = "grid", 1
    check.seconds_per_unit = time.perf_counter() - started
    if done.returncode:
        logs = sorted((folder / "runner" / "logs").glob("*.log"))
        tail = logs[0].read_text()[-600:] if logs else ""
        raise RuntimeError(f"exit {done.returncode}: {done.stdout[-400:]}{done.stderr[-400:]}"
                           f"{tail}")
    check.notes.append(f"{2 * jobs} smoke-tier jobs, {jobs} at a time on {device.type}")


CHECKS: dict[str, Callable] = {"01-autoencoder": check_autoencoder,
                               **{name: check_family for name in FAMILY_PATHS},
                               "06-runner": check_runner}


def run_check(name: str, device: torch.device, tiny: bool, folder: Path, data,
              faithful_videos: int | None) -> Check:
    check = Check(name)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with contextlib.redirect_stderr(io.StringIO()):  # the training's progress bars
                CHECKS[name](check, device, tiny, folder, data=data,
                             faithful_videos=faithful_videos)
            check.ok = True
        except Exception as error:  # a failing path is reported, and the others still run
            check.error = f"{type(error).__name__}: {error}".splitlines()[0][:300]
            traceback.print_exc()
    check.warnings = sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0][:160]}"
                             for w in caught})
    if device.type == "cuda":
        check.peak_gib = torch.cuda.max_memory_allocated(device) / 2**30
    return check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-tiny", action="store_true",
                        help="the same paths at smoke sizes on the CPU (what CI runs)")
    parser.add_argument("--only", nargs="+", choices=list(CHECKS), help="run only these paths")
    parser.add_argument("--faithful-videos", type=int, metavar="N", default=10,
                        help="time the faithful trainers (one video per update, their cost "
                             "linear in the steps) on the first N training videos only "
                             "(default: %(default)s, half an epoch, to keep the check short)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.cpu_tiny:
        device = torch.device("cpu")
    elif not torch.cuda.is_available():
        parser.error("no CUDA GPU here: run it on a GPU machine, or use --cpu-tiny")
    else:
        device = torch.device("cuda")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"gpu_check on {name}, torch {torch.__version__}"
          + (" (--cpu-tiny: smoke sizes)" if args.cpu_tiny else " (paper sizes)"), flush=True)
    names = args.only or list(CHECKS)
    if device.type == "cuda":  # the context and the libraries' handles, outside every timing
        warm = torch.nn.LSTM(8, 8).to(device)
        warm(torch.zeros(2, 1, 8, device=device))[0].sum().backward()
    data = family_data(args.cpu_tiny) if set(names) & set(FAMILY_PATHS) else None
    results = []
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        for path_name in names:
            started = time.perf_counter()
            check = run_check(path_name, device, args.cpu_tiny, Path(tmp), data,
                              args.faithful_videos)
            results.append(check)
            print(f"{path_name}: {'ok' if check.ok else 'FAILED'} in "
                  f"{time.perf_counter() - started:.0f} s; {check.seconds_per_unit:.3f} s per "
                  f"{check.unit} ({check.units_timed} timed), peak "
                  f"{_measured(check.peak_gib, '.2f', 'GiB')}, checkpoint "
                  f"{_measured(check.checkpoint_mib, '.1f', 'MiB')} in "
                  f"{_measured(check.checkpoint_seconds, '.1f', 's')}", flush=True)
            for line in check.notes + check.warnings:
                print(f"    {line}", flush=True)
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(c) for c in results], indent=1))
    by_name = {c.name: c for c in results if c.ok}
    for fast, faithful in (("04-sum-gan-sl-fast", "04-sum-gan-sl"),
                           ("05-sum-gan-aae-fast", "05-sum-gan-aae")):
        if fast in by_name and faithful in by_name:  # the same epoch, measured in this run
            ratio = by_name[faithful].seconds_per_unit / by_name[fast].seconds_per_unit
            print(f"{fast}: {ratio:.1f}× the faithful trainer per epoch")
    for check in results:
        print(f"PASS {check.name}" if check.ok else f"FAIL {check.name}: {check.error}")
    return 0 if all(c.ok for c in results) else 1


def _measured(value: float, fmt: str, unit: str) -> str:
    """A figure, or "n/a" where this device does not measure it (memory on a CPU)."""
    return "n/a" if value != value else f"{value:{fmt}} {unit}"


if __name__ == "__main__":
    sys.exit(main())
