"""The registry of measured choices: typed keys, a report by field name, reset, and a per-machine record saved
atomically and loaded back, ignored with one warning when it is unreadable or from another machine."""

import json
import warnings

import pytest
import torch
from torch import nn

from bark_vocos.choices import CHOICES, AttentionKey, LinearKey, StepEngineKey, machine_fingerprint
from bark_vocos.kernels import FORCE_VARIABLE, linear, linear_kernel_names, rows_bucket

ENGINE_KEY = StepEngineKey(hidden_size=32, layers=2, batch=1, threads=2, int8=False)
ATTENTION_KEY = AttentionKey(heads=4, queries=6, keys=7, head_size=16, masked=False, causal=True, threads=2)


def _some_choices() -> None:
    CHOICES.reset()
    CHOICES["decode_engine"].record(ENGINE_KEY, "onnxruntime")
    CHOICES["attention"].record(ATTENTION_KEY, "bfloat16")


def test_the_report_names_each_key_field_and_reset_forgets():
    _some_choices()
    assert CHOICES.report() == [
        {"kind": "attention", "key": ATTENTION_KEY._asdict(), "choice": "bfloat16"},
        {"kind": "decode_engine", "key": ENGINE_KEY._asdict(), "choice": "onnxruntime"},
    ]
    assert CHOICES.report()[1]["key"]["int8"] is False
    CHOICES.reset("attention")
    assert [entry["kind"] for entry in CHOICES.report()] == ["decode_engine"]
    CHOICES.reset()
    assert CHOICES.report() == []


def test_a_kind_takes_only_its_own_key_type():
    with pytest.raises(TypeError, match="keyed by StepEngineKey"):
        CHOICES["decode_engine"].record((32, 2, 1, 2, False), "torch")  # a plain tuple
    with pytest.raises(TypeError, match="keyed by AttentionKey"):
        CHOICES["attention"].choose(ENGINE_KEY, {"float32": lambda: None})
    with pytest.raises(TypeError, match="candidate's name"):
        CHOICES["decode_engine"].record(ENGINE_KEY, 1)


@pytest.mark.skipif(len(linear_kernel_names()) < 2, reason="this torch has one float32 linear kernel: nothing timed")
def test_a_measured_choice_is_reported_under_its_typed_key(pins):
    pins({FORCE_VARIABLE: None})
    CHOICES.reset()
    with torch.no_grad():
        linear(torch.randn(3, 16), nn.Linear(16, 32))
    (entry,) = CHOICES.report()
    key = LinearKey(rows_bucket(3), 32, 16, False, False, torch.get_num_threads())
    assert entry == {"kind": "linear", "key": key._asdict(), "choice": entry["choice"]}
    assert entry["choice"] in ("onednn", "aten")


def test_a_record_is_saved_atomically_and_loaded_back(tmp_path):
    _some_choices()
    expected = CHOICES.report()
    path = tmp_path / "tuning" / "choices.json"
    CHOICES.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["choices.json"]  # no temporary file left
    record = json.loads(path.read_text())
    assert record["machine"] == machine_fingerprint() and record["choices"] == expected
    CHOICES.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert CHOICES.load(path) == 2
    assert CHOICES.report() == expected
    assert type(next(iter(CHOICES["decode_engine"].choices))) is StepEngineKey


def test_a_missing_record_loads_nothing_quietly(tmp_path):
    CHOICES.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert CHOICES.load(tmp_path / "none.json") == 0


def _record(tmp_path, change) -> object:
    _some_choices()
    path = tmp_path / "choices.json"
    CHOICES.save(path)
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))
    CHOICES.reset()
    return path


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda record: record["machine"].update(cpu="Another CPU"), "made with another cpu"),
        (lambda record: record["machine"].update(torch="0.1", isa="NONE"), "made with another isa, torch"),
        (lambda record: record.update(format=0), "unreadable"),
        (lambda record: record["choices"][0].update(kind="turbo"), "unreadable"),
        (lambda record: record["choices"][0]["key"].pop("threads"), "unreadable"),
        (lambda record: record["choices"][1].update(choice=None), "unreadable"),
    ],
)
def test_a_stale_or_corrupt_record_is_ignored_with_one_warning(tmp_path, change, reason):
    path = _record(tmp_path, change)
    with pytest.warns(UserWarning, match=rf"^bark-vocos: ignored the tuning record .*{reason}") as caught:
        assert CHOICES.load(path) == 0
    assert len(caught) == 1
    assert CHOICES.report() == []  # nothing kept, not even the entries before the bad one


def test_a_file_that_is_not_json_is_ignored_with_one_warning(tmp_path):
    path = tmp_path / "choices.json"
    path.write_text('{"format": 1, "machine": {')
    with pytest.warns(UserWarning, match="unreadable") as caught:
        assert CHOICES.load(path) == 0
    assert len(caught) == 1
