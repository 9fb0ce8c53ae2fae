"""How fast is the playground while it trains, and how soon does it act on a click?

The real thing: the playground's server (uvicorn, FastAPI) on a free 127.0.0.1 port, a
WebSocket client (the ``websockets`` library, as a page would talk), a 2-8-8-1 tanh
network on circle with batch 10. Measured while training runs flat out:

- **steps/s**: optimizer steps per second, from the step counts of the frames;
- **frames/s**: frames the page receives per second (the server aims at about 20);
- **click-to-action**: from sending a command (a learning-rate change, with an id) to
  receiving the server's ``ack``, sent once the worker has applied it between two
  chunks: the round trip, so an upper bound of the page's click-to-action delay
  (target: under 100 ms).

For scale, the same network trained by the same ``Run`` without server or thread.

    python benchmarks/playground.py [--seconds 8] [--clicks 40]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

from websockets.sync.client import connect

from layerwise._checks import LayerwiseWarning
from layerwise.playground import protocol
from layerwise.playground.engine import Run
from layerwise.playground.server import BackgroundServer

CONFIG = {
    "dataset": "circle",
    "features": ["x1", "x2"],
    "layers": [8, 8],
    "activations": ["tanh", "tanh"],
    "batch_size": 10,
    "optimizer": "sgd",
    "lr": 0.03,
}


def bare_steps_per_second(seconds: float) -> float:
    """Steps per second of the same run, stepped in this thread with no server."""
    run = Run(protocol.Config.model_validate_json(json.dumps(CONFIG)))
    run.train(100)  # warm up
    start, done = time.perf_counter(), run.session.steps
    while time.perf_counter() - start < seconds:
        run.train(500)
    return (run.session.steps - done) / (time.perf_counter() - start)


def served(seconds: float, clicks: int) -> dict:
    """Steps/s, frames/s and the click-to-ack delays while the server trains."""
    with BackgroundServer() as server, connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        ws.send(json.dumps({"type": "config", "config": CONFIG, "id": 0}))
        ws.send(json.dumps({"type": "play", "id": 1}))
        frames, delays, sent = [], [], {}
        start = time.perf_counter()
        next_click, number = start + 0.5, 2
        while time.perf_counter() - start < seconds or len(delays) < clicks:
            now = time.perf_counter()
            if now >= next_click and number - 2 < clicks:
                rate = 0.03 if number % 2 else 0.02  # a live change that rebuilds nothing
                ws.send(json.dumps({"type": "lr", "lr": rate, "id": number}))
                sent[number], number = now, number + 1
                next_click = now + seconds / clicks
            message = json.loads(ws.recv(timeout=5))
            arrived = time.perf_counter()
            if message["type"] == "frame" and message["playing"]:
                frames.append((arrived, message["step"]))
            elif message["type"] == "ack" and message["id"] in sent:
                delays.append(arrived - sent.pop(message["id"]))
            if time.perf_counter() - start > 4 * seconds:
                break  # bounded, whatever happens
        ws.send(json.dumps({"type": "pause"}))
    frames = [f for f in frames if f[0] - frames[0][0] > 0.5]  # past the warm-up
    (t0, s0), (t1, s1) = frames[0], frames[-1]
    gaps = [b[0] - a[0] for a, b in zip(frames, frames[1:])]
    return {
        "steps_per_second": (s1 - s0) / (t1 - t0),
        "frames_per_second": (len(frames) - 1) / (t1 - t0),
        "frame_gap_median_ms": 1000 * statistics.median(gaps),
        "click_median_ms": 1000 * statistics.median(delays),
        "click_max_ms": 1000 * max(delays),
        "clicks": len(delays),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clicks", type=int, default=40)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=LayerwiseWarning)  # saturation notes
    bare = bare_steps_per_second(min(args.seconds, 3.0))
    result = served(args.seconds, args.clicks)
    print("playground, 2-8-8-1 tanh on circle, batch 10, SGD (medians)")
    print(f"  steps/s, no server (Run.train)    {bare:10,.0f}")
    print(f"  steps/s, served while playing     {result['steps_per_second']:10,.0f}")
    print(f"  frames/s received                 {result['frames_per_second']:10.1f}")
    print(f"  gap between frames                {result['frame_gap_median_ms']:10.1f} ms")
    print(
        f"  click-to-action (send -> ack)     {result['click_median_ms']:10.1f} ms median, "
        f"{result['click_max_ms']:.1f} ms max over {result['clicks']} clicks (target < 100 ms)"
    )


if __name__ == "__main__":
    main()
