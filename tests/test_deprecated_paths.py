"""Old import paths (the engine's, the flat `pipelines` modules') work for one release, warning with the new one."""

import importlib
import sys

import pytest

import bark_vocos.bark as bark
from bark_vocos.bark import engines, optimized
from pipelines.deprecated import MOVED


@pytest.mark.parametrize(
    ("module", "names"),
    [
        ("bark_vocos.bark.fast", {"FastBarkStages": "OptimizedBarkStages", "FAST_BARK_MODES": "OPTIMIZED_MODES"}),
        ("bark_vocos.bark.stages", {"bark_stages": "bark_stages", "ENGINES": "ENGINES", "BarkStages": "BarkStages"}),
    ],
)
def test_an_old_module_warns_and_gives_the_new_objects(module, names, monkeypatch):
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.warns(DeprecationWarning, match=r"^bark-vocos: ") as caught:
        old = importlib.import_module(module)
    assert module in str(caught[0].message)
    for old_name, new_name in names.items():
        new = getattr(optimized, new_name, None) or getattr(engines, new_name)
        assert getattr(old, old_name) is new


@pytest.mark.parametrize(
    ("old", "new"), [("FastBarkStages", "OptimizedBarkStages"), ("FAST_BARK_MODES", "OPTIMIZED_MODES")]
)
def test_an_old_package_name_warns_and_gives_the_new_object(old, new):
    with pytest.warns(DeprecationWarning, match=rf"^bark-vocos: bark_vocos\.bark\.{old} is deprecated, use {new}"):
        value = getattr(bark, old)
    assert value is getattr(bark, new)
    assert bark.OPTIMIZED_MODES == ("exact", "fast")
    with pytest.raises(AttributeError, match="no attribute 'FasterStages'"):
        bark.FasterStages  # noqa: B018


def test_the_old_module_still_names_the_measured_choices(monkeypatch):
    from bark_vocos.choices import CHOICES

    monkeypatch.delitem(sys.modules, "bark_vocos.bark.fast", raising=False)
    with pytest.warns(DeprecationWarning, match="bark_vocos.choices"):
        old = importlib.import_module("bark_vocos.bark.fast")
    assert old.DECODE_ENGINES is CHOICES["decode_engine"] and old.ATTENTION_KERNELS is CHOICES["attention"]
    assert old.DRAFT_TOKENS_VARIABLE == "BARK_VOCOS_DRAFT_TOKENS" and old.HEADS_KERNEL == "float32_heads"


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_an_old_pipelines_module_warns_and_is_the_new_module(old, new, monkeypatch):
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=rf"^bark-vocos: {old} is deprecated, import from {new}$"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
