"""The shared runtime settings: seeding and PyTorch's deterministic kernels."""

import subprocess
import sys

import torch

from course_lib import runtime


def test_seeding_gives_the_same_draws_twice():
    draws = []
    for _ in range(2):
        rng = runtime.seed_everything(3)
        draws.append((torch.rand(2).tolist(), rng.random(2).tolist()))
    assert draws[0] == draws[1]


def test_seeding_turns_on_the_deterministic_kernels_with_warnings_only():
    before = (torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled())
    try:
        torch.use_deterministic_algorithms(False)
        runtime.seed_everything(0)
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])


def test_seeding_does_not_import_the_compiler():
    """Every job process seeds: importing torch._inductor there cost 1.5 s per job."""
    code = ("import sys; from course_lib import runtime; runtime.seed_everything(0); "
            "print('torch._inductor' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
