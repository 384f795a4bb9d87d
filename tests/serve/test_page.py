"""The web page in a real headless browser: Debian's chromium driven by selenium through the
system chromedriver (selenium-manager would try to download one). Upload an item, see its
class on top of the bar chart; draw one with the pointer, see its class. The screenshot is
kept as a test artifact (in the test's tmp folder)."""

import os
import shutil

import numpy as np
import pytest

from serve.helpers import png, post_json
from twincore.data import FASHION_CLASSES

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
_missing = [p for p in (CHROMIUM, DRIVER) if not os.path.exists(p)]
pytestmark = pytest.mark.skipif(bool(_missing), reason=f"no {' or '.join(_missing)}: install Debian's chromium and "
                                "chromium-driver (`make browser`, which `make test` runs)")


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (the dev extra)")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,860"):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(DRIVER), options=opts)
    d.set_page_load_timeout(30)
    yield d
    d.quit()


def _wait(d, cond, timeout=20):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(d, timeout).until(cond)


def _by_id(d, name):
    from selenium.webdriver.common.by import By

    return d.find_element(By.ID, name)


def _bars(d):
    from selenium.webdriver.common.by import By

    return [(g.get_attribute("data-class"), float(g.get_attribute("data-probability")), "best" in g.get_attribute("class"))
            for g in d.find_elements(By.CSS_SELECTOR, "#chart g.bar")]


def _predictions(d) -> int:
    return int(d.execute_script("return +(document.body.dataset.predictions || 0)"))


def _open(d, url):
    d.get(url)
    _wait(d, lambda d: "parameters" in _by_id(d, "model-line").text)


def test_upload_shows_the_right_top_class(browser, mlp_server, mlp_run, tmp_path):
    _, _, doc = post_json(mlp_server, {"instances": mlp_run.raw_test[:40].tolist()})
    probs = np.array([p["probabilities"] for p in doc["predictions"]])
    right = [i for i in range(40) if probs[i].argmax() == mlp_run.task.test.y[i] and probs[i].max() > 0.9]
    assert len(right) >= 3, "the tiny model should get some test images right with confidence"
    _open(browser, mlp_server.url)
    assert "mlp" in _by_id(browser, "model-line").text
    assert _by_id(browser, "images").is_displayed() and not _by_id(browser, "numbers").is_displayed()
    for k, i in enumerate(right[:2]):
        truth = FASHION_CLASSES[mlp_run.task.test.y[i]]
        item = mlp_run.raw_test[i]
        # first a 3x colour upscale (shrunk back in the browser); then a dark-on-white photo-like
        # version, which the page must invert on its own
        path = tmp_path / f"item{k}.png"
        path.write_bytes(png(item, size=84, mode="RGB") if k == 0 else png(255 - item, size=60, mode="RGB"))
        before = _predictions(browser)
        _by_id(browser, "file").send_keys(str(path))
        _wait(browser, lambda d: _predictions(d) > before)
        assert _by_id(browser, "top-class").text == truth
        bars = _bars(browser)
        assert len(bars) == 10 and bars[0][0] == truth and bars[0][2] and not any(b[2] for b in bars[1:])
        assert sum(b[1] for b in bars) == pytest.approx(1.0, abs=1e-6)
        assert [b[1] for b in bars] == sorted((b[1] for b in bars), reverse=True)
        assert _by_id(browser, "invert").is_selected() == (k == 1)
        assert not _by_id(browser, "error").is_displayed()
    shot = tmp_path / "serve_page.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    if os.environ.get("TWINCORE_SCREENSHOT_DIR"):  # keep a copy outside pytest's tmp folders
        shutil.copy(shot, os.environ["TWINCORE_SCREENSHOT_DIR"])


def test_drawing_a_bar_predicts_its_class(browser, mlp_server):
    """The tiny data's class c is a horizontal bar at rows 2+2c..3+2c, columns 4..23: draw one."""
    from selenium.webdriver.common.action_chains import ActionChains

    _open(browser, mlp_server.url)
    canvas = _by_id(browser, "draw")
    size = canvas.size["width"]  # 280 CSS pixels for 28 model pixels
    for c in (1, 6):
        _by_id(browser, "clear").click()
        before = _predictions(browser)
        y = (3 + 2 * c) * size / 28 - size / 2  # offsets are from the canvas's centre
        ActionChains(browser).move_to_element_with_offset(canvas, int(5 * size / 28 - size / 2), int(y)) \
            .click_and_hold().move_by_offset(int(18 * size / 28), 0).release().perform()
        _wait(browser, lambda d: _predictions(d) > before)
        assert _by_id(browser, "top-class").text == FASHION_CLASSES[c]
        preview = browser.execute_script(
            "return Array.from(document.getElementById('preview').getContext('2d')"
            ".getImageData(0, 0, 28, 28).data.filter((_, i) => i % 4 === 0))")
        img = np.array(preview).reshape(28, 28)
        off = np.ones(28, bool)
        off[1 + 2 * c: 5 + 2 * c] = False  # the bar's rows, with one row of blur either side
        assert img[2 + 2 * c: 4 + 2 * c, 8:20].mean() > 150 and img[off].max() < 30  # what the model saw


def test_regression_page(browser, tmp_path):
    """The regression model's page asks for x and shows the served y."""
    from serve.helpers import train_run
    from twincore.serve.loadtest import start_server

    run = train_run("regression", None, tmp_path / "reg", steps=None, batch=200, epochs=20)
    s = start_server(run.out, workers=2)
    try:
        _open(browser, s.url)
        assert _by_id(browser, "numbers").is_displayed() and not _by_id(browser, "images").is_displayed()
        box = _by_id(browser, "x")
        box.clear()
        box.send_keys("0.3")
        _by_id(browser, "go").click()
        _wait(browser, lambda d: _by_id(d, "y").text.startswith("y = "))
        _, _, doc = post_json(s, {"instances": [0.3]})
        assert _by_id(browser, "y").text == f"y = {doc['predictions'][0]['value']:.5f}"
    finally:
        s.stop()
