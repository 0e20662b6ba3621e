"""SUM-GAN-sl (or -AAE) training time per epoch: the course's faithful and fast trainers vs the
baseline.

Baseline: ``benchmarks/sum_gan_sl_plain.py``, a straightforward implementation with the
reference's structure (batch 1, a Python loop of ``nn.LSTMCell``\\ s for the decoder, three full
forward passes per video) on PyTorch's defaults: oneDNN's LSTM for ``nn.LSTM``, the for-loop
Adam, ``clip_grad_norm_``. The course's faithful trainer makes the same updates
(``tests/test_sum_gan_sl.py``); each fast trainer trains ``--per-update`` videos, of similar
lengths, per update. Every trainer, the baseline included, runs on ``--threads`` intra-op
threads (default: the course's CPU setting, 1), so neither side gets a setting the other lacks;
``--baseline-threads`` gives the baseline its own (its best on a 2-core CPU is 1: its batch-1
products are too small to share).

Data: random 1024-d features with the lengths of SumMe split 0's training videos (their
``n_steps``, read from the real annotations when present, else the list below), paper size
(hidden 500, two layers). The baseline and the faithful trainer are timed on the first
``--videos`` videos of the epoch (both on the same ones, in the split's order) and their epoch
time is extrapolated by the number of steps (their cost is linear in a video's length); the fast
trainers are timed over the whole epoch. Each trainer runs in a process of its own, as a
student runs one (:func:`trainer_process` says why), and they take turns: one update of each
trainer, then the next round, so that a change in the machine's load affects them alike.

``--model aae`` times SUM-GAN-AAE the same way, against the plain AAE of the same file (whose
attention adds a cost quadratic in a video's length, small beside the rest at these lengths).

The last lines name each trainer with its ratio: ``faithful trainer: N× the baseline``, one line
per ``--per-update`` value, one for the fast trainer with ``discriminator_fakes="phase2_pass"``
(the named option that saves a pass: a change of training), and ``fast trainer: N× the
baseline, M× the faithful trainer, P % of the fp32 ceiling`` for the first ``--per-update``
value with the reference's options. Where the CPU multiplies bfloat16 in hardware (and
``--isa`` leaves it that), the first fast trainer also runs with ``matmul_dtype="bfloat16"``
(its recurrences' products in bfloat16, on the course's LSTM), on its own line:
``fast trainer with bfloat16 products: N× the baseline, M× the faithful trainer, K× the
float32 fast trainer``.

Why the fast trainer stops where it does: the last line, ``fp32 ceiling``, is the ratio no
trainer doing the reference's arithmetic in float32 could beat on this machine. The matrix
products of one epoch are counted (``torch.utils.flop_counter`` on the course's own LSTM, on
three short videos, a quadratic in the length extrapolated to the epoch's), and this CPU's
float32 matrix-product rate is measured in the same run on a large product; the ceiling is the
baseline's time over the time those products alone would take at that rate. The line after it,
``oneDNN's LSTM, N videos in a batch against one``, says how much batching itself can give: how
many times less a video-step of the recurrences costs in the fast trainer's batch than alone,
as the faithful trainer runs them (under AVX2 about 2×, whatever else the fast trainer does).

Run:  python benchmarks/bench_sum_gan_sl.py            (paper size, 4 videos timed)
      python benchmarks/bench_sum_gan_sl.py --per-update 5 10 20
      python benchmarks/bench_sum_gan_sl.py --threads 2
      python benchmarks/bench_sum_gan_sl.py --threads 2 --baseline-threads 1
      python benchmarks/bench_sum_gan_sl.py --hidden 128 --videos 20   (a quick look)
      python benchmarks/bench_sum_gan_sl.py --model aae
      python benchmarks/bench_sum_gan_sl.py --isa AVX2   (as on a CPU without AVX-512)

``--isa`` limits both libraries that do the arithmetic, oneDNN (the LSTMs) and MKL (every other
matrix product, the ceiling's included), so the whole run, ceiling and all, is that of a CPU
with that vector unit; the first lines name what each library runs on.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import multiprocessing
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
from sum_gan_sl_plain import (
    PlainSumGanAae,
    PlainSumGanSl,
    copy_parameters,
    plain_optimizers,
    plain_train_video,
)

from course_lib.config import cpu_matmul_dtype, sum_gan_aae_config, sum_gan_sl_config
from course_lib.models import sum_gan_aae as aae
from course_lib.models import sum_gan_sl as sl
from course_lib.models.summarizer_training import cpu_settings
from course_lib.processes import CPU_THREADS

# n_steps of SumMe split 0's training videos, in its train_keys order (video_1, video_10, ...).
SUMME_SPLIT0_LENGTHS = [300, 649, 108, 64, 213, 308, 407, 446, 149, 117, 316, 258, 346, 293, 172,
                        223, 343, 339, 604, 86]
# configuration, the course's model and the plain one, per --model
MODELS = {"sl": (sum_gan_sl_config, sl.build_sum_gan_sl, PlainSumGanSl),
          "aae": (sum_gan_aae_config, aae.build_sum_gan_aae, PlainSumGanAae)}


def split0_lengths() -> tuple[list[int], str]:
    """The real lengths when the annotations and splits are at hand, else the list above."""
    from course_lib.data import reference_file
    from course_lib.data.summarization import load_annotations, load_splits

    path = reference_file("splits", "summe_splits.json")
    annotations = load_annotations("summe")
    if annotations is None or path is None:
        return SUMME_SPLIT0_LENGTHS, "a fixed list (SumMe split 0)"
    keys = load_splits(path, annotations)[0].train_keys
    return [annotations[k].n_steps for k in keys], f"SumMe split 0 ({annotations.source})"


def matmul_rate(threads: int) -> float:
    """This CPU's float32 matrix-product rate now (FLOP/s), on a product large enough to reach
    it, the fastest of ten: a generous bound for the per-step products of any trainer (an
    average let one slow repeat lower the ceiling by a tenth between runs). ``main`` takes the
    faster of a measurement before the trainers and one after."""
    a, b = torch.randn(4096, 1024), torch.randn(1024, 2000)
    torch.set_num_threads(threads)
    a @ b
    fastest = float("inf")
    for _ in range(10):
        start = time.perf_counter()
        a @ b
        fastest = min(fastest, time.perf_counter() - start)
    return 2 * a.shape[0] * a.shape[1] * b.shape[1] / fastest


def batching_gain(hidden: int, batch: int, threads: int, steps: int = 200
                  ) -> tuple[float, float]:
    """How many times less a video-step of oneDNN's LSTM costs in a batch of ``batch`` videos than
    alone, forward and backward (fastest of five), on a layer of the selector's second layer's
    size (2·hidden → hidden), under the trainers' CPU settings. The fast trainer's recurrences
    gain about this much per video over the faithful trainer's, however they are cut into
    calls: where one video already keeps the vector unit busy, batching has little to add."""
    with torch.random.fork_rng(devices=[]):  # the caller's random state stays as it was
        torch.manual_seed(0)
        lstm = torch.nn.LSTM(2 * hidden, hidden)
        inputs = {size: torch.randn(steps, size, 2 * hidden, requires_grad=True)
                  for size in (1, batch)}
    per_step = []
    with cpu_settings(torch.device("cpu")):
        torch.set_num_threads(threads)
        for size, x in inputs.items():
            forward = backward = float("inf")
            for _ in range(5):
                start = time.perf_counter()
                out = lstm(x)[0]
                middle = time.perf_counter()
                out.sum().backward()
                forward = min(forward, middle - start)
                backward = min(backward, time.perf_counter() - middle)
            per_step.append((forward / size, backward / size))
    (alone_f, alone_b), (batched_f, batched_b) = per_step
    return alone_f / batched_f, alone_b / batched_b


def video_flops(build, config, steps: int) -> int:
    """The matrix-product FLOPs of the reference's update on one video of ``steps`` steps,
    counted on the course's LSTM (whose products the counter sees; oneDNN's it does not)."""
    from torch.utils.flop_counter import FlopCounterMode

    from course_lib.models import lstm_autoencoder

    model = build(config, seed=0)
    optimizers = sl.make_optimizers(model, config)
    batch = sl.make_batch(model, [torch.randn(steps, config.feature_dim)])
    kernel, lstm_autoencoder.USE_ONEDNN_LSTM = lstm_autoencoder.USE_ONEDNN_LSTM, False
    try:
        with FlopCounterMode(display=False) as counter:
            sl.train_step(model, optimizers, batch, config)
    finally:
        lstm_autoencoder.USE_ONEDNN_LSTM = kernel
    return counter.get_total_flops()


def epoch_flops(build, config, lengths: list[int]) -> float:
    """The matrix-product FLOPs of an epoch: counted on three short videos and extrapolated by
    the exact quadratic in a video's length (the attention's energies are quadratic)."""
    short = (4, 8, 12)
    quadratic = np.polyfit(short, [video_flops(build, config, n) for n in short], 2)
    return float(sum(np.polyval(quadratic, n) for n in lengths))


def onednn_isa() -> str:
    """The instruction set oneDNN runs on in a process with this environment (its verbose mode
    names it when it first runs a primitive; read in a child process, since oneDNN writes it
    to the C library's stdout)."""
    probe = "import torch; torch.nn.LSTM(4, 4)(torch.zeros(2, 1, 4))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env={**os.environ, "ONEDNN_VERBOSE": "1"})
    found = re.search(r"isa:(.+)", done.stdout)
    return found.group(1).strip() if found else "unknown (oneDNN said nothing)"


def times_bfloat16(isa: str | None) -> bool:
    """Whether to time a fast trainer with bfloat16 products: only where the CPU multiplies
    bfloat16 in hardware and ``--isa`` (oneDNN's name) leaves it that; elsewhere it is
    emulated, slowly."""
    return cpu_matmul_dtype() == "bfloat16" and (
        isa is None or any(name in isa.upper() for name in ("BF16", "AMX")))


def isa_environment(isa: str) -> dict[str, str]:
    """The environment that makes this CPU compute like one whose best vector unit is oneDNN's
    ``isa``: oneDNN (the LSTMs) reads ``ONEDNN_MAX_CPU_ISA``, but MKL, which does every other
    float32 matrix product (the trainers' and the ceiling's), reads only its own
    ``MKL_ENABLE_INSTRUCTIONS``. With AMX MKL is left alone: its float32 products are AVX-512's
    either way. Both are read once, when the library first runs: set them before a process
    starts (``main`` starts itself again with them)."""
    name = isa.upper()
    if "AMX" in name:
        mkl = None
    elif name.startswith(("AVX512", "AVX10")):
        mkl = "AVX512"
    elif name.startswith("AVX2"):
        mkl = "AVX2"
    elif name in ("AVX", "SSE41"):
        mkl = {"AVX": "AVX", "SSE41": "SSE4_2"}[name]
    else:
        raise SystemExit(f"--isa {isa}: not one of oneDNN's instruction sets (e.g. SSE41, AVX, "
                         "AVX2, AVX2_VNNI, AVX512_CORE, AVX512_CORE_BF16, AVX512_CORE_AMX).")
    return {"ONEDNN_MAX_CPU_ISA": name, **({"MKL_ENABLE_INSTRUCTIONS": mkl} if mkl else {})}


def mkl_isa() -> str:
    """The vector instructions MKL runs on in a process with this environment (read in a child
    process, as for oneDNN): see :func:`isa_in_mkl_verbose`."""
    probe = "import torch; a = torch.ones(8, 8); a @ a"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env={**os.environ, "MKL_VERBOSE": "1"})
    return isa_in_mkl_verbose(done.stdout)


def isa_in_mkl_verbose(text: str) -> str:
    """The instruction set named by MKL's verbose output. MKL names it in its first line on
    Intel processors only ("... Intel(R) Advanced Vector Extensions 2 (Intel(R) AVX2) enabled
    processors, ..."); on an AMD EPYC that line says "Intel(R) Architecture processors"."""
    found = re.search(r"\(Intel\(R\) (AVX[^)]*|SSE[^)]*)\)", text)
    if found:
        return found.group(1)
    if "MKL_VERBOSE" in text:
        return "unknown (MKL names its instruction set on Intel processors only)"
    return "unknown (MKL said nothing)"


# The profiler's names of the LSTMs' backward: oneDNN's, and the course's (an autograd node,
# whose total includes its matrix products)
LSTM_BACKWARDS = ("aten::mkldnn_rnn_layer_backward", "_LSTMLayerBackward")


def backward_share(step: Callable[[], object]) -> float:
    """The share of one update's time spent in the LSTMs' backward (oneDNN's or the course's),
    which a fast trainer calls once per layer, direction and call of the recurrence."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        step()
        wall = time.perf_counter() - start
    inside = sum(e.cpu_time_total for e in prof.key_averages() if e.key in LSTM_BACKWARDS)
    return inside / 1e6 / wall


@dataclasses.dataclass(frozen=True)
class Setup:
    """What each trainer's process needs to build its trainer as every other one does."""

    model: str
    hidden: int
    threads: int
    baseline_threads: int
    lengths: tuple[int, ...]
    timed_videos: int
    per_update: tuple[int, ...]
    bfloat16: bool = False  # also the first fast trainer with bfloat16 products

    def trainer_names(self) -> list[str]:
        first = f"fast trainer, {self.per_update[0]} videos per update"
        return (["baseline", "faithful trainer"]
                + [f"fast trainer, {size} videos per update" for size in self.per_update]
                + [f"{first}, phase-2 fakes"]
                + [f"{first}, {BFLOAT16}"] * self.bfloat16)


BFLOAT16 = "bfloat16 products"


def build_trainer(setup: Setup, name: str) -> tuple[list[Callable[[], object]], float]:
    """Trainer ``name``'s updates, in order, each ready to run (under :func:`trainer_settings`),
    and the factor that turns their time into an epoch's. Every trainer starts from the same
    weights (seed 0) on the same videos."""
    lengths = list(setup.lengths)
    timed = lengths[:setup.timed_videos]
    g = torch.Generator().manual_seed(0)
    videos = [torch.randn(n, 1024, generator=g) for n in lengths]
    make_config, build, plain_model = MODELS[setup.model]
    config = dataclasses.replace(make_config("paper", verbose=False), hidden_size=setup.hidden)
    model = build(config, seed=0)
    if name == "baseline":
        plain = plain_model(1024, setup.hidden)
        copy_parameters(model, plain)
        optimizers = plain_optimizers(plain)
        return [lambda v=v: plain_train_video(plain, optimizers, v, config.sigma)
                for v in videos[:len(timed)]], sum(lengths) / sum(timed)
    if name == "faithful trainer":
        optimizers = sl.make_optimizers(model, config)
        return [lambda v=v: sl.train_step(model, optimizers, sl.make_batch(model, [v]), config)
                for v in videos[:len(timed)]], sum(lengths) / sum(timed)
    size = int(re.match(r"fast trainer, (\d+) videos", name).group(1))
    changes = ({"discriminator_fakes": "phase2_pass"} if name.endswith("phase-2 fakes")
               else {"matmul_dtype": "bfloat16"} if name.endswith(BFLOAT16) else {})
    fast = dataclasses.replace(config, training_order="by_length", videos_per_update=size,
                               **changes)
    keys = [str(i) for i in range(len(videos))]
    optimizers = sl.make_optimizers(model, fast)
    batches = itertools.islice(sl.update_batches(keys, fast, 0, 0, dict(zip(
        keys, lengths, strict=True))), sl.updates_per_epoch(len(keys), fast))
    return [lambda b=[videos[int(k)] for k in batch]: sl.train_step(
        model, optimizers, sl.make_batch(model, b), fast) for batch in batches], 1.0


def trainer_process(setup: Setup, name: str, connection) -> None:
    """One trainer in a process of its own, as a student runs it: another trainer's memory and
    kernels left in the same process slowed the fast trainer's epoch by a fifth (33-35 s alone,
    39-43 s between the faithful trainer's updates). Sends its number of updates and time
    factor, then one update's seconds per round it is sent, and at ``None`` one profiled
    update's share in the LSTMs' backward."""
    products = torch.bfloat16 if name.endswith(BFLOAT16) else None  # as its fit would set
    with cpu_settings(torch.device("cpu"), products=products):  # then the threads asked for
        torch.set_num_threads(setup.baseline_threads if name == "baseline" else setup.threads)
        updates, factor = build_trainer(setup, name)
        connection.send((len(updates), factor))
        while (round_ := connection.recv()) is not None:
            start = time.perf_counter()
            updates[round_]()
            connection.send(time.perf_counter() - start)
        connection.send(backward_share(updates[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="sl")
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--videos", type=int, default=4, help="videos timed per slow trainer")
    parser.add_argument("--per-update", type=int, nargs="+", default=[10, 5, 20],
                        help="the fast trainer's videos per update (one fast trainer each; the "
                             "first is the one of the 'fast trainer:' line)")
    parser.add_argument("--threads", type=int, default=CPU_THREADS,
                        help="intra-op threads of every trainer, the baseline's included")
    parser.add_argument("--baseline-threads", type=int,
                        help="the baseline's own thread count (default: --threads); e.g. 1 with "
                             "--threads 2, where a second thread slows the baseline down")
    parser.add_argument("--isa", help="the most capable instruction set oneDNN and MKL may "
                                      "use, in oneDNN's names (ONEDNN_MAX_CPU_ISA): e.g. AVX2, "
                                      "AVX512_CORE (no AMX, no bfloat16) or AVX512_CORE_AMX: a "
                                      "CPU like most laptops' on this one")
    args = parser.parse_args()
    if args.isa:
        wanted = isa_environment(args.isa)
        if any(os.environ.get(k) != v for k, v in wanted.items()):  # start again with them
            os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **wanted})
    torch.set_num_threads(args.threads)

    lengths, source = split0_lengths()
    bfloat16 = times_bfloat16(args.isa)
    setup = Setup(args.model, args.hidden, args.threads, args.baseline_threads or args.threads,
                  tuple(lengths), args.videos, tuple(args.per_update), bfloat16)
    timed = lengths[:args.videos]
    print(f"SUM-GAN-{args.model}: {len(lengths)} videos, {sum(lengths)} steps (lengths from "
          f"{source}); hidden "
          f"{args.hidden}; baseline and faithful trainer timed on the first {len(timed)} "
          f"videos ({sum(timed)} steps), x{sum(lengths) / sum(timed):.2f} for an epoch; fast "
          f"trainers on the whole epoch; each trainer in a process of its own, interleaved; "
          f"torch {torch.__version__}; the course's trainers on {setup.threads} thread(s), the "
          f"baseline on {setup.baseline_threads}; load average before: "
          f"{os.getloadavg()[0]:.1f}")
    print(f"oneDNN's instruction set: {onednn_isa()}; MKL's: {mkl_isa()}"
          + (f" (--isa {args.isa})" if args.isa else ""))

    rate_before = matmul_rate(setup.threads)  # and after: the CPU's speed drifts on a shared host
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter, not a copy of this one
    connections, processes = {}, []
    for name in setup.trainer_names():
        here, there = spawn.Pipe()
        processes.append(spawn.Process(target=trainer_process, args=(setup, name, there),
                                       daemon=True))
        processes[-1].start()
        there.close()  # the child's end lives in the child alone: if it dies, recv says so
        connections[name] = here

    def reply(name: str):
        try:
            return connections[name].recv()
        except EOFError:
            raise SystemExit(f"The {name!r} process stopped before it answered; its error is "
                             "printed above.") from None

    plan = {name: reply(name) for name in connections}
    seconds = dict.fromkeys(connections, 0.0)
    for round_ in range(max(n for n, _ in plan.values())):
        # One update of each trainer per round, one process at a time, so that a change in the
        # machine's load affects them alike.
        for name, (n_updates, factor) in plan.items():
            if round_ < n_updates:
                connections[name].send(round_)
                seconds[name] += reply(name) * factor
    shares = {}
    for name, connection in connections.items():
        connection.send(None)
        shares[name] = reply(name)
    for process in processes:
        process.join()

    print(f"load average after: {os.getloadavg()[0]:.1f}")
    make_config, build, _ = MODELS[args.model]
    config = dataclasses.replace(make_config("paper", verbose=False), hidden_size=args.hidden)
    flops, rate = epoch_flops(build, config, lengths), max(rate_before,
                                                            matmul_rate(setup.threads))
    print(f"matrix products of an epoch of the reference's updates: {flops / 1e9:.0f} GFLOP; "
          f"this CPU's float32 rate: {rate / 1e9:.0f} GFLOP/s on {args.threads} thread(s) (the "
          "faster of before and after the trainers)")
    for name, value in seconds.items():
        print(f"{name}: {value:.1f} s per epoch, {100 * shares[name]:.0f} % of an update in "
              f"the LSTMs' backward")
    for name in list(seconds)[1:]:
        print(f"{name}: {seconds['baseline'] / seconds[name]:.1f}× the baseline")
    headline = f"fast trainer, {args.per_update[0]} videos per update"
    fast, ceiling = seconds["baseline"] / seconds[headline], seconds["baseline"] / (flops / rate)
    print(f"fast trainer: {fast:.1f}× the baseline, "
          f"{seconds['faithful trainer'] / seconds[headline]:.1f}× the faithful trainer, "
          f"{100 * fast / ceiling:.0f} % of the fp32 ceiling")
    print(f"fp32 ceiling: {ceiling:.1f}× the baseline (those products alone, at that rate)")
    if bfloat16:
        low = seconds[f"{headline}, {BFLOAT16}"]
        print(f"fast trainer with {BFLOAT16}: {seconds['baseline'] / low:.1f}× the baseline, "
              f"{seconds['faithful trainer'] / low:.1f}× the faithful trainer, "
              f"{seconds[headline] / low:.2f}× the float32 fast trainer")
    else:
        print(f"fast trainer with {BFLOAT16}: not timed (no bfloat16 instructions on this CPU"
              + (f" under --isa {args.isa})" if args.isa else ")"))
    forward, backward = batching_gain(args.hidden, args.per_update[0], args.threads)
    print(f"oneDNN's LSTM, {args.per_update[0]} videos in a batch against one: "
          f"{forward:.1f}× less per video-step forward, {backward:.1f}× backward (what the fast "
          "trainer's recurrences can gain per video over the faithful trainer's)")


if __name__ == "__main__":
    main()
