"""The one sentence splitter and the packing of sentences into Bark-sized chunks."""

import pytest

from pipelines.speech.sentences import chunk_text, split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dr. Smith paid $3.50 for it. Then he left!", ["Dr. Smith paid $3.50 for it.", "Then he left!"]),
        ("Wait... what? I see... Then we go.", ["Wait... what?", "I see...", "Then we go."]),
        ('He said "Hi." Then left.', ['He said "Hi."', "Then left."]),
        (
            "We use e.g. this and i.e. that. Also etc. Next one.",
            ["We use e.g. this and i.e. that.", "Also etc.", "Next one."],
        ),
        ("J. R. R. Tolkien wrote it in 1937. It sold.", ["J. R. R. Tolkien wrote it in 1937.", "It sold."]),
        ("No. 5 is here. I said no. Then", ["No. 5 is here.", "I said no.", "Then"]),
        ("The U.S. is big. It has 50 states.", ["The U.S. is big.", "It has 50 states."]),
        ("Pi is 3.14159, roughly. Yes?! Sure.", ["Pi is 3.14159, roughly.", "Yes?!", "Sure."]),
        ("今日は晴れです。明日は雨？はい！", ["今日は晴れです。", "明日は雨？", "はい！"]),
        ("这是第一句。这是第二句！", ["这是第一句。", "这是第二句！"]),
        ("यह एक वाक्य है। यह दूसरा है।", ["यह एक वाक्य है।", "यह दूसरा है।"]),
        ("هل أنت بخير؟ نعم.", ["هل أنت بخير؟", "نعم."]),
        ("Para one\n\nPara two", ["Para one", "Para two"]),
        ("  no   end  mark  ", ["no end mark"]),
        ("", []),
        ("   \n ", []),
    ],
)
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


def _words(text: str) -> int:
    return len(text.split())


def test_chunks_pack_whole_sentences_under_budget():
    text = "One two three. Four five. Six seven eight nine. Ten."
    assert chunk_text(text, _words, 5) == ["One two three. Four five.", "Six seven eight nine. Ten."]
    assert chunk_text(text, _words, 100) == [text]


def test_chunks_are_as_few_as_greedy_packing_and_as_even_as_possible():
    text = "Cats sleep well. Dogs run fast. Birds sing loud. Fish swim deep. Cows eat grass."  # five 3-word sentences
    # greedy at 12 words would give 12 + 3; the same two chunks at the smallest budget that allows them: 9 + 6
    assert chunk_text(text, _words, 12) == [
        "Cats sleep well. Dogs run fast. Birds sing loud.",
        "Fish swim deep. Cows eat grass.",
    ]
    assert chunk_text(text, _words, 6) == [
        "Cats sleep well. Dogs run fast.",
        "Birds sing loud. Fish swim deep.",
        "Cows eat grass.",
    ]  # greedy is already as even as three chunks can be
    text = " ".join(["One two three four."] * 6)  # greedy at 16 words: 16 + 8
    assert [_words(c) for c in chunk_text(text, _words, 16)] == [12, 12]


def test_long_sentence_is_cut_at_clauses_then_words():
    text = "one two three four five, six seven eight. nine"
    chunks = chunk_text(text, _words, 4)
    assert chunks == ["one two three four", "five, six seven eight.", "nine"]
    assert all(_words(c) <= 4 for c in chunks)
    assert " ".join(chunks).split() == text.split()


def test_cjk_without_spaces_is_cut_between_characters():
    text = "今日は晴れです今日は晴れです。"
    chunks = chunk_text(text, len, 5)
    assert "".join(chunks) == text
    assert all(len(c) <= 5 for c in chunks)


def test_long_text_keeps_every_word_in_order():
    text = " ".join(f"Sentence number {i} is here, with Dr. Who and 3.5 cats." for i in range(300))
    chunks = chunk_text(text, _words, 30)
    assert " ".join(chunks).split() == text.split()
    assert all(_words(c) <= 30 for c in chunks)
    assert len(chunks) == 150  # two 12-word sentences per 30-word chunk


def test_bad_budget():
    with pytest.raises(ValueError, match="max_tokens"):
        chunk_text("Hi.", _words, 0)
