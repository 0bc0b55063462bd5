"""The blind listening test: trials drawn by seed, a page that hides which candidate is A, the answers decoded with
the key (preference share, exact binomial p against scipy), and the page in the real browser (Playwright + Debian's
chromium; that test skips without it, except under CI=1)."""

import json

import pytest
from browser_kit import CHROMIUM, CHROMIUM_ARGS, browser_or_skip
from scipy.stats import binomtest
from synthetic_audio import ONE_DNSMOS_WINDOW_SECONDS, chirp, voiced_syllables

from pipelines import commands as cli
from pipelines.compare.listening import format_listening, listening_results, listening_trials, write_listening_test
from pipelines.compare.report import write_report
from pipelines.compare.scoring import Comparison, score_item

CANDIDATES = ["cand_alpha", "cand_omega"]


@pytest.fixture(scope="module")
def comparison():
    seconds = ONE_DNSMOS_WINDOW_SECONDS
    omega = chirp(24000, seconds / 2)
    items = [
        score_item(f"clip{i}", {"cand_alpha": voiced_syllables(24000, seconds, seed=i), "cand_omega": omega}, 24000)
        for i in range(7)
    ]
    return Comparison("score", 24000, CANDIDATES, list(items[0].metrics["cand_alpha"]), items)


def test_trials_are_seeded_and_cover_every_item_and_pair(comparison):
    page, trials = listening_trials(comparison, seed=3)
    assert (page, trials) == listening_trials(comparison, seed=3)
    assert listening_trials(comparison, seed=4)[1] != trials
    assert sorted(t["item"] for t in trials) == [f"clip{i}" for i in range(7)]
    assert all({t["A"], t["B"]} == set(CANDIDATES) for t in trials)
    assert {t["A"] for t in trials} == set(CANDIDATES)  # both sides are drawn
    assert len({t["key"] for t in trials}) == 7


def test_results_decode_to_preference_share_and_binomial_p(comparison):
    _, trials = listening_trials(comparison, seed=0)
    key = {"page": "p", "candidates": CANDIDATES, "trials": trials}

    def side_of(trial, candidate):
        return "A" if trial["A"] == candidate else "B"

    # listener 1 prefers omega on every trial; listener 2 on 4 trials, alpha on 2, one tie
    first = [{"trial": t["key"], "answer": side_of(t, "cand_omega")} for t in trials]
    second = [
        {
            "trial": t["key"],
            "answer": side_of(t, "cand_omega") if i < 4 else "none" if i == 4 else side_of(t, "cand_alpha"),
        }
        for i, t in enumerate(trials)
    ]
    summary = listening_results(key, [{"page": "p", "answers": first}, {"page": "p", "answers": second}])
    (pair,) = summary["pairs"]
    assert (pair["a"], pair["b"], pair["a_preferred"], pair["b_preferred"], pair["ties"]) == (
        "cand_alpha", "cand_omega", 2, 11, 1
    )  # fmt: skip
    assert pair["a_share"] == pytest.approx(2 / 13)
    assert pair["p_value"] == pytest.approx(binomtest(2, 13, 0.5).pvalue)
    assert len(summary["items"]) == 7 and sum(i["ties"] for i in summary["items"]) == 1
    random = listening_results({**key, "notes": ["x holds RANDOM weights"]}, [{"page": "p", "answers": first}])
    assert "NOTE: x holds RANDOM weights" in format_listening(random).splitlines()[1]
    with pytest.raises(ValueError, match="from page 'q'"):
        listening_results(key, [{"page": "q", "answers": first}])
    with pytest.raises(ValueError, match="answer 'C'"):
        listening_results(key, [{"page": "p", "answers": [{"trial": trials[0]["key"], "answer": "C"}]}])


def test_listening_page_in_the_browser(comparison, tmp_path, capsys):
    sync_playwright = browser_or_skip()
    write_report(comparison, tmp_path)
    paths = write_listening_test(comparison, tmp_path, seed=1)
    page_html = paths["page"].read_text(encoding="utf-8")
    assert not any(name in page_html for name in [*CANDIDATES, "clip0"])  # the mapping is not on the page
    key = json.loads(paths["key"].read_text())
    by_key = {t["key"]: t for t in key["trials"]}
    errors = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(accept_downloads=True)
            page = context.new_page()
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(paths["page"].as_uri(), wait_until="load")
            trials = page.evaluate("() => JSON.parse(document.getElementById('trials').textContent).map(t => t.key)")
            assert sorted(trials) == sorted(by_key)
            page.click("#play-a")
            for number, trial in enumerate(trials):
                assert page.text_content("#progress").startswith(f"Trial {number + 1} of 7; answered {number}")
                # the scripted listener prefers omega, except one "no preference" on the last trial
                answer = "none" if number == 6 else ("a" if by_key[trial]["A"] == "cand_omega" else "b")
                page.click(f"#choose-{answer}")
            assert page.is_visible("#finished")
            page.reload(wait_until="load")
            assert page.text_content("#progress").endswith("answered 7 of 7")
            page.fill("#listener", "tester")
            with page.expect_download() as download:
                page.click("#download")
            download.value.save_as(tmp_path / "answers.json")
        finally:
            browser.close()
    assert errors == []
    saved = json.loads((tmp_path / "answers.json").read_text())
    assert saved["page"] == key["page"] and saved["listener"] == "tester"
    assert sorted(a["trial"] for a in saved["answers"]) == sorted(by_key)
    for entry in saved["answers"]:
        trial = by_key[entry["trial"]]
        assert entry["answer"] == "none" or trial[entry["answer"]] == "cand_omega"  # decodes to the chosen one
    assert cli.main(["compare", "--listening-results", str(tmp_path / "answers.json"), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    p = binomtest(0, 6, 0.5).pvalue
    assert f"cand_alpha preferred over cand_omega in 0 of 6 decided trials (0%), exact binomial p = {p:.3g}" in printed
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["listening"]["pairs"][0]["ties"] == 1 and report["listening"]["listeners"] == ["tester"]
    assert json.loads((tmp_path / "listening-results.json").read_text()) == report["listening"]
