"""``python -m cyclr``: the same as the ``cyclr`` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
