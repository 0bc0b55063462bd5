"""`python -m pipelines` runs the `bark-vocos` command line."""

import sys

from pipelines.commands import main

sys.exit(main())
