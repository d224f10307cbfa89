"""xervo in Python: the runtime in-process, with one typed API for embeddings, reranking and generation.

    import xervo
    runtime = xervo.Runtime.from_config("xervo.toml")
    vectors = runtime.embedding("embed/fast").embed(["a text", "another"])   # float32 [2, dim]
    for piece in runtime.generator("chat").stream(messages=[{"role": "user", "content": "hi"}]):
        print(piece, end="")                                                  # break cancels

Every call that runs a model releases the GIL: Python threads run in parallel, and the ``*_async``
variants run on a thread of the event loop's executor so that the loop never blocks. Failures raise
:class:`XervoError`, whose ``code`` is xervo's error code. See docs/python.md.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator, Callable, Dict, Iterable, Iterator, List, Optional, Sequence

import numpy as np

from . import _xervo
from ._xervo import CancelToken, GenerateResult, RerankResult, XervoError

__all__ = [
    "CancelToken",
    "Embedding",
    "GenerateResult",
    "Generator",
    "Library",
    "RerankResult",
    "Reranker",
    "Runtime",
    "RuntimeBuilder",
    "Stream",
    "XervoError",
]
__version__ = "0.1.0"

Message = Dict[str, str]


def _messages(messages: Optional[Sequence[Message]]) -> Optional[List[tuple]]:
    if messages is None:
        return None
    return [(m["role"], m["content"]) for m in messages]


async def _in_executor(fn: Callable[..., Any], *args: Any, cancel: Optional[CancelToken] = None, **kwargs: Any) -> Any:
    """Runs ``fn`` on the loop's default executor; an asyncio cancellation stops the call through ``cancel``."""
    loop = asyncio.get_running_loop()
    token = cancel if cancel is not None else CancelToken()
    future = loop.run_in_executor(None, lambda: fn(*args, cancel=token, **kwargs))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        token.cancel()
        raise


class Embedding:
    """An embedding model: ``embed(texts)`` returns a float32 NumPy array of shape ``[len(texts), dim]``."""

    def __init__(self, handle: _xervo.Embedding):
        self._handle = handle

    @property
    def dimensions(self) -> int:
        """Vector length (0 when only known after the first call, as for remote models)."""
        return self._handle.dimensions

    def embed(self, texts: Sequence[str], *, dimensions: Optional[int] = None, truncate: bool = False,
              cancel: Optional[CancelToken] = None) -> np.ndarray:
        """One vector per text, in order. ``dimensions`` asks for shorter vectors where the model allows it;
        ``truncate`` cuts inputs longer than the context instead of raising (code ``context_overflow``)."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of texts; wrap a single text in a list")
        return self._handle.embed(list(texts), dimensions, truncate, cancel)

    async def embed_async(self, texts: Sequence[str], *, dimensions: Optional[int] = None,
                          truncate: bool = False, cancel: Optional[CancelToken] = None) -> np.ndarray:
        """:meth:`embed` without blocking the event loop."""
        return await _in_executor(self.embed, texts, dimensions=dimensions, truncate=truncate, cancel=cancel)


class Reranker:
    """A reranker: scores documents against a query, best first."""

    def __init__(self, handle: _xervo.Reranker):
        self._handle = handle

    def rerank(self, query: str, documents: Sequence[str], top_n: Optional[int] = None, *,
               cancel: Optional[CancelToken] = None) -> List[RerankResult]:
        """``RerankResult(index, score)`` for the best ``top_n`` documents (all without it), highest score first."""
        return self._handle.rerank(query, list(documents), top_n, cancel)

    async def rerank_async(self, query: str, documents: Sequence[str], top_n: Optional[int] = None, *,
                           cancel: Optional[CancelToken] = None) -> List[RerankResult]:
        """:meth:`rerank` without blocking the event loop."""
        return await _in_executor(self.rerank, query, documents, top_n, cancel=cancel)


class Stream:
    """The pieces of one generation as they are produced. Iterate it; leaving the loop early (``break``, an
    exception) or calling :meth:`cancel` stops the generation. ``result`` holds the whole answer at the end."""

    def __init__(self, handle: _xervo.Stream):
        self._handle = handle

    def __iter__(self) -> Iterator[str]:
        try:
            while True:
                piece = self._handle.next()
                if piece is None:
                    return
                yield piece
        finally:
            self._handle.cancel()

    def cancel(self) -> None:
        """Stops the generation; the iteration ends after the pieces already made."""
        self._handle.cancel()

    @property
    def result(self) -> Optional[GenerateResult]:
        """The whole result (text, finish_reason, token counts) once every piece was read; None before."""
        return self._handle.result

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cancel()

    async def __aiter__(self) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        try:
            while True:
                piece = await loop.run_in_executor(None, self._handle.next)
                if piece is None:
                    return
                yield piece
        finally:
            self._handle.cancel()


class Generator:
    """A text generator: chat ``messages`` (``[{"role": ..., "content": ...}]``) or a raw ``prompt`` in, text out."""

    def __init__(self, handle: _xervo.Generator):
        self._handle = handle

    def generate(self, prompt: Optional[str] = None, *, messages: Optional[Sequence[Message]] = None,
                 max_tokens: int = 256, temperature: float = 0.8, top_p: float = 0.95, top_k: int = 40,
                 seed: Optional[int] = None, stop: Sequence[str] = (), json_schema: Optional[str | dict] = None,
                 cancel: Optional[CancelToken] = None) -> GenerateResult:
        """The whole answer. ``json_schema`` (a JSON Schema as a dict or text) constrains the output to it;
        ``temperature=0`` is greedy; a ``seed`` makes sampling reproducible."""
        schema = json.dumps(json_schema) if isinstance(json_schema, dict) else json_schema
        return self._handle.generate(prompt, _messages(messages), max_tokens, temperature, top_p, top_k, seed,
                                     list(stop), schema, cancel)

    def stream(self, prompt: Optional[str] = None, *, messages: Optional[Sequence[Message]] = None,
               max_tokens: int = 256, temperature: float = 0.8, top_p: float = 0.95, top_k: int = 40,
               seed: Optional[int] = None, stop: Sequence[str] = (),
               json_schema: Optional[str | dict] = None) -> Stream:
        """A :class:`Stream` of the answer's pieces (iterate it, sync or ``async for``)."""
        schema = json.dumps(json_schema) if isinstance(json_schema, dict) else json_schema
        return Stream(self._handle.stream(prompt, _messages(messages), max_tokens, temperature, top_p, top_k, seed,
                                          list(stop), schema))

    async def generate_async(self, prompt: Optional[str] = None, *, cancel: Optional[CancelToken] = None,
                             **kwargs: Any) -> GenerateResult:
        """:meth:`generate` without blocking the event loop; cancelling the task stops the generation."""
        return await _in_executor(self.generate, prompt, cancel=cancel, **kwargs)


class Runtime:
    """The runtime: resolves aliases, loads each model once however many threads ask, hands out typed handles.
    Thread-safe. Build one with :meth:`from_config` or :meth:`builder`."""

    def __init__(self, handle: _xervo.Runtime):
        self._handle = handle

    @staticmethod
    def from_config(path: str) -> "Runtime":
        """The runtime of a xervo.toml (aliases, [providers.*], [plugins], [library], [runtime], [cache])."""
        return Runtime(_xervo.Runtime.from_config(str(path)))

    @staticmethod
    def from_toml(text: str) -> "Runtime":
        """The same from TOML text."""
        return Runtime(_xervo.Runtime.from_toml(text))

    @staticmethod
    def builder() -> "RuntimeBuilder":
        """A :class:`RuntimeBuilder` to declare aliases in code."""
        return RuntimeBuilder()

    def embedding(self, name: str) -> Embedding:
        """The embedding model of an alias (or an id such as a .gguf path); loads it on first use."""
        return Embedding(self._handle.embedding(name))

    def reranker(self, name: str) -> Reranker:
        """The reranker of an alias or id."""
        return Reranker(self._handle.reranker(name))

    def generator(self, name: str) -> Generator:
        """The generator of an alias or id."""
        return Generator(self._handle.generator(name))

    def aliases(self) -> List[str]:
        """The configured aliases."""
        return self._handle.aliases()

    def unload(self, alias: str) -> None:
        """Unloads an alias's model (handles already held keep working until dropped)."""
        self._handle.unload(alias)


class RuntimeBuilder:
    """Declares aliases and provider settings in code, then :meth:`build` makes the :class:`Runtime`."""

    def __init__(self) -> None:
        self._models: List[Dict[str, Any]] = []
        self._providers: Dict[str, Any] = {}
        self._plugins: List[str] = []
        self._library: Dict[str, Any] = {}

    def alias(self, alias: str, *, task: str, model: str, provider: str = "llamacpp",
              options: Optional[Dict[str, Any]] = None, warmup: str = "lazy",
              fallbacks: Iterable[str] = ()) -> "RuntimeBuilder":
        """Adds an alias: ``task`` is embed, rerank or generate; ``options`` the provider's options."""
        self._models.append({"alias": alias, "task": task, "provider": provider, "model": model,
                             "options": dict(options or {}), "warmup": warmup, "fallbacks": list(fallbacks)})
        return self

    def provider(self, provider_id: str, settings: Dict[str, Any]) -> "RuntimeBuilder":
        """Settings of one provider, as its [providers.ID] table would give them."""
        self._providers[provider_id] = dict(settings)
        return self

    def plugin_path(self, path: str) -> "RuntimeBuilder":
        """A folder (or file) of provider plugins to load, as [plugins] paths."""
        self._plugins.append(str(path))
        return self

    def library(self, settings: Dict[str, Any]) -> "RuntimeBuilder":
        """Settings of the model library, as [library] (home, hub_endpoint, ...)."""
        self._library = dict(settings)
        return self

    def build(self) -> Runtime:
        """Validates the aliases, loads the eager ones and returns the runtime."""
        parts: Dict[str, Any] = {"models": self._models, "providers": self._providers, "library": self._library}
        if self._plugins:
            parts["plugins"] = {"paths": self._plugins}
        return Runtime(_xervo.Runtime.from_parts(json.dumps(parts)))


class Library:
    """The model library under XERVO_HOME (or ``home``): search, pull from the Hugging Face Hub, import."""

    def __init__(self, handle: _xervo.Library):
        self._handle = handle

    @staticmethod
    def open(home: Optional[str] = None) -> "Library":
        """Opens (and creates) the library at ``home``, else $XERVO_HOME, else ~/.local/share/xervo."""
        return Library(_xervo.Library.open(None if home is None else str(home)))

    def search(self, text: str = "", *, task: Optional[str] = None, limit: int = 50) -> List[Dict[str, Any]]:
        """Models matching ``text`` (full text over name, publisher, architecture, tags), as dicts."""
        return json.loads(self._handle.search(text, task, limit))

    def get(self, model_id: str) -> Dict[str, Any]:
        """One model by id ("publisher/name")."""
        return json.loads(self._handle.get(model_id))

    def pull(self, ref: str, progress: Optional[Callable[[str, int, int], None]] = None) -> Dict[str, Any]:
        """Downloads "ORG/REPO[:QUANT]" from the Hub (what is missing only); ``progress(file, done, total)``
        is called on this thread as bytes arrive."""
        return json.loads(self._handle.pull(ref, progress))

    def import_paths(self, paths: Iterable[str], *, mode: str = "link", tags: Iterable[str] = ()) -> List[Dict[str, Any]]:
        """Imports GGUF files or folders (a Hugging Face cache, an Ollama models folder); one outcome per
        input, each with ``model`` or ``error``. ``mode``: link, copy, move or reference."""
        return json.loads(self._handle.import_paths([str(p) for p in paths], mode, list(tags)))
