"""Benchmark the server as an editor sees it, over stdio: `initialize` answer time, time until the model is
ready, and inline completion latency (cold first request, then warm requests with the cursor moving as if typing).

    python bench/lsp_latency.py [--model embedded|tiny|DIR] [--starts 5] [--requests 20]

Prints medians (and min/max); run it on a quiet machine and compare figures from the same run only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SOURCE = '''import math


def mean(values):
    """Arithmetic mean of a non-empty list."""
    total = 0
    for value in values:
        total += value
    return total / len(values)


def variance(values):
    m = mean(values)
    return 
'''


class Server:
    def __init__(self, model: str, settings: dict) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        command = [sys.executable, "-m", "dgemma_lsp", "serve", "--model", model, "--settings", json.dumps(settings)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        self.next_id = 0

    def send(self, method: str, params, request: bool = True) -> int | None:
        message = {"jsonrpc": "2.0", "method": method, "params": params}
        if request:
            self.next_id += 1
            message["id"] = self.next_id
        body = json.dumps(message).encode()
        self.process.stdin.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        self.process.stdin.flush()
        return message.get("id")

    def receive(self) -> dict:
        length = 0
        while (line := self.process.stdout.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return json.loads(self.process.stdout.read(length))

    def request(self, method: str, params) -> dict:
        request_id = self.send(method, params)
        while (message := self.pump()).get("id") != request_id or "method" in message:
            pass
        return message

    def wait_ready(self) -> None:
        while getattr(self, "ready_at", None) is None:
            self.pump()

    def pump(self) -> dict:
        """Read one message; accept the server's own requests (progress tokens) and note when loading ends."""
        message = self.receive()
        if "method" in message and "id" in message:
            body = json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": None}).encode()
            self.process.stdin.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            self.process.stdin.flush()
        if message.get("method") == "$/progress" and message["params"]["value"].get("kind") == "end":
            self.ready_at = time.perf_counter()
        return message

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


CAPABILITIES = {"window": {"workDoneProgress": True}, "textDocument": {"inlineCompletion": {}}}


def summary(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return f"{name:<34} median {statistics.median(ms):8.1f} ms   min {min(ms):8.1f}   max {max(ms):8.1f}   (n={len(ms)})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    settings = {"completion": {"seed": 0}}

    initialize, ready, cold, warm = [], [], [], []
    for start in range(args.starts):
        server = Server(args.model, settings)
        started = time.perf_counter()
        server.request("initialize", {"processId": os.getpid(), "capabilities": CAPABILITIES})
        initialize.append(time.perf_counter() - started)
        server.send("initialized", {}, request=False)
        server.wait_ready()
        ready.append(server.ready_at - started)
        if start == 0:
            uri = "file:///bench/stats.py"
            server.send("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": SOURCE}}, request=False)
            line = SOURCE.count("\n") - 1
            for i in range(args.requests + 1):
                # type one more character each time, as a user does between inline requests
                typed = "m"[: i % 2]
                text = SOURCE[:-1] + typed + "\n"
                server.send("textDocument/didChange", {"textDocument": {"uri": uri, "version": i + 2}, "contentChanges": [{"text": text}]}, request=False)
                position = {"line": line, "character": len("    return ") + len(typed)}
                t0 = time.perf_counter()
                reply = server.request("textDocument/inlineCompletion", {"textDocument": {"uri": uri}, "position": position, "context": {"triggerKind": 2}})
                (cold if i == 0 else warm).append(time.perf_counter() - t0)
                if i == 0:
                    items = reply.get("result", {}).get("items", [])
                    print(f"first completion: {items[0]['insertText']!r}" if items else "first completion: (empty)")
        server.close()

    print(f"model: {args.model}")
    print(summary("initialize answered", initialize))
    print(summary("model ready (from start)", ready))
    print(summary("inline completion, first", cold))
    print(summary("inline completion, while typing", warm))


if __name__ == "__main__":
    main()
