"""The studio page in a real browser: headless Chromium from the system (Debian's `chromium`, never a
download) driven by Playwright; skipped, saying why, where either is missing."""

import shutil
import socket
import threading
import time

import pytest

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)
pytest.importorskip("uvicorn", reason="the studio extra is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no system Chromium (apt-get install chromium)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn
    from PIL import Image

    from darkroom.data.photos import skimage_photo
    from darkroom.studio import create_app

    folder = tmp_path_factory.mktemp("studio")
    Image.fromarray(skimage_photo("coffee")[100:228, 200:328]).save(folder / "coffee.png")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = uvicorn.Server(uvicorn.Config(create_app(), port=port, log_level="error"))
    threading.Thread(target=app.run, daemon=True).start()
    while not app.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/", folder / "coffee.png"
    app.should_exit = True


def test_upload_denoise_and_inspect_in_the_page(server):
    url, photo = server
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(url)
        page.set_input_files("#file", str(photo))
        page.select_option("#task", "denoise")
        page.click("text=run")
        page.wait_for_selector("#result", timeout=120_000)
        assert page.eval_on_selector("#result", "img => img.naturalWidth") == 128
        assert page.get_attribute("#download", "href").startswith("blob:")
        page.click("nav >> text=Inspect")
        page.click("button.go >> text=inspect")
        page.wait_for_selector("#heatmap", timeout=120_000)
        assert '"tamper"' in page.inner_text("#findings")
        browser.close()
