"""LR finder suggestions on small real tasks, against a fixed-LR oracle and the peers.

``python -m benchmarks`` (or ``make bench``) runs everything; ``--quick`` is the
seconds-long path the test suite runs. See :mod:`benchmarks.suite.run` for the phases.
"""
