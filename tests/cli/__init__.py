"""Tests of the ``cyclr`` command line, the demo and the README examples."""
