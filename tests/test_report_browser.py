"""report.html in a real headless browser (Debian's chromium driven by Playwright): it loads without console
errors, every audio player can play, every image loads. Skipped without chromium, except under CI=1."""

import pytest
from browser_kit import CHROMIUM, CHROMIUM_ARGS, PLAY_EVERY_AUDIO, browser_or_skip
from synthetic_audio import ONE_DNSMOS_WINDOW_SECONDS, chirp, noise_burst, voiced_syllables

from pipelines.compare.report import write_report
from pipelines.compare.scoring import Comparison, score_item


def test_report_page_loads_plays_and_shows_images(tmp_path):
    sync_playwright = browser_or_skip()
    items = []
    seconds, chirp_seconds = 2 * ONE_DNSMOS_WINDOW_SECONDS, 2.3  # 2.3 s: one DNSMOS window too
    for index in range(2):
        speech = voiced_syllables(24000, seconds=seconds, seed=index)
        noisy = speech + noise_burst(speech.size, seed=index, level=0.01)
        candidates = {"encodec": noisy, "vocos": chirp(24000, chirp_seconds)}
        items.append(score_item(f"clip{index}", candidates, 24000, reference=speech))
    comparison = Comparison("score", 24000, ["encodec", "vocos"], ["pesq", "stoi", "si_sdr", "mr_stft", "mel"], items)
    page_path = write_report(comparison, tmp_path)["html"]

    errors = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(page_path.as_uri(), wait_until="load")
            players = page.evaluate(PLAY_EVERY_AUDIO)
            images = page.evaluate(
                "() => [...document.images].map(img => ({complete: img.complete, width: img.naturalWidth}))"
            )
            best_cells = page.locator("td.best").count()
            paired = page.locator("img.paired").count()
        finally:
            browser.close()

    assert errors == []
    assert len(players) == 6  # reference + two candidates, two items
    for player, duration in zip(players, [seconds, seconds, chirp_seconds] * 2, strict=True):
        assert player["duration"] == pytest.approx(duration, abs=0.01)
        assert player["played"]
    assert len(images) == 3  # the paired plots, then one spectrogram per item
    assert paired == 1
    assert all(image["complete"] and image["width"] > 0 for image in images)
    assert best_cells >= 5  # at least the summary marks a better value per metric
