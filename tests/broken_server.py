"""A real HTTP server process whose completions are broken: it lists a model at /v1/models like an
OpenAI-compatible server, then answers every completion with HTTP 200 and a stream that is not JSON. No real
inference server sends that on purpose, so the end-to-end tests start this one for the "malformed answer" case.

Run: python tests/broken_server.py PORT
"""

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self._send("application/json", b'{"object": "list", "data": [{"id": "broken", "object": "model"}]}')

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._send("text/event-stream", b"data: {this is not json\n\ndata: [DONE]\n\n")

    def _send(self, kind: str, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("ready", flush=True)
    server.serve_forever()
