"""The model library from Python: import, search, get, and a pull with progress from a Hub the test
serves on 127.0.0.1 (the same routes as tests/library/hub_server.cpp)."""
import hashlib
import http.server
import os
import shutil
import threading

import pytest

import xervo


def test_import_then_search_and_get(models, tmp_path):
    library = xervo.Library.open(str(tmp_path / "home"))
    source = tmp_path / "bge-tiny.gguf"
    shutil.copy(models["embedder"], source)
    outcomes = library.import_paths([str(source)], mode="copy", tags=["test"])
    assert len(outcomes) == 1 and "error" not in outcomes[0], outcomes
    model = outcomes[0]["model"]
    assert model["architecture"] == "bert" and "test" in model["tags"]
    found = library.search("bge")
    assert [m["id"] for m in found] == [model["id"]]
    assert library.search(task="generate") == []
    assert library.get(model["id"])["sha256"] == model["sha256"]
    with pytest.raises(xervo.XervoError) as info:
        library.get("local/none")
    assert info.value.code == "model_not_found"
    bad = library.import_paths([str(tmp_path / "missing.gguf")])
    assert bad[0]["error"]["code"] in ("io_error", "invalid_input", "model_not_found")


class _Hub(http.server.BaseHTTPRequestHandler):
    files = {}  # "org/repo" -> {name: bytes}

    def log_message(self, *args):
        pass

    def _send(self, status, body, kind="application/json", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "revision":
            repo = parts[2] + "/" + parts[3]
            if repo not in self.files:
                return self._send(404, b'{"error":"Repository not found"}')
            siblings = [{"rfilename": n, "size": len(c), "lfs": {"sha256": hashlib.sha256(c).hexdigest(), "size": len(c)}}
                        for n, c in self.files[repo].items()]
            import json
            body = json.dumps({"id": repo, "sha": "c0ffee0000000000000000000000000000000001", "siblings": siblings})
            return self._send(200, body.encode())
        if len(parts) >= 5 and parts[2] == "resolve":
            repo, name = parts[0] + "/" + parts[1], "/".join(parts[4:])
            content = self.files.get(repo, {}).get(name)
            if content is None:
                return self._send(404, b"")
            start = 0
            rng = self.headers.get("Range")
            if rng and rng.startswith("bytes="):
                start = int(rng[6:].split("-")[0] or 0)
            if start:
                return self._send(206, content[start:], "application/octet-stream",
                                  [("Content-Range", f"bytes {start}-{len(content) - 1}/{len(content)}")])
            return self._send(200, content, "application/octet-stream")
        self._send(404, b"")


def test_pull_reports_progress(models, tmp_path, monkeypatch):
    with open(models["embedder"], "rb") as f:
        _Hub.files = {"acme/tiny-embed-GGUF": {"tiny-embed-f16.gguf": f.read()}}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        library = xervo.Library.open(str(tmp_path / "home"))
        seen = []
        model = library.pull("acme/tiny-embed-GGUF", progress=lambda file, done, total: seen.append((file, done, total)))
        size = len(_Hub.files["acme/tiny-embed-GGUF"]["tiny-embed-f16.gguf"])
        assert model["size_bytes"] == size and model["source"]["hub_repo"] == "acme/tiny-embed-GGUF"
        assert seen and seen[-1][1] == seen[-1][2] == size
        assert [m["id"] for m in library.search("tiny")] == [model["id"]]
        with pytest.raises(xervo.XervoError) as info:
            library.pull("acme/nothing-here")
        assert info.value.code == "model_not_found"
    finally:
        server.shutdown()
