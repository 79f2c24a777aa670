"""``python -m core …``: the command line (see :mod:`core.cli.commands`)."""
from __future__ import annotations

import sys

from core.cli.commands import main

if __name__ == "__main__":
    sys.exit(main())
