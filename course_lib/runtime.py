"""Seeding, determinism and device choice: one place, so every notebook behaves the same way."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

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
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    return np.random.default_rng(seed)


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
