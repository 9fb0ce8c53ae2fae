"""The playground in a real browser: Debian's Chromium driven by Playwright, against the
server started here on a free loopback port. Screenshots of each state are saved in the
test's temporary folder; the README's in docs/playground.png."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import layerwise as lw

pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api")

from layerwise.playground import engine  # noqa: E402
from layerwise.playground.server import BackgroundServer  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DOCS = Path(__file__).resolve().parents[1] / "docs"
# A run that learns circle in about a second: squared features make it nearly linear.
CIRCLE = "#dataset=circle&features=x1,x2,x1%5E2,x2%5E2&layers=4&activations=tanh&lr=0.03"

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def server():
    with BackgroundServer() as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("playground-screenshots")


@pytest.fixture
def page(browser, server):
    # bypass_csp: Playwright's wait_for_function evaluates its text, which the page's
    # policy (no eval) refuses; the page itself runs under the policy either way.
    context = browser.new_context(
        viewport={"width": 1360, "height": 940}, accept_downloads=True, bypass_csp=True
    )
    opened = context.new_page()
    errors = []
    opened.on("pageerror", lambda e: errors.append(str(e)))
    yield opened
    context.close()
    assert not errors, errors


def open_page(page, server, hash_: str = ""):
    page.goto(server.url + hash_)
    page.wait_for_function("window.playground && window.playground.frame !== null")
    if hash_:  # the server has taken the link's configuration
        page.wait_for_function("window.playground.frame.config.features.length ===" +
                               " window.playground.config.features.length")  # fmt: skip


def number(page, testid: str) -> float:
    return float(page.get_by_test_id(testid).inner_text().replace(",", ""))


def wait_until(page, condition: str, timeout: float = 30_000):
    page.wait_for_function(condition, timeout=timeout)


def test_play_on_circle_brings_the_test_loss_down(page, server, shots):
    open_page(page, server, CIRCLE)
    start = number(page, "loss-test")
    page.get_by_test_id("play").click()
    wait_until(
        page, "parseFloat(document.querySelector('[data-testid=loss-test]').textContent) < 0.1"
    )
    assert number(page, "step-count") > 0 and start > 0.1
    sync_api.expect(page.get_by_test_id("status")).to_have_text("Training.")
    page.screenshot(path=shots / "1-playing-circle.png")
    page.get_by_test_id("play").click()
    wait_until(page, "!window.playground.frame.playing")


def test_learning_rate_changes_while_running(page, server, shots):
    open_page(page, server, CIRCLE)
    page.get_by_test_id("play").click()
    wait_until(page, "window.playground.frame.step > 50")
    before = number(page, "step-count")
    page.get_by_test_id("lr").select_option("0.3")
    wait_until(page, "window.playground.frame.lr === 0.3")
    assert number(page, "step-count") >= before  # trained on, not reset
    assert "lr=0.3" in page.url
    page.screenshot(path=shots / "2-learning-rate.png")
    page.get_by_test_id("reset").click()
    sync_api.expect(page.get_by_test_id("step-count")).to_have_text("0")
    assert page.evaluate("window.playground.frame.playing") is False
    page.screenshot(path=shots / "3-reset.png")


def test_add_a_layer(page, server, shots):
    open_page(page, server)
    page.get_by_test_id("add-layer").click()
    wait_until(page, "window.playground.frame.layers.length === 3")
    assert page.locator("#layers .layer").count() == 5  # features, 3 hidden, output
    assert "layers=4%2C2%2C2" in page.url
    page.get_by_test_id("step").click()
    sync_api.expect(page.get_by_test_id("step-count")).to_have_text("1")
    page.screenshot(path=shots / "4-added-layer.png")


def test_upload_a_csv(page, server, shots, tmp_path):
    open_page(page, server)
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(300, 2))
    y = (np.arctan2(X[:, 1], X[:, 0]) > 0).astype(int) + (X[:, 0] > 0.3)
    good = tmp_path / "three.csv"
    good.write_text("x1,x2,label\n" + "".join(f"{a:.4f},{b:.4f},{c}\n" for (a, b), c in zip(X, y)))
    page.get_by_test_id("upload").set_input_files(str(good))
    sync_api.expect(page.get_by_test_id("status")).to_contain_text(
        "Loaded three.csv: 300 rows, 3 classes"
    )
    assert page.get_by_test_id("dataset").input_value() == "csv"
    page.get_by_test_id("play").click()
    wait_until(page, "window.playground.frame.step > 300")
    page.get_by_test_id("play").click()
    page.screenshot(path=shots / "5-uploaded-csv.png")
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,0\n3,4\n")
    page.get_by_test_id("upload").set_input_files(str(bad))
    sync_api.expect(page.get_by_test_id("status")).to_contain_text("CSV line 2")
    sync_api.expect(page.get_by_test_id("status")).to_have_class(re.compile("error"))
    assert page.get_by_test_id("dataset").input_value() == "csv"  # the run goes on
    page.screenshot(path=shots / "6-malformed-csv.png")


def test_exported_model_predicts_the_page_heatmap(page, server, shots, tmp_path):
    open_page(page, server, CIRCLE)
    for _ in range(5):
        page.get_by_test_id("step").click()
    sync_api.expect(page.get_by_test_id("step-count")).to_have_text("5")
    with page.expect_download() as download:
        page.get_by_test_id("export-model").click()
    path = tmp_path / "page.safetensors"
    download.value.save_as(path)
    model = lw.load(path)
    heat = np.array(page.evaluate("window.playground.heatmap()")) / 255
    low, high = page.evaluate("window.playground.frame.heatmap.domain")
    points = lw.data.grid2d(low, high, resolution=engine.GRID)[0]
    some = np.random.default_rng(0).choice(len(points), 50, replace=False)
    predicted = model.predict(points[some])[:, 0]
    np.testing.assert_allclose(predicted, heat[some], atol=0.5 / 255 + 1e-6)
    with page.expect_download() as download:
        page.get_by_test_id("export-code").click()
    code = Path(download.value.path()).read_text()
    assert "lw.Session(" in code and "STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 5" in code


def test_the_link_repeats_the_run(page, server, browser, shots):
    link = "#dataset=xor&noise=20&seed=7&features=x1,x2,x1x2&layers=5,3&activations=relu,tanh"
    open_page(page, server, link)
    url = page.url
    for _ in range(12):
        page.get_by_test_id("step").click()
    sync_api.expect(page.get_by_test_id("step-count")).to_have_text("12")
    first = page.evaluate("[window.playground.heatmap(), window.playground.frame.test.loss]")
    second = browser.new_page(bypass_csp=True)
    try:
        second.goto(url)
        second.wait_for_function("window.playground && window.playground.frame !== null")
        second.wait_for_function("window.playground.frame.config.seed === 7")
        for _ in range(12):
            second.get_by_test_id("step").click()
        sync_api.expect(second.get_by_test_id("step-count")).to_have_text("12")
        again = second.evaluate("[window.playground.heatmap(), window.playground.frame.test.loss]")
    finally:
        second.close()
    assert again == first
    assert re.search(r"seed=7\b", url) and "features=x1%2Cx2%2Cx1x2" in url


def test_divergence_pauses_with_the_guard_message(page, server, shots):
    link = ("#dataset=plane&optimizer=sgd&lr=10&batch_size=50&layers=16,16&activations=relu,relu"
            "&features=x1,x2,x1%5E2,x2%5E2,x1x2,sin%20x1,sin%20x2")  # fmt: skip
    open_page(page, server, link)
    page.get_by_test_id("play").click()
    sync_api.expect(page.get_by_test_id("status")).to_contain_text(
        "Training diverged", timeout=30_000
    )
    wait_until(page, "!window.playground.frame.playing")
    page.screenshot(path=shots / "7-diverged.png")


def test_readme_screenshot(page, server, shots):
    link = ("#dataset=spiral&classes=3&noise=10&features=x1,x2,sin%20x1,sin%20x2&layers=8,8,6"
            "&activations=relu,relu,tanh&lr=0.01")  # fmt: skip
    open_page(page, server, link)
    page.get_by_test_id("play").click()
    wait_until(page, "window.playground.frame.epoch > 100", timeout=60_000)
    page.get_by_test_id("play").click()
    wait_until(page, "!window.playground.frame.playing")
    page.get_by_role("checkbox", name="show test data").check()
    page.wait_for_timeout(200)  # one animation frame to draw the test points
    path = shots / "8-readme.png"
    page.screenshot(path=path)
    assert path.stat().st_size > 10_000  # a page, not a blank
    if os.environ.get("LAYERWISE_UPDATE_DOCS"):  # the README's picture, on request only
        shutil.copyfile(path, DOCS / "playground.png")


def test_checkpoint_rollback_and_potential(page, server, shots):
    open_page(page, server, CIRCLE)
    for _ in range(3):
        page.get_by_test_id("step").click()
    sync_api.expect(page.get_by_test_id("step-count")).to_have_text("3")
    page.get_by_role("button", name="checkpoint").click()
    sync_api.expect(page.get_by_test_id("status")).to_have_text("Checkpoint at step 3.")
    kept = page.evaluate("window.playground.heatmap()")
    for _ in range(2):
        page.get_by_test_id("step").click()
    sync_api.expect(page.get_by_test_id("step-count")).to_have_text("5")
    page.get_by_role("button", name="rollback").click()
    sync_api.expect(page.get_by_test_id("step-count")).to_have_text("3")
    assert page.evaluate("window.playground.heatmap()") == kept
    page.get_by_role("button", name="potential").click()
    sync_api.expect(page.get_by_test_id("status")).to_contain_text("Learning potential after 100")
    sync_api.expect(page.get_by_test_id("step-count")).to_have_text("3")
    page.screenshot(path=shots / "9-potential.png")
