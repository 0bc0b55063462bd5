"""The speech server's page (GET /) in the suite's real browser: it loads without console errors, lists the voices,
generates the same text and seed through EnCodec and Vocos, plays both, and its A/B switch changes the player's
source. Skipped without chromium, except under CI=1."""

import pytest
from browser_kit import CHROMIUM, CHROMIUM_ARGS, PLAY_EVERY_AUDIO, browser_or_skip

from pipelines import TextToWavPipeline
from pipelines.server import BackgroundServer, ServerSettings, create_app

KEY = "page-key"
TEXT = "Hello there."
SEED = 5
WAIT_MS = 120_000


def test_page_generates_plays_and_switches_between_encodec_and_vocos(tiny_dir):
    sync_playwright = browser_or_skip()
    pipe = TextToWavPipeline.from_pretrained(bark=tiny_dir / "bark", vocoder=tiny_dir / "vocos")
    seconds = pipe(TEXT, voice_preset="v2/en_speaker_1", seed=SEED, progress=False).audio.shape[0] / 24000
    server = BackgroundServer(create_app(pipe, ServerSettings(api_key=KEY))).start()
    errors = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page()
                page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
                page.on("pageerror", lambda error: errors.append(str(error)))
                page.add_init_script(f"localStorage.setItem('bark-vocos-key', '{KEY}')")  # as a user typed it before
                page.goto(server.url + "/", wait_until="load")
                page.wait_for_function("document.querySelectorAll('#voice option').length > 0", timeout=WAIT_MS)
                page.wait_for_function("!document.getElementById('notice').hidden", timeout=WAIT_MS)
                before = page.evaluate("() => document.getElementById('results').hidden")  # no empty players yet
                notice = page.text_content("#notice")
                voices = page.eval_on_selector_all("#voice option", "options => options.map(o => o.value)")
                page.select_option("#voice", "v2/en_speaker_1")
                page.fill("#text", TEXT)
                page.fill("#seed", str(SEED))
                page.click("#generate")
                page.wait_for_function("!document.getElementById('ab').disabled", timeout=WAIT_MS)
                status = page.text_content("#status")
                sources = page.evaluate(
                    "() => ({a: document.getElementById('encodec').src, b: document.getElementById('vocos').src,"
                    " player: document.getElementById('player').src})"
                )
                players = page.evaluate(PLAY_EVERY_AUDIO)  # encodec, vocos, then the A/B player
                page.check("input[name=decoder][value=vocos]")
                switched = page.evaluate("() => document.getElementById('player').src")
                page.check("input[name=decoder][value=encodec]")
                switched_back = page.evaluate("() => document.getElementById('player').src")
            finally:
                browser.close()
    finally:
        server.stop()

    assert errors == []
    assert before is True and "random weights" in notice
    assert "alloy" in voices and "v2/en_speaker_1" in voices
    assert status.startswith(f"seed {SEED}, voice v2/en_speaker_1")
    assert sources["a"].startswith("blob:") and sources["b"].startswith("blob:") and sources["a"] != sources["b"]
    assert sources["player"] == sources["a"]  # A (EnCodec) is selected first
    assert switched == sources["b"] and switched_back == sources["a"]
    assert len(players) == 3, players
    for player in players:
        assert player["duration"] == pytest.approx(seconds, abs=0.01), players
        assert player["played"]


def test_page_shows_an_api_error(tiny_dir):
    sync_playwright = browser_or_skip()
    pipe = TextToWavPipeline.from_pretrained(bark=tiny_dir / "bark", vocoder=tiny_dir / "vocos")
    server = BackgroundServer(create_app(pipe, ServerSettings(api_key=KEY))).start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page()
                page.add_init_script(f"localStorage.setItem('bark-vocos-key', '{KEY}')")
                page.goto(server.url + "/", wait_until="load")
                page.wait_for_function("document.querySelectorAll('#voice option').length > 0", timeout=WAIT_MS)
                page.fill("#text", "   ")
                page.click("#generate")
                page.wait_for_function("document.getElementById('status').className === 'error'", timeout=WAIT_MS)
                status = page.text_content("#status")
                hidden = page.evaluate("() => document.getElementById('results').hidden")
            finally:
                browser.close()
    finally:
        server.stop()
    assert status == "encodec: 'input' is empty or only whitespace: give some words to speak"
    assert hidden is True


def test_page_upload_field_shows_only_when_on_and_adds_a_voice(tiny_dir, tmp_path):
    import numpy as np
    import soundfile as sf

    from bark_vocos.testing import save_tiny_encodec, save_tiny_hubert, save_tiny_quantizer
    from pipelines import VoiceCloner

    sync_playwright = browser_or_skip()
    pipe = TextToWavPipeline.from_pretrained(bark=tiny_dir / "bark", vocoder=tiny_dir / "vocos")
    cloner = VoiceCloner.from_pretrained(
        hubert=save_tiny_hubert(tmp_path / "hubert"),
        quantizer=save_tiny_quantizer(tmp_path / "q.pth"),
        encodec=save_tiny_encodec(tmp_path / "encodec"),
        bark=tiny_dir / "bark",
    )
    t = np.arange(5 * 16_000) / 16_000  # harmonic syllables, random-weight models: no one's voice
    tone = sum(np.sin(k * 2 * np.pi * 160 * t) / k for k in range(1, 20))
    sf.write(tmp_path / "rec.wav", 0.3 * tone * np.clip(1.5 * np.sin(2 * np.pi * 3 * t) + 1, 0, 1), 16_000)
    off = BackgroundServer(create_app(pipe, ServerSettings())).start()
    on = BackgroundServer(create_app(pipe, ServerSettings(), cloner=cloner)).start()
    errors = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page()
                page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
                page.on("pageerror", lambda error: errors.append(str(error)))
                page.goto(off.url + "/", wait_until="load")
                page.wait_for_function("document.querySelectorAll('#voice option').length > 0", timeout=WAIT_MS)
                hidden_when_off = page.evaluate("() => document.getElementById('upload').hidden")
                page.goto(on.url + "/", wait_until="load")
                page.wait_for_function("!document.getElementById('upload').hidden", timeout=WAIT_MS)
                page.set_input_files("#upload-file", str(tmp_path / "rec.wav"))
                page.fill("#upload-name", "mine")
                page.click("#upload-button")
                page.wait_for_function("document.getElementById('voice').value === 'mine'", timeout=WAIT_MS)
                status = page.text_content("#status")
            finally:
                browser.close()
    finally:
        off.stop()
        on.stop()
    assert errors == []
    assert hidden_when_off is True
    assert status.startswith("voice mine from ")
