"""`python -m pipelines` runs the `bark-vocos` command line."""

import sys

from pipelines.commands import main

if __name__ == "__main__":
    sys.exit(main())
