"""`python -m bark_vocos` runs the `bark-vocos` command line."""

import sys

from pipelines.cli import main

sys.exit(main())
