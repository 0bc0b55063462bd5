"""`python -m pipelines.compare.daps`: PESQ of the Vocos authors' DAPS resyntheses against the published table.

Runs `bark-vocos compare` scoring mode (the same code path as the CLI) over
`<root>/<bw>/{encodec,vocos}` against `<root>/gt` for 1.5/3/6/12 kbps, writes one report per bandwidth under
`--out`, and prints each measured mean PESQ next to the published value (Vocos paper, Table 4). The published
numbers are only printed and compared here; nothing is computed from them.

    python -m pipelines.compare.daps --root ../shared/reference-audio/daps-resynthesis --out out/daps

Exit code 0 when every cell lands within --tolerance (default 0.15) of the published value, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.compare.report import write_report
from pipelines.compare.scoring import compare_dirs

# Vocos paper (arXiv 2306.00814), Table 4, PESQ on DAPS: bandwidth -> (EnCodec decoder, Vocos).
PUBLISHED_PESQ = {"1.5kbps": (1.508, 1.845), "3kbps": (2.006, 2.317), "6kbps": (2.665, 2.650), "12kbps": (3.283, 2.874)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("../shared/reference-audio/daps-resynthesis"))
    parser.add_argument("--out", type=Path, default=Path("out/daps"))
    parser.add_argument("--tolerance", type=float, default=0.15)
    args = parser.parse_args()
    failures = 0
    print(f"{'bandwidth':<10}{'decoder':<9}{'measured':>9}{'published':>10}{'diff':>8}")
    for bandwidth, published in PUBLISHED_PESQ.items():
        comparison = compare_dirs(
            {name: args.root / bandwidth / name for name in ("encodec", "vocos")}, reference_dir=args.root / "gt"
        )
        write_report(comparison, args.out / bandwidth)
        summary = comparison.summary()
        for name, target in zip(("encodec", "vocos"), published, strict=True):
            measured = summary[name]["pesq"]
            ok = abs(measured - target) <= args.tolerance
            failures += not ok
            verdict = "" if ok else "  FAIL"
            print(f"{bandwidth:<10}{name:<9}{measured:>9.3f}{target:>10.3f}{measured - target:>+8.3f}{verdict}")
    print("all cells within tolerance" if not failures else f"{failures} cell(s) outside +-{args.tolerance}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
