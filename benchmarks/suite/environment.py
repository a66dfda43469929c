"""The machine and the package versions a report names in its header."""

from __future__ import annotations

import importlib.metadata
import os
import platform


def versions() -> dict[str, str]:
    """Versions of Python and the packages that matter."""
    out = {"python": platform.python_version()}
    for dist in (
        "torch",
        "numpy",
        "cyclr",
        "torch-lr-finder",
        "fastai",
        "fastcore",
        "fastprogress",
        "lightning",
        "pytorch-ignite",
        "scikit-learn",
        "mnist1d",
        "matplotlib",
    ):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def machine() -> str:
    """A one-line description of the machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} logical CPUs"
