import io
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from darkroom.data.photos import skimage_photo  # noqa: E402
from darkroom.studio import create_app  # noqa: E402


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photo():
    return png_bytes(skimage_photo("coffee")[100:196, 200:296])


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app())


def test_health_models_and_the_page(client):
    assert client.get("/api/health").json()["status"] == "ok"
    names = {m["name"] for m in client.get("/api/models").json()}
    assert {"denoise", "tamper", "cgan-digits"} <= names
    page = client.get("/")
    assert page.status_code == 200 and "darkroom studio" in page.text and "/api/restore/" in page.text


def test_restore_returns_a_png_with_provenance(client, photo):
    r = client.post("/api/restore/denoise", files={"image": ("x.bin", photo)}, data={"sigma": "25"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    out = Image.open(io.BytesIO(r.content))
    assert out.size == (96, 96)
    assert json.loads(out.text["darkroom"])["operation"] == "restore-denoise"  # decoded by content, not name
    mask = png_bytes(np.pad(np.full((20, 20), 255, np.uint8), 38))
    r = client.post("/api/restore/inpaint", files={"image": ("p.png", photo), "mask": ("m.png", mask)})
    assert r.status_code == 200


def test_user_mistakes_are_json_errors_never_500(client, photo):
    cases = [
        (client.post("/api/restore/denoise", files={"image": ("x.png", b"not an image")}), 400),
        (client.post("/api/restore/inpaint", files={"image": ("x.png", photo)}), 400),  # no mask
        (client.post("/api/restore/blur", files={"image": ("x.png", photo)}), 422),
        (client.post("/api/restore/denoise", files={"image": ("x.png", photo)}, data={"sigma": "lots"}), 422),
        (client.post("/api/restore/denoise"), 422),  # no image
        (client.post("/api/trace", files={"image": ("x.png", photo)}), 400),  # no index given at start
        (client.post("/api/sample", json={"model": "nope"}), 422),
        (client.post("/api/sample", json={"model": "cgan-digits", "n": 1000}), 422),
        (client.post("/api/sample", json={"model": "cgan-digits", "n": 4}), 400),  # needs a label
    ]
    for response, status in cases:
        assert response.status_code == status, response.text
        assert response.json()["error"]


def test_limits_and_token(photo):
    small = TestClient(create_app(max_bytes=1000))
    r = small.post("/api/restore/denoise", files={"image": ("x.png", photo)})
    assert r.status_code == 413 and "limit" in r.json()["error"]
    few = TestClient(create_app(max_pixels=1000))
    assert few.post("/api/restore/denoise", files={"image": ("x.png", photo)}).status_code == 413
    guarded = TestClient(create_app(token="s3cret"))
    assert guarded.get("/api/health").status_code == 401
    assert guarded.get("/api/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert guarded.get("/").status_code == 200  # the page itself; it sends the token from its URL


def test_inspect_trace_and_sample(tmp_path, photo):
    from darkroom.ops.copydetect import build_index

    ref = tmp_path / "refs" / "coffee.png"
    ref.parent.mkdir()
    ref.write_bytes(photo)
    build_index([str(tmp_path / "refs")], tmp_path / "idx", progress=False)
    client = TestClient(create_app(index=str(tmp_path / "idx")))
    found = client.post("/api/inspect", files={"image": ("x.png", photo)}).json()
    assert 0 <= found["tamper"]["score"] <= 1 and found["tamper"]["heatmap_png"] and found["path"] == "upload"
    traced = client.post("/api/trace", files={"image": ("x.png", photo)}, data={"top": "1"}).json()
    assert traced["matches"][0]["path"].endswith("coffee.png") and traced["matches"][0]["is_copy"]
    r = client.post("/api/sample", json={"model": "cgan-digits", "n": 4, "label": "3"})
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size[0] > 32


def test_twenty_simultaneous_requests_queue_and_all_succeed(client, photo):
    def one(_):
        return client.post("/api/restore/denoise", files={"image": ("x.png", photo)}, data={"sigma": "15"}).status_code

    with ThreadPoolExecutor(20) as pool:
        assert list(pool.map(one, range(20))) == [200] * 20
