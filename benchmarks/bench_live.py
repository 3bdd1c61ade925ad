"""Live daemon benchmarks: tick CPU with 3 renderer clients, /api -> /ws latency, renderer frame time.

Run: ``python benchmarks/bench_live.py`` (Linux: CPU from /proc; needs /usr/bin/chromium for the last table).

1. CPU of the daemon process at 60 Hz, measured over ``--seconds`` with 3 ``/ws`` clients (in this process,
   not counted), against the baseline of the same daemon with no client. Target: <= 5 % of one core.
2. Latency from an ``/api`` ``set`` (WebSocket) to the frame carrying it on a ``/ws`` client, p50/p99 over
   ``--samples``; baseline: the ``/api`` reply round trip. Target: p99 <= 20 ms.
3. Renderer frame time in headless Chromium (SwiftShader, 512x512, sample puppet): evaluate + draw +
   readPixels per frame; baseline: the Python software renderer on the same puppet and size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def start(folder: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "avatar_plugin", "live", str(folder), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    while True:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if line.startswith("avatar-plugin live: studio"):
            return proc, line.split()[-1].rsplit("/studio", 1)[0]
        if not line:
            raise SystemExit("daemon did not start")


async def drain(ws: aiohttp.ClientWebSocketResponse, stop: asyncio.Event) -> int:
    n = 0
    while not stop.is_set():
        try:
            await ws.receive(timeout=0.5)
            n += 1
        except asyncio.TimeoutError:
            pass
    return n


async def cpu_case(base: str, pid: int, clients: int, seconds: float) -> tuple[float, float]:
    async with aiohttp.ClientSession() as s:
        sockets = [await s.ws_connect(f"{base}/ws") for _ in range(clients)]
        stop = asyncio.Event()
        tasks = [asyncio.ensure_future(drain(ws, stop)) for ws in sockets]
        await asyncio.sleep(1.0)
        c0, t0 = proc_cpu_seconds(pid), time.monotonic()
        await asyncio.sleep(seconds)
        c1, t1 = proc_cpu_seconds(pid), time.monotonic()
        stop.set()
        frames = await asyncio.gather(*tasks)
        for ws in sockets:
            await ws.close()
        health = await (await s.get(f"{base}/health")).json()
    fps = (sum(frames) / max(1, clients)) / (seconds + 1.5) if clients else health["tick_hz"]
    return 100.0 * (c1 - c0) / (t1 - t0), fps


async def latency_case(base: str, samples: int) -> tuple[list[float], list[float]]:
    arrive, reply = [], []
    async with aiohttp.ClientSession() as s, s.ws_connect(f"{base}/ws") as ws, s.ws_connect(f"{base}/api") as api:
        await ws.receive()  # hello
        for i in range(samples):
            value = round(-25.0 + (i % 500) * 0.1, 1)
            t0 = time.perf_counter()
            await api.send_str(json.dumps({"type": "set", "params": {"ParamAngleZ": value}}))
            got_reply = False
            while True:
                if not got_reply:
                    r = await api.receive_json()
                    reply.append((time.perf_counter() - t0) * 1000)
                    got_reply = True
                frame = json.loads((await ws.receive()).data)
                if abs(frame["params"].get("ParamAngleZ", 1e9) - value) < 1e-4:
                    arrive.append((time.perf_counter() - t0) * 1000)
                    break
            assert r["ok"]
            await asyncio.sleep(0.013 + (i % 7) * 0.001)  # land at different phases of the tick
    return arrive, reply


def renderer_case(base: str, frames: int) -> tuple[float, float]:
    from playwright.sync_api import sync_playwright

    from avatar_plugin.puppet.raster import render
    from avatar_plugin.puppet.sample import build_sample_puppet

    flags = ["--no-sandbox", "--enable-unsafe-swiftshader", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--use-angle=swiftshader"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=flags)
        page = browser.new_page(viewport={"width": 512, "height": 512})
        page.goto(f"{base}/?w=512&h=512&noretry=1")
        page.wait_for_function("window.avatarReady", timeout=30000)
        page.evaluate("window.avatar.benchmark(20)")
        ms = float(page.evaluate(f"window.avatar.benchmark({frames})"))
        browser.close()
    puppet = build_sample_puppet()
    render(puppet, {})
    t0 = time.perf_counter()
    n = 10
    for i in range(n):
        render(puppet, {"ParamAngleX": 25 * np.sin(i), "ParamMouthOpenY": (i % 10) / 10})
    return ms, (time.perf_counter() - t0) * 1000 / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--samples", type=int, default=400)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()

    from avatar_plugin.puppet.io import write_puppet
    from avatar_plugin.puppet.sample import build_sample_puppet

    folder = Path(tempfile.mkdtemp()) / "sample"
    write_puppet(build_sample_puppet(), folder)
    proc, base = start(folder)
    try:
        cpu0, hz0 = asyncio.run(cpu_case(base, proc.pid, 0, args.seconds))
        cpu3, fps3 = asyncio.run(cpu_case(base, proc.pid, 3, args.seconds))
        arrive, reply = asyncio.run(latency_case(base, args.samples))
        render_ms = py_ms = None
        if not args.no_browser:
            render_ms, py_ms = renderer_case(base, args.frames)
    finally:
        proc.terminate()
        proc.wait(5)

    def pct(xs: list[float], q: float) -> float:
        return float(np.percentile(np.array(xs), q))

    print(f"\n## live daemon ({os.cpu_count()} cores, Python {sys.version.split()[0]})\n")
    print("| measure | case | value | target |")
    print("|---|---|---|---|")
    print(f"| tick CPU, % of one core | baseline: 0 clients, {hz0:.1f} Hz | {cpu0:.2f} % | |")
    print(f"| tick CPU, % of one core | 3 /ws clients, {fps3:.1f} frames/s each | {cpu3:.2f} % | <= 5 % |")
    print(f"| /api reply round trip | baseline, p50 / p99 | {pct(reply, 50):.2f} / {pct(reply, 99):.2f} ms | |")
    print(f"| /api set -> /ws frame | p50 / p99 / max ({len(arrive)} samples) | {pct(arrive, 50):.2f} / "
          f"{pct(arrive, 99):.2f} / {max(arrive):.2f} ms | p99 <= 20 ms |")
    if render_ms is not None:
        print(f"| frame time, 512x512 | baseline: Python software renderer | {py_ms:.1f} ms | |")
        print(f"| frame time, 512x512 | Chromium WebGL2 (SwiftShader, CPU) | {render_ms:.2f} ms | |")


if __name__ == "__main__":
    main()
