"""``python -m bench.datasets``: list, verify and fetch datasets (:func:`bench.datasets.catalog.main`)."""

import sys

from bench.datasets.catalog import main

sys.exit(main())
