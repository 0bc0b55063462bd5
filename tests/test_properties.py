"""Properties of the parsers users feed directly, checked by hypothesis on generated inputs (bounded examples).

Sentence splitter and chunk planner, JOBS files, voice preset files, the streamed WAV writer.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import soundfile as sf

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

from pipelines.batch.jobs import read_jobs  # noqa: E402
from pipelines.io.wav_stream import WavStreamWriter  # noqa: E402
from pipelines.speech.sentences import chunk_text, split_sentences  # noqa: E402
from pipelines.speech.voice_presets import resolve_voice_preset  # noqa: E402

BOUNDED = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
WORDS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=300)
PROSE = st.lists(
    st.one_of(
        st.sampled_from(
            ["Hello", "there", "Dr.", "e.g.", "3.14", "J.", "...", "!", "?", ",", ";", "\n\n", "。", "日本語"]
        ),
        st.text(alphabet="abcdefghij", min_size=1, max_size=12),
    ),
    max_size=60,
).map(" ".join)


def _words(text: str) -> list[str]:
    return text.split()


@BOUNDED
@given(st.one_of(WORDS, PROSE))
def test_sentences_keep_every_word_in_order(text):
    sentences = split_sentences(text)
    assert all(s and s == s.strip() for s in sentences)
    assert _words(" ".join(sentences)) == _words(text)


def _count(piece: str) -> int:  # a stand-in tokenizer: one token per word, CJK characters one each
    return sum(max(1, len(word)) if not word.isascii() else 1 for word in piece.split())


@BOUNDED
@given(st.one_of(WORDS, PROSE), st.integers(min_value=1, max_value=30))
def test_chunks_cover_the_text_in_order_within_the_budget(text, budget):
    chunks = chunk_text(text, _count, budget)
    assert "".join("".join(_words(c)) for c in chunks) == "".join(_words(text))  # nothing lost, added or reordered
    for chunk in chunks:
        assert chunk and chunk == chunk.strip()
        # a single word (or character) larger than the budget is its own chunk; everything else fits
        assert _count(chunk) <= budget or len(chunk.split()) == 1


JOB_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1)


@BOUNDED
@given(st.lists(st.tuples(JOB_TEXT, st.none() | st.integers(min_value=0, max_value=2**64 - 1)), max_size=8))
def test_a_jsonl_job_reads_back_what_was_written(tmp_path_factory, rows):
    rows = [(text, seed) for text, seed in rows if text.strip()]
    path = tmp_path_factory.mktemp("jobs") / "j.jsonl"
    lines = [
        json.dumps({"id": f"r{i}", "text": text, **({} if seed is None else {"seed": seed})})
        for i, (text, seed) in enumerate(rows)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if not rows:
        with pytest.raises(ValueError):
            read_jobs(path)
        return
    read = read_jobs(path)
    assert [(row.id, row.seed) for row in read] == [(f"r{i}", seed) for i, (_, seed) in enumerate(rows)]
    assert [row.text.strip() for row in read] == [text.strip() for text, _ in rows]


@BOUNDED
@given(
    st.lists(st.text(alphabet="abc ,.;\"'\\", max_size=20), min_size=1, max_size=5),
    st.sampled_from(["jsonl", "csv", "txt"]),
)
def test_a_job_file_either_reads_or_fails_with_a_value_error(tmp_path_factory, lines, suffix):
    path = tmp_path_factory.mktemp("jobs") / f"j.{suffix}"
    path.write_text("\n".join(lines), encoding="utf-8")
    try:
        rows = read_jobs(path)
    except ValueError as error:
        assert str(error).startswith(str(path)) or path.name in str(error)
    else:
        assert rows and all(row.id and row.text.strip() for row in rows) and len({r.id for r in rows}) == len(rows)


INTS = st.sampled_from([np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64])


@BOUNDED
@given(
    arrays(INTS, st.integers(1, 5)),
    arrays(INTS, st.tuples(st.sampled_from([1, 2, 3]), st.integers(1, 4))),
    arrays(INTS, st.tuples(st.sampled_from([7, 8]), st.integers(1, 4))),
)
def test_a_preset_that_loads_passes_the_checks(tmp_path_factory, semantic, coarse, fine):
    path = tmp_path_factory.mktemp("presets") / "v.npz"
    np.savez(path, semantic_prompt=semantic, coarse_prompt=coarse, fine_prompt=fine)
    try:
        preset = resolve_voice_preset(str(path), [])
    except ValueError as error:
        assert str(path) in str(error)
        return
    # it loaded: so it has the shapes and the value ranges Bark takes, and the values are the file's
    assert preset["coarse_prompt"].shape[0] == 2 and preset["fine_prompt"].shape[0] == 8
    assert preset["coarse_prompt"].shape[1] == preset["fine_prompt"].shape[1]
    for key, size, original in (("semantic_prompt", 10_000, semantic), ("coarse_prompt", 1024, coarse)):
        assert preset[key].dtype == np.int64 and 0 <= preset[key].min() and preset[key].max() < size
        assert [int(v) for v in preset[key].ravel()] == [int(v) for v in original.ravel()]


@BOUNDED
@given(
    st.lists(arrays(np.float32, st.integers(0, 400), elements=st.floats(-1, 1, width=32)), max_size=6),
    st.sampled_from([8000, 16000, 24000, 44100]),
    st.booleans(),
)
def test_the_streamed_wav_header_matches_the_samples_written(pieces, rate, seekable):
    stream = io.BytesIO()
    if not seekable:
        stream.seekable = lambda: False  # a pipe: the header keeps its open-ended sizes
    writer = WavStreamWriter(stream, rate)
    for piece in pieces:
        writer.write(piece)
    writer.finish()
    expected = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    assert writer.samples == expected.shape[0]
    data = stream.getvalue()
    if seekable:
        audio, read_rate = sf.read(io.BytesIO(data), dtype="float32")
        assert read_rate == rate and np.array_equal(audio, expected)
        assert int.from_bytes(data[40:44], "little") == 4 * expected.shape[0]
    assert np.array_equal(np.frombuffer(data[44:], "<f4"), expected)
