"""The benchmarks' work (`bark-vocos bench pipeline|stream|vocoder`): random models built, timed, reported.

Kept apart from `pipelines.commands`, whose modules only declare options, so a command's `--help` loads no torch.
"""

__all__: list[str] = []
