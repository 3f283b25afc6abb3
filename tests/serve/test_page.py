"""The calibration page in a real headless browser (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import pytest

CHROMIUM = os.environ.get("SCIML_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def server(priors):
    """The service on a free loopback port, in a background thread."""
    uvicorn = pytest.importorskip("uvicorn")
    from sciml.serve import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from tests.prior.builders import creep_prior

    config = uvicorn.Config(create_app({"tungsten": priors["tungsten"], "molecules": priors["molecules"], "creep": creep_prior()}),
                            host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def page():
    required = os.environ.get("SCIML_REQUIRE_BROWSER") == "1"
    try:
        from playwright import sync_api
    except ImportError:
        if required:
            pytest.fail("SCIML_REQUIRE_BROWSER=1 but Playwright is missing: pip install playwright")
        pytest.skip("the page test needs Playwright: pip install playwright")
    if CHROMIUM is None:
        message = "no chromium on this machine: apt-get install chromium (or set SCIML_CHROMIUM to a Chromium binary)"
        if required:
            pytest.fail("SCIML_REQUIRE_BROWSER=1 but " + message)
        pytest.skip(message)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield browser.new_page(viewport={"width": 1100, "height": 1500})
        browser.close()


def test_calibrate_an_alloy_on_the_page(server, page, priors, tmp_path):
    """Three measurements of a known alloy typed into the table: the parameters, the plot and the
    next experiment appear; t50 at the measured temperature lies near the alloy's own."""
    import pandas as pd

    from sciml.models.laws import JMAKArrhenius

    truth = JMAKArrhenius(T_ref=1573.15, k_ref=5e-5, Q=400.0, n=1.6).double()
    hours = [1.0, 4.0, 10.0]
    x = pd.DataFrame({"time [s]": [h * 3600 for h in hours], "temperature [K]": [1573.15] * 3})
    import torch

    with torch.no_grad():
        X = truth(torch.tensor(x.to_numpy())).reshape(-1).tolist()
        t50_true = float(truth.t50(1573.15, dict(truth.named_parameters())))

    page.goto(server + "/")
    page.wait_for_selector("body[data-ready=tungsten]")
    page.select_option("#unit-time", "h")
    page.select_option("#unit-temperature", "C")
    rows = page.locator("#rows tbody tr")
    for i, (h, value) in enumerate(zip(hours, X)):
        for name, v in (("time", h), ("temperature", 1300.0), ("X", round(value, 4))):
            rows.nth(i).locator(f"input[name={name}]").fill(str(v))
    page.click("#calibrate")
    page.wait_for_selector("#law-result:not([hidden])", timeout=30_000)
    page.wait_for_function("document.querySelector('#plot img') && document.querySelector('#plot img').naturalWidth > 0")
    assert page.inner_text("#error") == ""

    table = page.locator("#params tr")
    names = [table.nth(i).locator("td").first.inner_text() for i in range(1, table.count())]
    assert names == ["k_ref", "Q", "n", "k0", "t50_ref"]
    t50_row = table.nth(names.index("t50_ref") + 1).locator("td")
    t50, lo, hi = (float(t50_row.nth(i).inner_text()) for i in (1, 2, 3))
    assert lo < t50 < hi
    assert t50 == pytest.approx(t50_true, rel=0.1)  # measured at T_ref: t50_ref is what the points pin down
    assert page.locator("#suggestion tr").count() == 2  # header + one experiment
    shot = tmp_path / "calibration-page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("SCIML_SCREENSHOT_DIR"):
        keep = os.environ["SCIML_SCREENSHOT_DIR"]
        os.makedirs(keep, exist_ok=True)
        shutil.copy(shot, os.path.join(keep, shot.name))


def test_page_shows_errors_from_the_service(server, page):
    page.goto(server + "/")
    page.wait_for_selector("body[data-ready=tungsten]")
    page.locator("#rows tbody tr").nth(0).locator("input[name=time]").fill("1")
    page.click("#calibrate")
    page.wait_for_function("document.querySelector('#error').textContent.length > 0")
    assert "rows.0" in page.inner_text("#error")


def test_page_scores_molecules(server, page):
    page.goto(server + "/")
    page.wait_for_selector("body[data-ready=tungsten]")
    page.select_option("#prior", "molecules")
    page.wait_for_selector("body[data-ready=molecules]")
    page.fill("#support", "smiles,label\nCCO,0\nc1ccccc1O,1\nCCN,0\nOc1ccc(O)cc1,1")
    page.fill("#query", "smiles\nCCOC\nc1ccccc1")
    page.click("#score")
    page.wait_for_selector("#probabilities tr >> nth=2")
    assert page.locator("#probabilities th").all_inner_texts() == ["smiles", "probability"]
    assert page.locator("#probabilities td").nth(0).inner_text() == "CCOC"


def test_page_calibrates_creep_tests_in_their_own_units(server, page):
    page.goto(server + "/")
    page.wait_for_selector("body[data-ready=tungsten]")
    page.select_option("#prior", "creep")
    page.wait_for_selector("body[data-ready=creep]")
    defaults = {c: page.eval_on_selector(f"[id='unit-{c}']", "e => e.value") for c in ("temperature", "stress", "rupture time")}
    assert defaults == {"temperature": "C", "stress": "MPa", "rupture time": "h"}  # the law's own units where no habit says otherwise
    page.select_option("[id='unit-stress']", "ksi")
    rows = page.locator("#rows tbody tr")
    for i, values in enumerate([(1650, 10, 2.1), (1650, 5, 40.0), (1925, 3, 18.0)]):
        for k, v in enumerate(values):
            rows.nth(i).locator("input").nth(k).fill(str(v))
    page.click("#calibrate")
    page.wait_for_selector("#law-result:not([hidden])", timeout=30_000)
    assert page.inner_text("#error") == ""
    table = page.locator("#params tr")
    assert [table.nth(i).locator("td").first.inner_text() for i in range(1, table.count())] == ["C", "LMP_ref", "slope"]
