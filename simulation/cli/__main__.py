"""``python -m simulation.cli``: the same as the ``sufficiency`` command."""

import sys

from simulation.cli import main

sys.exit(main())
