"""The SUM-GAN-sl/-AAE benchmark runs and reports what it promises: a ratio line per trainer and
an fp32 ceiling that no trainer beats; its FLOP count extrapolates exactly."""

import dataclasses
import math
import re

import bench_sum_gan_sl as bench  # benchmarks/ is on pytest's path (pyproject.toml)
import pytest
import torch


@pytest.mark.parametrize("model", ["sl", "aae"])
def test_the_epoch_flop_count_is_the_sum_of_each_videos(model):
    make_config, build, _ = bench.MODELS[model]
    config = dataclasses.replace(make_config("paper", verbose=False), feature_dim=24,
                                 hidden_size=8)
    lengths = [30, 2, 17]
    counted = sum(bench.video_flops(build, config, n) for n in lengths)
    assert bench.epoch_flops(build, config, lengths) == pytest.approx(counted, rel=1e-9)


def test_the_benchmark_names_every_trainer_with_its_ratio_below_the_ceiling(monkeypatch, capsys):
    """End to end, through the spawned processes, on -sl (about 40 s); the test below builds and
    runs AAE's trainers as those processes do, in a second."""
    monkeypatch.setattr(bench, "split0_lengths", lambda: ([12, 30, 7, 20, 9], "a test list"))
    monkeypatch.setattr(bench, "cpu_matmul_dtype", lambda: "bfloat16")  # emulated if need be
    monkeypatch.setattr("sys.argv", ["bench", "--model", "sl", "--hidden", "8", "--videos", "2",
                                     "--per-update", "2", "3"])
    bench.main()
    printed = capsys.readouterr().out
    assert re.search(r"^oneDNN's instruction set: Intel .+; MKL's: (AVX|unknown \(MKL names its "
                     r"instruction set on Intel processors only\))", printed, re.MULTILINE)
    shares = re.findall(r"^(.+): [\d.]+ s per epoch, (\d+) % of an update in the LSTMs' "
                        r"backward$", printed, re.MULTILINE)
    assert len(shares) == 6 and all(0 <= int(share) <= 100 for _, share in shares)
    assert int(dict(shares)["fast trainer, 2 videos per update"]) > 0  # oneDNN's
    assert int(dict(shares)["fast trainer, 2 videos per update, bfloat16 products"]) > 0  # ours
    ratios = dict(re.findall(r"^(.+): ([\d.]+)× the baseline", printed, re.MULTILINE))
    assert {"faithful trainer", "fast trainer", "fast trainer, 2 videos per update",
            "fast trainer, 3 videos per update",
            "fast trainer, 2 videos per update, phase-2 fakes",
            "fast trainer, 2 videos per update, bfloat16 products"} <= set(ratios)
    ceiling = float(ratios.pop("fp32 ceiling"))
    assert all(0 < float(r) < ceiling for r in ratios.values())
    # the headline in the terms: against the faithful trainer and the ceiling
    faithful, share = re.search(r"^fast trainer: [\d.]+× the baseline, ([\d.]+)× the faithful "
                                r"trainer, (\d+) % of the fp32 ceiling$", printed,
                                re.MULTILINE).groups()
    assert float(faithful) == pytest.approx(
        float(ratios["fast trainer"]) / float(ratios["faithful trainer"]), rel=0.3)
    assert int(share) == pytest.approx(100 * float(ratios["fast trainer"]) / ceiling, abs=3)
    low, to_float32 = re.search(r"^fast trainer with bfloat16 products: ([\d.]+)× the baseline, "
                                r"[\d.]+× the faithful trainer, ([\d.]+)× the float32 fast "
                                r"trainer$", printed, re.MULTILINE).groups()
    assert float(to_float32) == pytest.approx(float(low) / float(ratios["fast trainer"]),
                                              rel=0.1)
    gains = re.search(r"^oneDNN's LSTM, 2 videos in a batch against one: ([\d.]+)× less per "
                      r"video-step forward, ([\d.]+)× backward", printed, re.MULTILINE).groups()
    assert all(float(gain) > 0 for gain in gains)


@pytest.mark.parametrize("cpu, isa, timed", [
    ("bfloat16", None, True), ("bfloat16", "AVX512_CORE_BF16", True),
    ("bfloat16", "avx512_core_amx", True), ("bfloat16", "AVX2", False),
    ("bfloat16", "AVX512_CORE", False), ("float32", None, False)])
def test_bfloat16_is_timed_only_where_the_cpu_and_isa_multiply_it_in_hardware(
        monkeypatch, cpu, isa, timed):
    monkeypatch.setattr(bench, "cpu_matmul_dtype", lambda: cpu)
    assert bench.times_bfloat16(isa) is timed


def test_batching_gain_is_large_where_a_step_costs_little_arithmetic():
    """A tiny layer's step costs about the same for 10 videos as for one (its time goes to the
    step's overheads, not its arithmetic), so each of 10 in a batch costs much less: at best
    about a tenth (measured 7-8.6x alone, 12.3x once beside CI's other tests: timing noise in the
    one-video run, so the upper bound only catches a wrong division, e.g. by the steps)."""
    forward, backward = bench.batching_gain(hidden=4, batch=10, threads=1, steps=50)
    assert 3 < forward < 20 and 3 < backward < 20


@pytest.mark.parametrize("model", ["sl", "aae"])
def test_every_trainer_a_benchmark_process_builds_runs_an_update(model):
    """What each process builds: an epoch's updates of its trainer and the factor to an epoch,
    every update of the course's trainers returning finite losses."""
    setup = bench.Setup(model, 8, 1, 1, (12, 30, 7, 20, 9), 2, (2, 3), bfloat16=True)
    for name in setup.trainer_names():
        updates, factor = bench.build_trainer(setup, name)
        if name in ("baseline", "faithful trainer"):  # timed on 2 videos of 42 steps of 78
            assert (len(updates), factor) == (2, pytest.approx(78 / 42)), name
        else:  # the whole epoch, several videos per update
            assert factor == 1.0 and 1 < len(updates) < 5, name
        losses = updates[0]()
        if name != "baseline":
            assert losses and all(math.isfinite(v) for v in losses.values()), name


def test_each_trainer_process_runs_on_the_threads_asked_for(monkeypatch):
    """--threads and --baseline-threads hold inside the trainers' CPU settings, which would
    otherwise put every course trainer on the course's one thread."""
    seen = {}

    def build(setup, name):
        return [lambda: seen.setdefault(name, torch.get_num_threads())], 1.0

    class Connection:
        def __init__(self):
            self.rounds = [0, None]

        def send(self, _):
            pass

        def recv(self):
            return self.rounds.pop(0)

    monkeypatch.setattr(bench, "build_trainer", build)
    setup = bench.Setup("sl", 8, 2, 1, (12, 30), 2, (2,))
    for name in ("baseline", "faithful trainer", "fast trainer, 2 videos per update"):
        bench.trainer_process(setup, name, Connection())
    assert seen == {"baseline": 1, "faithful trainer": 2,
                    "fast trainer, 2 videos per update": 2}


def test_a_trainer_process_that_fails_stops_the_run_by_name(monkeypatch):
    """Each trainer runs in a spawned process: one that dies (here: a zero hidden size, which
    PyTorch's LSTM refuses) ends the run with its name, instead of leaving it waiting."""
    monkeypatch.setattr(bench, "split0_lengths", lambda: ([12, 30, 7], "a test list"))
    for measured in ("onednn_isa", "mkl_isa", "matmul_rate"):  # read in the test above
        monkeypatch.setattr(bench, measured, lambda *args: 1)
    monkeypatch.setattr("sys.argv", ["bench", "--hidden", "0", "--videos", "1", "--per-update",
                                     "2"])
    with pytest.raises(SystemExit, match="The 'baseline' process stopped before it answered"):
        bench.main()


def test_the_instruction_set_asked_for_is_the_one_onednn_uses(monkeypatch):
    """What --isa sets, read back from oneDNN in a child process (setting it in this process
    would change the kernels of every later test once oneDNN starts)."""
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert bench.onednn_isa() == "Intel AVX2"


@pytest.mark.parametrize("isa, mkl", [("avx2", "AVX2"), ("AVX2_VNNI", "AVX2"),
                                       ("AVX512_CORE", "AVX512"), ("AVX512_CORE_AMX", None)])
def test_an_instruction_set_limits_mkl_too_except_with_amx(isa, mkl):
    """MKL does the ceiling's products and ignores oneDNN's variable: without its own, an "AVX2"
    run measured an AVX-512 ceiling."""
    wanted = {"ONEDNN_MAX_CPU_ISA": isa.upper(), **({"MKL_ENABLE_INSTRUCTIONS": mkl} if mkl
                                                   else {})}
    assert bench.isa_environment(isa) == wanted


def test_the_benchmark_starts_itself_again_with_both_variables(monkeypatch):
    """Both libraries read their variable once, when they first run: the benchmark execs itself
    with them set, and goes on when they already are."""
    class Restarted(Exception):
        pass

    def execve(path, argv, env):
        raise Restarted(argv, env)

    monkeypatch.setattr(bench.os, "execve", execve)
    monkeypatch.delenv("MKL_ENABLE_INSTRUCTIONS", raising=False)
    monkeypatch.setattr("sys.argv", ["bench.py", "--isa", "avx2", "--hidden", "8"])
    with pytest.raises(Restarted) as restarted:
        bench.main()
    argv, env = restarted.value.args
    assert argv[1:] == ["bench.py", "--isa", "avx2", "--hidden", "8"]
    assert env["ONEDNN_MAX_CPU_ISA"] == env["MKL_ENABLE_INSTRUCTIONS"] == "AVX2"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.setenv("MKL_ENABLE_INSTRUCTIONS", "AVX2")
    monkeypatch.setattr(bench, "split0_lengths", lambda: (_ for _ in ()).throw(Restarted("on")))
    with pytest.raises(Restarted, match="on"):  # no second start: it went on to the data
        bench.main()


def test_an_unknown_instruction_set_is_named_with_the_choices():
    with pytest.raises(SystemExit, match=r"--isa AVX3: not one of oneDNN's .*AVX2"):
        bench.isa_environment("AVX3")


MKL_FIRST_LINE = ("MKL_VERBOSE oneMKL 2024.0 Update 2 Product build 20240605 for Intel(R) 64 "
                  "architecture {} processors, Lnx 2.60GHz lp64 gnu_thread\n")


@pytest.mark.parametrize("processors, named", [
    ("Intel(R) Advanced Vector Extensions 2 (Intel(R) AVX2) enabled", "AVX2"),
    ("Intel(R) Advanced Vector Extensions 512 (Intel(R) AVX-512) enabled", "AVX-512"),
    ("Intel(R) Architecture", "unknown (MKL names its instruction set on Intel processors only)"),
])
def test_the_instruction_set_is_read_from_mkls_first_line(processors, named):
    """On an Intel CPU MKL's verbose mode names its instruction set; on an AMD EPYC (the
    course's CPU since 12-06) the same line names none, and the benchmark says why."""
    assert bench.isa_in_mkl_verbose(MKL_FIRST_LINE.format(processors)) == named
    assert bench.isa_in_mkl_verbose("") == "unknown (MKL said nothing)"


def test_mkl_runs_on_the_instruction_set_its_variable_allows(monkeypatch):
    if bench.mkl_isa().startswith("unknown"):
        pytest.skip("MKL names its instruction set on Intel processors only, and this CPU's "
                    "MKL named none: what it runs on cannot be read here")
    monkeypatch.setenv("MKL_ENABLE_INSTRUCTIONS", "AVX2")
    assert bench.mkl_isa() == "AVX2"


# ---------------------------------------------------------------- the GPU check, on a CPU

def test_the_gpu_check_runs_every_path_at_smoke_sizes(tmp_path, capsys):
    """What CI can do of benchmarks/gpu_check.py: every notebook's training path at smoke sizes
    on the CPU, each timed, repeatable from its seed, and reported PASS."""
    import json

    import gpu_check

    figures = tmp_path / "figures.json"
    assert gpu_check.main(["--cpu-tiny", "--faithful-videos", "2", "--json", str(figures)]) == 0
    printed = capsys.readouterr().out
    assert set(re.findall(r"^PASS (\S+)$", printed, re.MULTILINE)) == set(gpu_check.CHECKS)
    checks = {c["name"]: c for c in json.loads(figures.read_text())}
    assert set(checks) == set(gpu_check.CHECKS)
    for name, check in checks.items():
        assert check["ok"] and check["units_timed"] >= 1, name
        if name != "06-runner":
            assert check["checkpoint_mib"] > 0, name
        if name in gpu_check.FAMILY_PATHS:
            assert "identical weights" in " ".join(check["notes"]), name


def test_the_gpu_check_reports_a_failing_or_unrepeatable_path(monkeypatch, capsys):
    import gpu_check

    monkeypatch.setattr(gpu_check, "same_weights", lambda a, b: False)
    assert gpu_check.main(["--cpu-tiny", "--only", "04-sum-gan-sl-fast"]) == 1
    assert re.search(r"^FAIL 04-sum-gan-sl-fast: RuntimeError: an epoch repeated from the same "
                     r"seed gave different weights", capsys.readouterr().out, re.MULTILINE)


def test_the_fused_decoder_benchmark_times_every_variant_against_the_step_loop(monkeypatch,
                                                                               capsys):
    import bench_fused_decoder

    from course_lib.models import lstm_autoencoder

    # the script sets the LSTM kernel for each variant: as it was for the tests after this one
    monkeypatch.setattr(lstm_autoencoder, "USE_ONEDNN_LSTM", lstm_autoencoder.USE_ONEDNN_LSTM)
    monkeypatch.setattr("sys.argv", ["bench", "--hidden", "8", "--layers", "1", "--batch", "2",
                                     "--canvas", "8", "--repeats", "2", "--warmup", "0",
                                     "--device", "cpu"])
    bench_fused_decoder.main()
    printed = capsys.readouterr().out
    ratios = dict(re.findall(r"^ *(.+): median [\d.]+ s/step .*; ([\d.]+)x the baseline$",
                             printed, re.MULTILINE))
    assert set(ratios) == set(bench_fused_decoder.VARIANTS)
    assert float(ratios["step loop (baseline)"]) == 1.0
    assert re.search(r"^speed-up, course implementation vs the step loop: [\d.]+x$", printed,
                     re.MULTILINE)
    assert re.search(r"^bfloat16 products vs float32 \(the course's\): [\d.]+x$", printed,
                     re.MULTILINE)
    assert re.search(r"^This CPU multiplies bfloat16 (in hardware|by emulation)", printed,
                     re.MULTILINE)


def test_the_knapsack_benchmark_finds_both_solvers_select_alike(monkeypatch, capsys):
    """On the stand-in with SumMe's lengths (the real annotations kept out): both solvers pick
    the same frames, so the speed-up compares like with like."""
    import bench_knapsack

    monkeypatch.setattr(bench_knapsack, "load_annotations", lambda name: None)
    monkeypatch.setattr("sys.argv", ["bench", "--epochs", "2"])
    bench_knapsack.main()
    printed = capsys.readouterr().out
    assert "summe-sized stand-in (random): 5 splits × 2 epochs = 50 test-video evaluations" \
        in printed
    assert re.search(r"^speed-up: [\d.]+×   identical selections: True   identical F-scores: "
                     r"True$", printed, re.MULTILINE)
