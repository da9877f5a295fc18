"""Load on `darkroom studio`: requests from concurrent clients across restore, inspect and trace, against
a real uvicorn server on this machine.

    python benchmarks/studio.py [--quick] [--requests 200] [--clients 10]    (or: darkroom bench studio)

The server holds an index of scikit-image's colour photos; each request uploads a 192x192 crop of one of
them. Prints p50/p95 latency per endpoint, the error count, and whether /api/health answered under a second
while the load ran (the page stays responsive).
"""

from __future__ import annotations

import argparse
import io
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    import httpx
    import torch
    import uvicorn

    from darkroom.data.photos import SKIMAGE_PHOTOS, skimage_photo
    from darkroom.ops.copydetect import build_index
    from darkroom.studio import create_app

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="40 requests")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    total = 40 if args.quick else args.requests
    crops = []
    with tempfile.TemporaryDirectory() as folder:
        for name in SKIMAGE_PHOTOS:
            photo = skimage_photo(name)
            Image.fromarray(photo).save(Path(folder) / f"{name}.png")
            buffer = io.BytesIO()
            Image.fromarray(photo[:192, :192]).save(buffer, format="PNG")
            crops.append(buffer.getvalue())
        build_index([folder], Path(folder) / "idx", progress=False)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(str(Path(folder) / "idx")), port=port, log_level="error"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        plan = [
            ("restore", "/api/restore/denoise", {"sigma": "25"}),
            ("inspect", "/api/inspect", {}),
            ("trace", "/api/trace", {"top": "3"}),
        ]
        latencies: dict[str, list[float]] = {name: [] for name, _, _ in plan}
        errors, health = [], []

        def one(i: int) -> None:
            name, url, data = plan[i % len(plan)]
            start = time.perf_counter()
            r = httpx.post(base + url, files={"image": ("x.png", crops[i % len(crops)])}, data=data, timeout=600)
            latencies[name].append(time.perf_counter() - start)
            if r.status_code != 200:
                errors.append(f"{name}: {r.status_code} {r.text[:80]}")

        def probe(stop: threading.Event) -> None:
            while not stop.is_set():
                start = time.perf_counter()
                httpx.get(base + "/api/health", timeout=60)
                health.append(time.perf_counter() - start)
                stop.wait(0.5)

        stop = threading.Event()
        threading.Thread(target=probe, args=(stop,), daemon=True).start()
        t0 = time.time()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(one, range(total)))
        stop.set()
        wall = time.time() - t0
        server.should_exit = True
    print(
        f"## darkroom studio under load: {total} requests from {args.clients} concurrent clients "
        f"({args.threads} torch threads, a {WORKERS_NOTE})\n"
    )
    print("| endpoint | requests | p50 s | p95 s |\n|---|---:|---:|---:|")
    for name, values in latencies.items():
        print(f"| {name} | {len(values)} | {np.percentile(values, 50):.2f} | {np.percentile(values, 95):.2f} |")
    print(f"\nerrors: {len(errors)}" + "".join(f"\n  {e}" for e in errors[:5]))
    print(
        f"/api/health during the load: p95 {np.percentile(health, 95):.3f} s over {len(health)} probes; "
        f"wall {wall:.0f} s, {total / wall:.1f} requests/s"
    )


WORKERS_NOTE = "pool of 2 model workers"

if __name__ == "__main__":
    main()
