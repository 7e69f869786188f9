"""A real HTTP server that speaks the OpenAI chat-completions protocol, with scripted replies."""
from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PASSAGE_RE = re.compile(r'<passage number="(\d+)" source="[^"]*">\n(.*?)\n</passage>', re.S)


def passages_in(messages: list[dict]) -> dict[int, str]:
    """The numbered passages the assistant put in the prompt."""
    return {int(n): text for n, text in PASSAGE_RE.findall(messages[-1]["content"])}


Reply = Callable[[list[dict]], dict]  # -> {"content": str, "status": int, "delay": float, "raw": str}


class FakeLLM:
    """Start with ``with FakeLLM() as llm:``; set ``llm.reply`` to a function of the messages."""

    def __init__(self) -> None:
        self.reply: Reply = lambda messages: {"content": "NO_ANSWER"}
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                spec = outer.reply(body["messages"])
                time.sleep(spec.get("delay", 0))
                status = spec.get("status", 200)
                if status != 200:
                    self._send(status, json.dumps({"error": {"message": "scripted failure", "type": "server_error"}}))
                    return
                if "raw" in spec:
                    self._send(200, spec["raw"])
                    return
                content = spec["content"]
                if body.get("stream"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for piece in re.findall(r"\S+\s*", content):
                        chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                                 "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                    self.wfile.write(b"data: [DONE]\n\n")
                    return
                self._send(200, json.dumps({
                    "id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }))

            def _send(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> "FakeLLM":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
