"""``python -m methods``: fit, denoise and inspect models on your own images (see :mod:`methods.cli`)."""

import sys

from methods.cli import main

sys.exit(main())
