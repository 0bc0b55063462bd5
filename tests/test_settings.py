"""The engine's settings: the `BARK_VOCOS_*` pins read once, checked at start (a typo names the valid values before
any model loads), overridden for a block, forwarded as variables; the hot path never reads the environment."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bark_vocos import settings as settings_module
from bark_vocos.choices import CHOICES, StepEngineKey
from bark_vocos.settings import VARIABLES, Settings, override, reload, settings

ROOT = Path(__file__).resolve().parents[1]
ALL_PINNED = {
    "BARK_VOCOS_KERNEL": "aten",
    "BARK_VOCOS_INT8_KERNEL": "fbgemm",
    "BARK_VOCOS_DECODE_ENGINE": "torch",
    "BARK_VOCOS_ATTENTION": "bfloat16",
    "BARK_VOCOS_EXACT_ATTENTION": "float32_heads",
    "BARK_VOCOS_DRAFT_TOKENS": "3",
    "BARK_VOCOS_TUNING_RECORD": "/tmp/tuning.json",
}


def test_every_variable_is_read_and_given_back_as_text():
    pinned = Settings.from_environ(ALL_PINNED | {"BARK_VOCOS_API_KEY": "not ours", "PATH": "/bin"})
    assert pinned == Settings("aten", "fbgemm", "torch", "bfloat16", "float32_heads", 3, "/tmp/tuning.json")
    assert pinned.environ() == ALL_PINNED
    assert Settings.from_environ(pinned.environ()) == pinned
    assert Settings.from_environ({name: "" for name in ALL_PINNED}) == Settings()  # empty: unset
    assert Settings().environ() == {}
    assert pinned.pin("BARK_VOCOS_EXACT_ATTENTION") == "float32_heads" and Settings().pin("BARK_VOCOS_KERNEL") is None
    assert {variable for variable, _ in VARIABLES.values()} == set(ALL_PINNED)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("BARK_VOCOS_KERNEL", "mkl", "BARK_VOCOS_KERNEL='mkl' is not a kernel here; valid: ['aten', 'onednn', 'onednn"),
        ("BARK_VOCOS_INT8_KERNEL", "vnni", "valid: ['fbgemm', 'onednn']"),
        ("BARK_VOCOS_DECODE_ENGINE", "ort", "valid: ['onnxruntime', 'torch']"),
        ("BARK_VOCOS_ATTENTION", "float16", "valid: ['bfloat16', 'float32', 'float32_heads']"),
        ("BARK_VOCOS_EXACT_ATTENTION", "bfloat16", "valid: ['float32', 'float32_heads']"),
        ("BARK_VOCOS_DRAFT_TOKENS", "x", "BARK_VOCOS_DRAFT_TOKENS='x' is not a count of draft tokens from 0 to 16"),
        ("BARK_VOCOS_DRAFT_TOKENS", "17", "BARK_VOCOS_DRAFT_TOKENS=17 is not a count of draft tokens from 0 to 16"),
        ("BARK_VOCOS_DRAFT_TOKENS", "-1", "is not a count of draft tokens"),
    ],
)
def test_a_bad_value_names_its_variable_and_the_valid_values(variable, value, message):
    with pytest.raises(ValueError) as raised:
        Settings.from_environ({variable: value})
    assert message in str(raised.value)


def test_an_override_holds_for_its_block_and_nests():
    before = settings()
    with override(decode_engine="torch") as outer:
        assert settings() is outer and outer.decode_engine == "torch"
        with override(draft_tokens=0, decode_engine=None):
            assert (settings().decode_engine, settings().draft_tokens) == (None, 0)
        assert settings() is outer
    assert settings() is before
    with pytest.raises(ValueError, match="BARK_VOCOS_INT8_KERNEL='vnni'"):
        with override(int8_kernel="vnni"):
            pass
    with pytest.raises(TypeError):
        with override(kernal="aten"):
            pass
    assert settings() is before


def test_the_environment_is_read_once_and_a_reload_checks_it(monkeypatch):
    before = settings()
    monkeypatch.setenv("BARK_VOCOS_DECODE_ENGINE", "nonsense")
    assert settings() is before  # read once: a later change of the environment does nothing
    candidates = {"torch": lambda: None, "onnxruntime": lambda: None}
    key = StepEngineKey(8, 1, 1, 1, False)
    with override(decode_engine="onnxruntime"):  # the hot path reads the settings, not the environment
        assert CHOICES["decode_engine"].choose(key, candidates) == "onnxruntime"
    with pytest.raises(ValueError, match="'nonsense' is not a kernel here"):
        reload()
    assert settings() is before  # unchanged by the failed reload
    monkeypatch.setenv("BARK_VOCOS_DECODE_ENGINE", "torch")
    try:
        assert reload().decode_engine == "torch" and settings().decode_engine == "torch"
    finally:
        monkeypatch.delenv("BARK_VOCOS_DECODE_ENGINE")
        monkeypatch.setattr(settings_module, "_current", before)


def test_no_engine_module_reads_the_environment():
    engine = [ROOT / "bark_vocos" / name for name in ("kernels.py", "timing.py")]
    engine += sorted((ROOT / "bark_vocos" / "bark").glob("*.py"))
    assert [path.name for path in engine if "os.environ" in path.read_text(encoding="utf-8")] == []


def test_a_typo_fails_before_the_model_loads(tiny_dir, monkeypatch):
    from transformers import BarkModel

    from pipelines import TextToWavPipeline

    def load(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(BarkModel, "from_pretrained", load)
    monkeypatch.setenv("BARK_VOCOS_EXACT_ATTENTION", "float32heads")
    monkeypatch.setattr(settings_module, "_current", None)  # as in a process that has not read its settings yet
    with pytest.raises(
        ValueError, match=r"BARK_VOCOS_EXACT_ATTENTION='float32heads' .* \['float32', 'float32_heads'\]"
    ):
        TextToWavPipeline.from_pretrained(tiny_dir / "bark", vocoder=tiny_dir / "vocos")


def test_a_typo_is_one_error_line_of_the_cli(tiny_dir, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "BARK_VOCOS_DECODE_ENGINE": "onnx"}
    out = tmp_path / "x.wav"
    args = ["say", "hello", "--bark", str(tiny_dir / "bark"), "--vocoder", str(tiny_dir / "vocos"), "-o", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "pipelines", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "bark-vocos: error: BARK_VOCOS_DECODE_ENGINE='onnx' is not a kernel here; valid: ['onnxruntime', 'torch']"
    ]
    assert list(tmp_path.iterdir()) == []
