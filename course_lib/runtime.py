"""Seeding, determinism, device choice, the CPU's handling of denormal numbers and NumPy's BLAS
threads: one place, so every notebook behaves the same way."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import random
import re

import numpy as np
import torch
from threadpoolctl import threadpool_limits

_announced: set[str] = set()


def seed_everything(seed: int = 0, deterministic: bool = True) -> np.random.Generator:
    """Seed Python, NumPy and PyTorch (all devices) and return a NumPy generator for data.

    PyTorch promises no bit-identical results across versions or CPU vs GPU, so determinism here
    means: the same machine and versions give the same numbers twice.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        # cuBLAS needs this for deterministic matmuls; it must be set before the first CUDA call.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        _use_deterministic_kernels()
        torch.backends.cudnn.benchmark = False
    return np.random.default_rng(seed)


def _use_deterministic_kernels() -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` without the compiler that
    it imports to set the same flag in ``torch.compile``'s configuration (``torch._inductor``:
    1.5 s of every process on the 2-core AMD EPYC, paid by each job of the runner and each
    worker), since the course never compiles a model."""
    set_kernels = getattr(torch._C, "_set_deterministic_algorithms", None)
    if set_kernels is None:  # a PyTorch without it: the public call
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        set_kernels(True, warn_only=True)


def get_device(prefer: str | None = None, verbose: bool = True) -> torch.device:
    """CUDA if present, else Apple MPS, else CPU (or `prefer`); says which, once per session."""
    if prefer is not None:
        device = torch.device(prefer)
    elif torch.cuda.is_available():
        device = torch.device("cuda")
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = torch.device("mps")
    else:
        device = torch.device("cpu")
    if verbose and device.type not in _announced:
        _announced.add(device.type)
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
        print(f"Device: {name} (torch {torch.__version__}, {torch.get_num_threads()} CPU threads)")
    return device


def synchronize(device: torch.device) -> None:
    """Wait for ``device`` to finish its queued work (a GPU runs asynchronously: a clock read
    without this times the queueing, not the work); nothing to wait for on a CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def flush_denormals(on: bool) -> bool:
    """Flush float32 numbers below the smallest normal one (1.2e-38) to zero (``on``), or stop,
    on this thread and on PyTorch's intra-op threads; returns whether those threads do too.

    ``torch.set_flush_denormal`` sets the calling thread's floating-point state only: with two
    threads, half of a large product of denormals stayed unflushed (measured). The threads of
    an OpenMP runtime copy that state from the thread that creates them, so every OpenMP runtime
    in the process (PyTorch's, and others' such as scikit-learn's own copy) frees them (OpenMP
    5's ``omp_pause_resource_all``) and the next parallel operation creates them afresh. False
    where none is found (Linux's /proc/self/maps lists them) or one cannot pause: then only
    this thread does as asked."""
    torch.set_flush_denormal(on)
    pauses = [_openmp_pause(path) for path in _openmp_runtimes()]
    return bool(pauses) and all(pause is not None and pause(1) == 0  # 1: omp_pause_soft
                                for pause in pauses)


# GNU's, LLVM's or Intel's OpenMP runtime as a loaded file: libgomp.so.1, libgomp-a34b3233.so.1
# (a wheel's own copy), libgomp.so.1.0.0, libomp.so.5, libiomp5.so
_OPENMP_RUNTIME = re.compile(r"/lib(gomp|omp|iomp5)(-[0-9a-f]+)?\.so(\.\d+)*$")


def _openmp_runtimes() -> list[str]:
    """The files of the OpenMP runtimes this process has loaded (more may load later)."""
    try:
        with open("/proc/self/maps") as maps:
            return sorted({line.split()[-1] for line in maps
                           if _OPENMP_RUNTIME.search(line.rstrip())})
    except OSError:
        return []


@functools.cache
def _openmp_pause(path: str):
    """``omp_pause_resource_all`` of the OpenMP runtime loaded from ``path``, or None."""
    with contextlib.suppress(OSError, AttributeError):
        pause = ctypes.CDLL(path).omp_pause_resource_all
        pause.argtypes, pause.restype = [ctypes.c_int], ctypes.c_int
        return pause
    return None


def one_blas_thread(function):
    """``function`` with NumPy's BLAS on one thread, so that its result's bits do not depend on
    the thread count: a product split over more threads adds in another order. On a 2-core AMD
    EPYC (OpenBLAS), the synthetic videos' features came out different on two threads than in
    the experiment runner's one-thread jobs, which then refused the notebook's data as another
    dataset."""
    @functools.wraps(function)
    def on_one_thread(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return function(*args, **kwargs)
    return on_one_thread
