"""Fixtures of the Python package's tests: generated models (xervo-testmodel), the test plugins, the
xervo binary, and a runtime over them. ctest (tests/python/CMakeLists.txt) sets the environment."""
import os
import pathlib
import re
import subprocess
import time

import pytest

import xervo


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.skip(f"{name} is not set (run through ctest)")
    return value


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """Tiny generated models: embedder, reranker, generator (ChatML)."""
    testmodel = _env("XERVO_TESTMODEL")
    folder = tmp_path_factory.mktemp("models")
    out = {}
    for kind in ("embedder", "reranker", "generator"):
        path = folder / f"{kind}.gguf"
        subprocess.run([testmodel, "--kind", kind, "-o", str(path)], check=True, capture_output=True, timeout=120)
        out[kind] = str(path)
    return out


@pytest.fixture(scope="session")
def plugin_dir():
    return _env("XERVO_TEST_PLUGIN_DIR")


@pytest.fixture(scope="session")
def runtime(models, plugin_dir):
    return (
        xervo.Runtime.builder()
        .alias("embed/tiny", task="embed", model=models["embedder"])
        .alias("rerank/tiny", task="rerank", model=models["reranker"])
        .alias("chat/tiny", task="generate", model=models["generator"], options={"parallel": 4})
        .alias("embed/small-ctx", task="embed", model=models["embedder"], options={"context_size": 32})
        .alias("embed/hash", task="embed", provider="hashembed", model="hash", options={"dimensions": 32})
        .alias("gen/slow", task="generate", provider="echo", model="x", options={"slow": True})
        .plugin_path(plugin_dir)
        .build()
    )


class Serve:
    """`xervo serve --port 0` on a config, stopped (SIGTERM, clean exit expected) at the end."""

    def __init__(self, config: pathlib.Path, home: pathlib.Path):
        self.log_path = config.parent / "serve.log"
        self._log = open(self.log_path, "w")
        env = dict(os.environ, XERVO_HOME=str(home))
        self.process = subprocess.Popen([_env("XERVO_BIN"), "--config", str(config), "serve", "--port", "0"],
                                        stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 60
        self.port = None
        while time.monotonic() < deadline and self.port is None:
            match = re.search(r"listening on http://[^:]+:(\d+)", self.log())
            if match:
                self.port = int(match.group(1))
            elif self.process.poll() is not None:
                raise RuntimeError("xervo serve exited:\n" + self.log())
            else:
                time.sleep(0.05)
        if self.port is None:
            self.process.kill()
            raise RuntimeError("xervo serve did not listen:\n" + self.log())

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> int:
        self.process.terminate()
        try:
            return self.process.wait(timeout=30)
        finally:
            self._log.close()


@pytest.fixture(scope="module")
def serve(tmp_path_factory):
    """Starts `xervo serve` on a config text; one server may serve a whole test module."""
    started = []
    tmp_path = tmp_path_factory.mktemp("serve")

    def start(config_text: str) -> Serve:
        config = tmp_path / "xervo.toml"
        config.write_text(config_text)
        s = Serve(config, tmp_path / "home")
        started.append(s)
        return s

    yield start
    for s in started:
        if s.process.poll() is None:
            s.process.kill()
