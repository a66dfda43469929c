"""cyclr's benchmarks: ``python -m benchmarks`` runs the suite in :mod:`benchmarks.suite`."""
