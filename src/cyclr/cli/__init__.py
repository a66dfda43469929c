"""The ``cyclr`` command line (also ``python -m cyclr``), one module per command.

Commands:

* ``cyclr demo`` (:mod:`.demo`): the whole method on real data (range test, bounds,
  fixed LR versus triangular2 versus one-cycle), figures and JSON written to ``--out``.
* ``cyclr schedule KIND`` (:mod:`.schedule`): preview a schedule in the terminal,
  optionally as a figure / CSV.
* ``cyclr plot RESULT`` (:mod:`.plot`): draw a saved range test, with every suggestion.
* ``cyclr suggest RESULT`` (:mod:`.suggest`): every suggestion, the CLR bounds and a
  snippet.

Only this package and :mod:`cyclr.demo`'s report print. Heavy libraries are imported
inside the commands that need them: ``schedule``, ``plot`` and ``suggest`` never load
torch, and matplotlib is loaded only when a figure is asked for.

User errors (a bad number, a missing or corrupt file, an unknown kind, a missing extra)
print one line, ``cyclr: error: ...``, and exit with status 2
(:mod:`.common`).
"""

from ..plot import save_figure
from .common import EXIT_USAGE, CliError
from .main import build_parser, main
from .suggest import report, snippet

__all__ = ["EXIT_USAGE", "CliError", "build_parser", "main", "report", "save_figure", "snippet"]
