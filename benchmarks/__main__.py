"""``python -m benchmarks``: the LR-finder and CLR benchmark suite (see benchmarks/suite)."""

import sys

from benchmarks.suite.cli import main

sys.exit(main())
