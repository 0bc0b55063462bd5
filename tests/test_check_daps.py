"""Opt-in (slow): the metric pipeline against the published PESQ table, on the real DAPS audio in ../shared/."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DAPS = ROOT.parent / "shared" / "reference-audio" / "daps-resynthesis"


@pytest.mark.slow
@pytest.mark.skipif(not DAPS.is_dir(), reason="needs ../shared/reference-audio/daps-resynthesis (real audio)")
def test_daps_pesq_within_tolerance_of_published(tmp_path, monkeypatch, capsys):
    from pipelines.compare import daps as check_daps

    monkeypatch.setattr("sys.argv", ["check_daps", "--root", str(DAPS), "--out", str(tmp_path)])
    assert check_daps.main() == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.endswith(tuple("0123456789"))]
    assert len(rows) == 8  # 4 bandwidths x 2 decoders, each: bandwidth, decoder, measured, published, diff
    for bandwidth, decoder, measured, published, _diff in rows:
        assert abs(float(measured) - float(published)) <= 0.15, (bandwidth, decoder, measured, published)
