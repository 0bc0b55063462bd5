"""The benchmarks' work (`bark-vocos bench pipeline|stream|vocoder`): random models built, timed, reported; and their
helpers: the machine's description and measured rates (`machine`), the roofline floors (`roofline`, `floors`).

Kept apart from `pipelines.commands`, whose modules only declare options, so a command's `--help` loads no torch.
"""

__all__: list[str] = []
