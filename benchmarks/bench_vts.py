"""Benchmark: sustained VTube Studio injection at 60 Hz (the VTS sink against the fake VTS server).

The fake VTS server runs in a child process (so its CPU is not counted); this process runs only the sink
(``VTSSink.run_with``) with a frame source whose mouth, blink and gaze change every frame and whose head moves
slowly (a talking avatar). Two cases in the same run:

- ``ours``: changed inputs every tick, unchanged ones re-sent every 0.5 s (InjectionScheduler);
- ``baseline: full frame``: every input every tick (what a naive plugin does).

Reported: achieved inject rate, ``await ws.send`` time per inject (p50 / p99), interval between injects as
VTS received them (p99), the longest gap of any one input at VTS (must stay < 1 s), inputs lost by VTS's 1 s
rule, bytes per second on the wire and this process's CPU (% of one core).

Run: ``python benchmarks/bench_vts.py [--seconds 60] [--rate 60]`` (``--seconds 5`` for a quick check).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from avatar_plugin.live.interfaces import AvatarParams  # noqa: E402
from avatar_plugin.live.vts import VTSOptions, VTSSink  # noqa: E402

_CHILD = """
import asyncio, itertools, json, sys
sys.path.insert(0, {tests!r})
from fake_vts import FakeVTS

async def main():
    fake = await FakeVTS().start()
    print(fake.port, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    inj = fake.injections
    gaps = sorted(b.t - a.t for a, b in itertools.pairwise(inj))
    ids = set().union(*(i.values for i in inj)) if inj else set()
    worst = max((fake.max_gap(p, inj[0].t) for p in ids), default=0.0) if inj else 0.0
    print(json.dumps({{"n": len(inj), "gaps": gaps, "worst_input_gap": worst, "lost": len(fake.lost),
                      "errors": len(fake.errors_sent)}}), flush=True)
    await fake.stop()

asyncio.run(main())
"""


def pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def frame(t: float) -> AvatarParams:
    blink = 1.0 if (t % 3.0) > 0.15 else 0.0
    return AvatarParams(t, {
        "ParamMouthOpenY": 0.5 + 0.5 * math.sin(t * 9.0), "ParamMouthForm": 0.3 * math.sin(t * 0.7),
        "ParamA": max(0.0, math.sin(t * 9.0)), "ParamI": max(0.0, math.sin(t * 5.0)),
        "ParamU": 0.0, "ParamE": 0.0, "ParamO": 0.0,
        "ParamEyeLOpen": blink, "ParamEyeROpen": blink,
        "ParamEyeBallX": 0.4 * math.sin(t * 1.3), "ParamEyeBallY": 0.2 * math.sin(t * 1.7),
        "ParamAngleX": round(10 * math.sin(t * 0.5), 1), "ParamAngleY": round(5 * math.sin(t * 0.3), 1),
        "ParamAngleZ": 0.0, "ParamBodyAngleX": 0.0, "ParamBodyAngleY": 0.0, "ParamBodyAngleZ": 0.0,
        "ParamBreath": 0.5 + 0.5 * math.sin(t * 1.2), "ParamBrowLY": 0.0, "ParamBrowRY": 0.0,
        "ParamEyeLSmile": 0.0, "ParamEyeRSmile": 0.0, "ParamCheek": 0.0,
    }, face_found=True)


async def run_case(seconds: float, rate: float, always_full: bool) -> dict[str, Any]:
    child = subprocess.Popen([sys.executable, "-c", _CHILD.format(tests=str(ROOT / "tests"))],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdin is not None
    port = int(child.stdout.readline())
    with tempfile.TemporaryDirectory() as tmp:
        opts = VTSOptions(host="127.0.0.1", port=port, rate_hz=rate, token_file=Path(tmp) / "token.json",
                          always_full=always_full)
        sink = VTSSink(opts)
        t0 = time.monotonic()
        task = asyncio.create_task(sink.run_with(lambda: frame(time.monotonic() - t0)))
        while sink.stats.injects == 0:
            await asyncio.sleep(0.01)
        sink.stats.send_s.clear()
        n0, v0 = sink.stats.injects, sink.stats.values_sent
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        n, values = sink.stats.injects - n0, sink.stats.values_sent - v0
        send = list(sink.stats.send_s)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    child.stdin.write("\n")
    child.stdin.flush()
    server = json.loads(child.stdout.readline())
    child.wait(5)
    return {"rate": n / wall, "send_p50_ms": pct(send, 50) * 1e3, "send_p99_ms": pct(send, 99) * 1e3,
            "gap_p99_ms": pct(server["gaps"], 99) * 1e3, "worst_input_gap_s": server["worst_input_gap"],
            "lost": server["lost"], "errors": server["errors"], "values_per_inject": values / max(1, n),
            "cpu_pct": 100 * cpu / wall}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="duration of each case (default 60)")
    ap.add_argument("--rate", type=float, default=60.0, help="inject rate in Hz (default 60)")
    args = ap.parse_args()
    rows = []
    for name, full in (("ours (changes + 0.5 s keep-alive)", False), ("baseline: full frame every tick", True)):
        r = asyncio.run(run_case(args.seconds, args.rate, full))
        rows.append((name, r))
    print(f"VTS sink, {args.rate:g} Hz target, {args.seconds:g} s per case, fake VTS in a child process\n")
    print("| case | inject Hz | send p50 ms | send p99 ms | VTS-side interval p99 ms | worst input gap s | "
          "lost | errors | values/inject | CPU % |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in rows:
        print(f"| {name} | {r['rate']:.1f} | {r['send_p50_ms']:.3f} | {r['send_p99_ms']:.3f} | "
              f"{r['gap_p99_ms']:.1f} | {r['worst_input_gap_s']:.2f} | {r['lost']} | {r['errors']} | "
              f"{r['values_per_inject']:.1f} | {r['cpu_pct']:.1f} |")
    ours, base = rows[0][1], rows[1][1]
    print(f"\nCPU ours / baseline: {ours['cpu_pct'] / max(1e-9, base['cpu_pct']):.2f}x; "
          f"values per inject {ours['values_per_inject']:.1f} vs {base['values_per_inject']:.1f}")
    ok = all(r["lost"] == 0 and r["worst_input_gap_s"] < 1.0 for _, r in rows)
    print("keep-alive: every input re-sent within 1 s" if ok else "KEEP-ALIVE VIOLATED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
