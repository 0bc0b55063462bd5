"""Tests for the one audio reader/writer: formats, atomic writes, resampling."""

import numpy as np
import pytest
import soundfile as sf

from pipelines.io.audio_io import read_audio, resample, write_audio


def _tone(sr: int = 24000, seconds: float = 0.5, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_write_then_read_round_trip(tmp_path, suffix):
    audio = _tone()
    path = write_audio(tmp_path / f"x{suffix}", audio, 24000)
    back, sr = read_audio(path)
    assert sr == 24000
    assert back.shape == audio.shape
    tol = 0 if suffix == ".wav" else 2.0**-22
    np.testing.assert_allclose(back, audio, atol=tol)
    assert [p.name for p in tmp_path.iterdir()] == [f"x{suffix}"]


def test_write_refuses_bad_audio_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="NaN"):
        write_audio(tmp_path / "x.wav", np.array([0.0, np.nan], dtype=np.float32), 24000)
    with pytest.raises(ValueError, match="unsupported output format"):
        write_audio(tmp_path / "x.mp4", _tone(), 24000)
    with pytest.raises(ValueError, match="mono"):
        write_audio(tmp_path / "x.wav", np.zeros((2, 10), dtype=np.float32), 24000)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_audio(tmp_path / "missing" / "x.wav", _tone(), 24000)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_previous_file_and_no_temp(tmp_path, monkeypatch):
    path = write_audio(tmp_path / "x.wav", _tone(), 24000)
    before = path.read_bytes()

    def broken_write(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(sf.SoundFile, "write", broken_write)
    with pytest.raises(OSError, match="disk full"):
        write_audio(path, _tone(freq=880.0), 24000)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.wav"]


def test_read_resamples_and_mixes_to_mono(tmp_path):
    stereo = np.stack([_tone(44100), _tone(44100)], axis=1)
    sf.write(tmp_path / "s.wav", stereo, 44100)
    audio, sr = read_audio(tmp_path / "s.wav", sampling_rate=16000)
    assert sr == 16000
    assert audio.ndim == 1 and abs(audio.shape[0] - 8000) <= 1
    # a 440 Hz tone stays a 440 Hz tone
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * 16000 / audio.shape[0] - 440) < 5


def test_read_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_audio(tmp_path / "nope.wav")
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    with pytest.raises(ValueError, match="cannot read"):
        read_audio(tmp_path / "bad.wav")


def test_resample_identity_and_length():
    x = _tone()
    assert resample(x, 24000, 24000) is not None
    np.testing.assert_array_equal(resample(x, 24000, 24000), x)
    assert resample(x, 24000, 16000).shape == (8000,)
    with pytest.raises(ValueError, match="positive"):
        resample(x, 0, 16000)


def test_same_samples_give_identical_bytes_and_normal_permissions(tmp_path):
    audio = _tone()
    first = write_audio(tmp_path / "a.wav", audio, 24000).read_bytes()
    import time

    time.sleep(1.1)  # libsndfile's PEAK chunk would carry a different timestamp
    second = write_audio(tmp_path / "b.wav", audio, 24000).read_bytes()
    assert first == second
    assert (tmp_path / "a.wav").stat().st_mode & 0o777 == 0o666 & ~_current_umask()


def _current_umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_check_audio_output_fails_early_on_a_folder(tmp_path):
    from pipelines.io.audio_io import check_audio_output

    (tmp_path / "d.wav").mkdir()
    with pytest.raises(PermissionError, match="not a writable file path"):
        check_audio_output(tmp_path / "d.wav")
    with pytest.raises(ValueError, match="unsupported output format"):
        check_audio_output(tmp_path / "x.ogg")
    assert check_audio_output(tmp_path / "x.wav") == tmp_path / "x.wav"
    assert not (tmp_path / "x.wav").exists()  # a check, not a write
