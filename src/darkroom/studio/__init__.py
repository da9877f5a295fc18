"""``darkroom studio``: a local web app and JSON API over restoration, inspection, tracing and sampling.

``create_app(index=None, token=None)`` returns the FastAPI app; ``darkroom studio`` serves it with uvicorn.
Uploads are decoded by content (never by name or content type), limited in bytes and pixels, and written
only to a private temporary folder; no request names a file-system path (the index comes from the command
line). Model work runs in a bounded pool: extra requests queue instead of loading the machine. Every error
a user can cause is JSON ``{"error": "..."}`` with 400 (not an image, bad mask), 401 (token), 413 (too
large) or 422 (bad field).
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint annotations, which name classes
# imported inside create_app.
import secrets
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

PAGE = Path(__file__).with_name("page.html")
MAX_BYTES = 25_000_000
MAX_PIXELS = 40_000_000
WORKERS = 2  # model calls at once; the rest wait their turn


class UserError(Exception):
    """A request darkroom cannot serve, with the HTTP status that says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@lru_cache(maxsize=16)
def _model(name: str):
    from darkroom.models import load_run

    return load_run(name)[0]


def _write_png(image, provenance: dict) -> bytes:
    from darkroom.io import write_image

    with tempfile.TemporaryDirectory() as folder:
        path = write_image(Path(folder) / "out.png", image, provenance=provenance)
        return path.read_bytes()


class Studio:
    """What the endpoints do, apart from HTTP: each method takes upload bytes and form values."""

    def __init__(self, index: str | None = None, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS):
        self.index, self.max_bytes, self.max_pixels = index, max_bytes, max_pixels
        self.pool = threading.BoundedSemaphore(WORKERS)
        self.folder = tempfile.TemporaryDirectory(prefix="darkroom-studio-")

    def upload(self, data: bytes, name: str = "image"):
        """The (3, H, W) image in ``data``, decoded by its content; its temporary file's path."""
        from darkroom.io import read_image

        if len(data) > self.max_bytes:
            raise UserError(413, f"{name} is {len(data) / 1e6:.1f} MB; the limit is {self.max_bytes / 1e6:.0f} MB")
        if not data:
            raise UserError(400, f"{name} is empty")
        path = Path(self.folder.name) / f"{secrets.token_hex(8)}"
        path.write_bytes(data)
        try:
            return read_image(path, max_pixels=self.max_pixels), path
        except ValueError as err:
            path.unlink(missing_ok=True)
            message = str(err).replace(str(path), name)
            raise UserError(413 if "pixels" in message and "limit" in message else 400, message) from None

    def restore(self, task: str, data: bytes, mask: bytes | None, sigma, scale, model) -> bytes:
        from darkroom.ops.restore import TASKS, prepare_mask, restore

        if task not in TASKS:
            raise UserError(422, f"task must be one of {', '.join(TASKS)}, got {task!r}")
        image, path = self.upload(data)
        options = {"sigma": sigma, "scale": scale, "model": model or None}
        if task == "inpaint":
            if mask is None:
                raise UserError(400, "inpaint needs a mask (white = fill)")
            drawn, mask_path = self.upload(mask, "mask")
            options["mask"] = prepare_mask(drawn[:1], image)
            mask_path.unlink(missing_ok=True)
        with self.pool:
            result, applied = restore(task, image, **options)
        path.unlink(missing_ok=True)
        return _write_png(result, {"operation": f"restore-{task}", "via": "studio", **applied})

    def inspect(self, data: bytes) -> dict:
        import base64

        from darkroom.ops.inspect import JPEG_DETECTOR, inspect_image, own_sources

        _, path = self.upload(data)
        heatmap = path.with_suffix(".png")
        detectors = {name: _model(name) for name in ("gendetect", JPEG_DETECTOR)}
        with self.pool:
            result = inspect_image(
                path,
                _model("chain"),
                _model("sceneparams"),
                _model("tamper"),
                heatmap,
                _model("modelparse"),
                detectors,
                own_sources(),
            )
        result["path"] = "upload"
        tamper = result.get("tamper") or {}
        for key in ("heatmap", "mask"):
            if tamper.get(key):
                tamper[f"{key}_png"] = base64.b64encode(Path(tamper[key]).read_bytes()).decode()
                Path(tamper[key]).unlink(missing_ok=True)
                tamper[key] = None
        path.unlink(missing_ok=True)
        return result

    def trace(self, data: bytes, top: int) -> dict:
        from darkroom.ops.copydetect import trace

        if not self.index:
            raise UserError(400, "no index: start the studio with --index INDEX (darkroom index build)")
        if not 1 <= top <= 100:
            raise UserError(422, f"top must be in 1..100, got {top}")
        _, path = self.upload(data)
        with self.pool:
            results, _ = trace([str(path)], self.index, top, progress=False)
        path.unlink(missing_ok=True)
        return {**results[0], "query": "upload"}

    def sample(self, model: str, n: int, seed: int, prompt: str | None, label) -> bytes:
        from darkroom.ops.generate import sample_images

        if not 1 <= n <= 64:
            raise UserError(422, f"n must be in 1..64, got {n}")
        with tempfile.TemporaryDirectory() as folder, self.pool:
            out = Path(folder) / "grid.png"
            if prompt is not None:
                from darkroom.ops.textgen import sample_prompts

                sample_prompts(model, [prompt], n, out, seed=seed)
            else:
                sample_images(model, n, out, seed=seed, label=label)
            return out.read_bytes()


def models_json() -> list[dict]:
    from darkroom.weights import shipped_weights

    keys = ("name", "model", "summary", "size_bytes", "measured", "data")
    return [{k: card[k] for k in keys if k in card} for card in shipped_weights()]


def create_app(index: str | None = None, token: str | None = None, **limits):
    """The FastAPI app; ``token``: every API call must carry it (``Authorization: Bearer T``)."""
    from fastapi import FastAPI, File, Form, Request, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from pydantic import BaseModel, Field

    from darkroom import __version__

    studio = Studio(index, **limits)
    app = FastAPI(title="darkroom studio", version=__version__)

    @app.middleware("http")
    async def check_token(request: Request, call_next):
        if token and request.url.path.startswith("/api/"):
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not secrets.compare_digest(given, token):
                return JSONResponse({"error": "missing or wrong token (Authorization: Bearer TOKEN)"}, 401)
        return await call_next(request)

    @app.exception_handler(UserError)
    async def user_error(request, err: UserError):
        return JSONResponse({"error": str(err)}, err.status)

    @app.exception_handler(ValueError)
    async def value_error(request, err: ValueError):
        return JSONResponse({"error": str(err).splitlines()[0]}, 400)

    @app.exception_handler(RequestValidationError)
    async def bad_field(request, err: RequestValidationError):
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query"))
        return JSONResponse({"error": f"{where or 'request'}: {first.get('msg', 'invalid')}"}, 422)

    @app.get("/", response_class=HTMLResponse)
    def page():
        return PAGE.read_text()

    @app.get("/api/health")
    def health():
        return {"status": "ok", "version": __version__}

    @app.get("/api/models")
    def models():
        return models_json()

    png = {"media_type": "image/png"}

    @app.post("/api/restore/{task}")
    def restore(
        task: str,
        image: UploadFile = File(...),
        mask: UploadFile | None = File(None),
        sigma: str | None = Form(None),
        scale: int | None = Form(None),
        model: str | None = Form(None),
    ):
        if sigma not in (None, "", "auto"):
            try:
                sigma = float(sigma)
            except ValueError:
                raise UserError(422, f"sigma must be a number or auto, got {sigma!r}") from None
        sigma = None if sigma == "" else sigma
        mask_bytes = mask.file.read(studio.max_bytes + 1) if mask is not None else None
        data = image.file.read(studio.max_bytes + 1)
        return Response(studio.restore(task, data, mask_bytes, sigma, scale, model), **png)

    @app.post("/api/inspect")
    def inspect(image: UploadFile = File(...)):
        return studio.inspect(image.file.read(studio.max_bytes + 1))

    @app.post("/api/trace")
    def trace(image: UploadFile = File(...), top: int = Form(5)):
        return studio.trace(image.file.read(studio.max_bytes + 1), top)

    class SampleRequest(BaseModel):
        model: str
        n: int = Field(16, ge=1, le=64)
        seed: int = 0
        prompt: str | None = None
        label: str | None = None

    @app.post("/api/sample")
    def sample(request: SampleRequest):
        shipped = {card["name"] for card in models_json()}
        if request.model not in shipped:
            raise UserError(422, f"model must be a shipped generator ({', '.join(sorted(shipped))})")
        return Response(studio.sample(request.model, request.n, request.seed, request.prompt, request.label), **png)

    app.state.studio = studio
    return app


def serve(
    host: str = "127.0.0.1", port: int = 8765, index: str | None = None, token: str | None = None, print_fn=print
) -> None:
    """Run the studio under uvicorn until interrupted; off localhost a token is required (made if not given)."""
    try:
        import uvicorn
    except ImportError:
        raise ValueError("the studio needs its extra: pip install 'darkroom[studio]'") from None
    if host not in ("127.0.0.1", "localhost", "::1") and not token:
        token = secrets.token_urlsafe(16)
        print_fn(f"studio: listening on {host}, so every API call needs this token: {token}")
    if index and not Path(index).is_dir():
        raise ValueError(f"--index {index}: no such index folder (darkroom index build)")
    print_fn(
        f"darkroom studio: open http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}/"
        + (f"?token={token}" if token else "")
    )
    uvicorn.run(create_app(index, token), host=host, port=port, log_level="warning")


__all__ = ["create_app", "serve"]
