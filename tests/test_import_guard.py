"""The core must not pull in any framework, plotting or progress library at import."""

import subprocess
import sys

HEAVY = ("torch", "jax", "keras", "matplotlib", "tqdm", "tensorflow", "plotext", "sklearn")


def test_import_cyclr_loads_no_framework() -> None:
    code = (
        "import sys, cyclr, cyclr.schedules, cyclr.rangetest, cyclr.plot\n"
        f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"import cyclr loaded: {out}"
