"""Device selection: CUDA when present, otherwise the CPU. Never assume a GPU."""
from __future__ import annotations

import os

import torch


def get_device() -> torch.device:
    """The device models and attacks run on.

    CUDA is used automatically when available; ``EXPLORER_DEVICE=cpu`` forces the CPU
    (useful for reproducing CPU numbers on a GPU machine).
    """
    forced = os.environ.get("EXPLORER_DEVICE", "").strip().lower()
    if forced:
        return torch.device(forced)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def describe_device(device: torch.device | None = None) -> str:
    """A human-readable name of the device, for reports and the sidebar."""
    device = device or get_device()
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    return f"CPU ({torch.get_num_threads()} threads)"
