"""The suite's real browser: Debian's chromium driven by Playwright; tests skip without it, except under CI=1."""

import os
import shutil

import pytest

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "PLAY_EVERY_AUDIO", "browser_or_skip"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]


# Resolves, per <audio>, to its duration and whether playback advanced, after `canplay` (or -1 on error).
PLAY_EVERY_AUDIO = """
async () => Promise.all([...document.querySelectorAll('audio')].map(audio => new Promise(resolve => {
  audio.addEventListener('error', () => resolve({duration: -1, played: false}), {once: true});
  audio.addEventListener('canplay', async () => {
    audio.muted = true;
    await audio.play();
    // until the playback clock has moved (a busy machine may take longer than any fixed wait), at most 15 s
    await new Promise(done => {
      const check = () => { if (audio.currentTime > 0) done(); };
      audio.addEventListener('timeupdate', check);
      setTimeout(done, 15000);
      check();
    });
    audio.pause();
    resolve({duration: audio.duration, played: audio.currentTime > 0});
  }, {once: true});
  audio.load();
})))
"""


def browser_or_skip():
    """Playwright's `sync_playwright`, or skip the test (fail it under CI) when chromium or playwright is missing."""
    reason = None
    if shutil.which(CHROMIUM) is None:
        reason = f"{CHROMIUM} not found (install Debian's chromium: make browser)"
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            reason = "playwright is not installed (pip install -e '.[test]')"
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {reason}")
        pytest.skip(reason)
    return sync_playwright
