"""Streaming: `pipe.stream` against `pipe(...)`, the incremental decoder against one pass, and `say --stream`."""

import io
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from bark_vocos import VocosEncodecConfig, VocosEncodecModel
from bark_vocos.vocos.streaming import IncrementalDecoder, vocos_context_frames
from pipelines import TextToWavPipeline
from pipelines.commands import main

TEXT = "Hello, my dog is cute. The dog was cute and I was he! Is it a dog? It is. My dog is a cute dog."
OPTIONS = {"voice_preset": "v2/en_speaker_1", "seed": 3, "max_chunk_tokens": 12, "progress": False}
SHORT = {"semantic_max_new_tokens": 12}  # shorter generations keep the tests quick


@pytest.fixture(scope="module")
def pipe(tiny_dir):
    return TextToWavPipeline.from_pretrained(bark=tiny_dir / "bark", vocoder=tiny_dir / "vocos")


def _assert_close(streamed: np.ndarray, whole: np.ndarray) -> None:
    assert streamed.dtype == np.float32 and streamed.shape == whole.shape
    assert np.abs(streamed - whole).max() <= 1e-4 * np.abs(whole).max()


@pytest.mark.parametrize("decoder", ["vocos", "encodec"])
@pytest.mark.parametrize("pause", [0.0, 0.1])
def test_stream_concatenates_to_the_one_call_output(pipe, decoder, pause):
    whole = pipe(TEXT, decoder=decoder, pause_seconds=pause, **OPTIONS, **SHORT)
    chunks = list(pipe.stream(TEXT, decoder=decoder, pause_seconds=pause, **OPTIONS, **SHORT))
    assert len(whole.chunks) >= 3
    assert [chunk.text for chunk in chunks] == whole.chunks
    assert [chunk.index for chunk in chunks] == list(range(len(whole.chunks)))
    offsets = np.cumsum([0] + [chunk.audio.shape[0] for chunk in chunks])
    assert [chunk.offset for chunk in chunks] == offsets[:-1].tolist()
    assert {chunk.sampling_rate for chunk in chunks} == {whole.sampling_rate}
    assert {chunk.seed for chunk in chunks} == {3} and whole.seed == 3
    _assert_close(np.concatenate([chunk.audio for chunk in chunks]), whole.audio)


def test_short_first_chunk_streams_the_same_as_the_call(pipe):
    whole = pipe(TEXT, first_chunk_tokens=4, **OPTIONS, **SHORT)
    default = pipe(TEXT, **OPTIONS, **SHORT)
    assert pipe.count_tokens(whole.chunks[0]) <= 4 < pipe.count_tokens(default.chunks[0])
    assert " ".join(whole.chunks).split() == TEXT.split()
    chunks = list(pipe.stream(TEXT, first_chunk_tokens=4, **OPTIONS, **SHORT))
    assert [chunk.text for chunk in chunks] == whole.chunks
    _assert_close(np.concatenate([chunk.audio for chunk in chunks]), whole.audio)


def test_first_chunk_runs_alone_and_leaving_the_loop_stops_generation(pipe, monkeypatch):
    batches = []
    semantic = pipe.stages.semantic
    original = semantic.generate

    def counting(input_ids, **kwargs):
        batches.append(input_ids.shape[0])
        return original(input_ids, **kwargs)

    monkeypatch.setattr(semantic, "generate", counting)
    stream = pipe.stream(TEXT, batch_size=4, **OPTIONS, **SHORT)
    assert batches == []  # nothing runs before the first chunk is asked for
    first = next(stream)
    assert batches == [1] and first.index == 0 and first.audio.size > 0
    stream.close()
    assert batches == [1]  # no batch after the loop was left
    list(pipe.stream(TEXT, batch_size=4, **OPTIONS, **SHORT))
    assert batches == [1, 1, 3]  # the first chunk alone, then the other three together


def test_a_failure_mid_stream_is_raised(pipe, monkeypatch):
    fine = pipe.stages.fine_acoustics
    original = fine.generate
    calls = []

    def failing_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("injected failure on chunk 3")
        return original(*args, **kwargs)

    monkeypatch.setattr(fine, "generate", failing_third)
    received = []
    with pytest.raises(RuntimeError, match="injected failure on chunk 3"):
        for chunk in pipe.stream(TEXT, batch_size=1, **OPTIONS, **SHORT):
            received.append(chunk.index)
    assert received == [0, 1]


def test_streaming_leaves_the_callers_random_state_alone(pipe):
    torch.manual_seed(11)
    expected = torch.rand(10)
    torch.manual_seed(11)
    drawn = []
    for _ in pipe.stream(TEXT, **OPTIONS, **SHORT):
        drawn.append(torch.rand(1))
    assert torch.equal(torch.cat(drawn), expected[: len(drawn)])


def test_bad_options_fail_when_stream_is_called(pipe):
    with pytest.raises(ValueError, match="pause_seconds"):
        pipe.stream(TEXT, pause_seconds=float("nan"))
    with pytest.raises(TypeError, match="one text"):
        pipe.stream([TEXT])


def test_context_frames_match_the_published_and_the_measured_reach(tiny_dir):
    assert vocos_context_frames(VocosEncodecConfig()) == 29  # 3 x (8 + 1) convolution frames + 2 ISTFT frames
    model = VocosEncodecModel.from_pretrained(tiny_dir / "vocos").eval()  # random weights and codebook table
    context = vocos_context_frames(model.config)
    assert model.config.num_layers == 2 and context == 3 * 3 + 2
    codes = torch.randint(0, 1024, (8, 80))
    changed = codes.clone()
    changed[:, 40] = (changed[:, 40] + 512) % 1024
    with torch.no_grad():
        difference = (model(codes=codes).audio - model(codes=changed).audio).abs().view(80, -1).amax(dim=1)
    moved = torch.nonzero(difference > 0).flatten().tolist()  # the edge frames move by ~1e-8, the rest not at all
    assert moved == list(range(40 - context, 40 + context + 1))


def test_incremental_decoder_equals_one_pass_for_any_pieces(tiny_dir):
    model = VocosEncodecModel.from_pretrained(tiny_dir / "vocos").eval()
    generator = torch.Generator().manual_seed(1)
    codes = torch.randint(0, 1024, (8, 150), generator=generator)
    with torch.no_grad():
        whole = model(codes=codes).audio[0]
        context = vocos_context_frames(model.config)
        for cuts in ([1, 2, 3], [10, 60, 149], [75], [30, 31, 100]):
            decoder = IncrementalDecoder(lambda c: model(codes=c).audio[0], 320, context, context)
            pieces = torch.tensor_split(codes, cuts, dim=1)
            audio = [decoder.push(piece, final=i == len(pieces) - 1) for i, piece in enumerate(pieces)]
            joined = torch.cat(audio)
            assert joined.shape == whole.shape
            assert float((joined - whole).abs().max()) <= 1e-5 * float(whole.abs().max())
            assert decoder.codes.shape[1] <= 2 * context + max(p.shape[1] for p in pieces)  # memory stays bounded


def test_say_stream_to_a_file_and_to_stdout(tiny_dir, tmp_path, pin_kernels):
    with pin_kernels():
        common = ["Hello, my dog is cute. The dog was cute and I was he!", "--bark", str(tiny_dir / "bark"),
                  "--vocoder", str(tiny_dir / "vocos"), "--voice", "v2/en_speaker_0", "--seed", "5",
                  "--max-chunk-tokens", "8", "--no-progress"]  # fmt: skip
        assert main(["say", *common, "-o", str(tmp_path / "whole.wav")]) == 0
        assert main(["say", *common, "--stream", "-o", str(tmp_path / "streamed.wav")]) == 0
        whole, rate = sf.read(tmp_path / "whole.wav", dtype="float32")
        streamed, streamed_rate = sf.read(tmp_path / "streamed.wav", dtype="float32")
        assert rate == streamed_rate == 24000
        _assert_close(streamed, whole)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["streamed.wav", "whole.wav"]  # no temp file left

        result = subprocess.run(
            [sys.executable, "-m", "pipelines", "say", *common, "--stream", "-o", "-"],
            capture_output=True, check=False, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr.decode()
        piped, piped_rate = sf.read(io.BytesIO(result.stdout), dtype="float32")
        assert piped_rate == 24000
        _assert_close(piped, whole)
        assert b"seed 5" in result.stderr


def test_say_stream_failure_leaves_no_file(tiny_dir, tmp_path, monkeypatch):
    from bark_vocos.bark.fine import FineStage

    original = FineStage.generate
    calls = []

    def failing_second(self, *args, **kwargs):
        calls.append(1)
        if len(calls) % 2 == 0:  # the second chunk of each run
            raise ValueError("injected failure on chunk 2")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FineStage, "generate", failing_second)
    (tmp_path / "keep.wav").write_bytes(b"existing")
    args = ["say", "Hello, my dog is cute. The dog was cute and I was he!", "--bark", str(tiny_dir / "bark"),
            "--vocoder", str(tiny_dir / "vocos"), "--max-chunk-tokens", "8", "--batch-size", "1", "--no-progress",
            "--stream"]  # fmt: skip
    assert main([*args, "-o", str(tmp_path / "out.wav")]) == 1
    assert main([*args, "-o", str(tmp_path / "keep.wav")]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.wav"]
    assert (tmp_path / "keep.wav").read_bytes() == b"existing"


def test_say_stream_refuses_what_it_cannot_do(tiny_dir, tmp_path, capsys):
    base = ["say", "Hello", "--bark", str(tiny_dir / "bark"), "--stream"]
    assert main([*base, "-o", str(tmp_path / "x.flac")]) == 1
    assert "--stream writes WAV" in capsys.readouterr().err
    assert main([*base, "-o", "-", "--save-voice", str(tmp_path / "v.npz")]) == 1
    assert "--save-voice" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_bench_stream_quick_reports_first_audio_and_totals(tmp_path, capsys):
    out = tmp_path / "stream.json"
    argv = ["bench", "stream", "--quick", "--semantic-per-token", "0.5", "--first-chunk-tokens", "6", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "random weights" in printed and "torch ISA" in printed and "time to first audio" in printed
    results = json.loads(out.read_text())
    assert 0 < results["time_to_first_audio_s"] < results["stream_total_s"]
    assert results["stream_chunks"] > results["one_call_chunks"] >= 1  # the short first chunk is one more
    assert results["first_chunk_text"] == "The old lighthouse stood at the"  # 6 tokens: words, as a BERT vocabulary
    assert results["first_audio_share_of_one_call"] == pytest.approx(  # times rounded to 4 decimals, shares to 3
        results["time_to_first_audio_s"] / results["one_call_total_s"], abs=2e-3
    )


def test_a_text_bark_ends_at_once_gives_empty_audio_not_an_error(pipe, monkeypatch, tmp_path):
    from bark_vocos.bark import BarkTokens

    def ended_at_once(stages, configs, input_ids, history_prompt=None, **kwargs):
        empty = torch.zeros(0, dtype=torch.long)
        return [BarkTokens(empty, torch.zeros(2, 0, dtype=torch.long), torch.zeros(8, 0, dtype=torch.long))] * len(
            input_ids
        )

    monkeypatch.setattr("pipelines.speech.bark_generation.generate_bark_tokens", ended_at_once)
    for decoder in ("vocos", "encodec"):
        out = pipe("Hello.", decoder=decoder, **OPTIONS)
        assert out.audio.shape == (0,) and out.codes.shape == (8, 0) and out.chunk_frames == [0]
        with pytest.raises(ValueError, match="no audio: Bark ended the text at once"):
            out.save(tmp_path / "silent.wav")
        chunks = list(pipe.stream("Hello.", decoder=decoder, **OPTIONS))
        assert [chunk.audio.shape for chunk in chunks] == [(0,)]
