"""``python -m kerasnotes`` runs the same command line as ``kerasnotes``."""

import sys

from kerasnotes.cli import main

sys.exit(main())
