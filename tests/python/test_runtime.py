"""The runtime from Python: the behaviours of the C++ API (tests/core, tests/providers) on generated
models, through the xervo package."""
import json
import threading

import numpy as np
import pytest

import xervo


def test_embed_returns_one_contiguous_float32_row_per_text(runtime):
    model = runtime.embedding("embed/tiny")
    vectors = model.embed(["the cat sat", "on the mat", "the cat sat"])
    assert isinstance(vectors, np.ndarray)
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, model.dimensions) and model.dimensions == 64
    assert vectors.flags["C_CONTIGUOUS"] and vectors.flags["OWNDATA"] is False  # the buffer xervo filled
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    # The same text in one batch: equal up to float noise of the batch's order (docs/cache.md).
    np.testing.assert_allclose(vectors[0], vectors[2], atol=1e-6)
    assert not np.allclose(vectors[0], vectors[1], atol=1e-3)


def test_embed_of_nothing_is_an_empty_array(runtime):
    assert runtime.embedding("embed/tiny").embed([]).shape[0] == 0


def test_embed_takes_a_list_not_a_string(runtime):
    with pytest.raises(TypeError):
        runtime.embedding("embed/tiny").embed("one text")


def test_shorter_dimensions_where_the_model_allows_them(runtime):
    assert runtime.embedding("embed/tiny").embed(["x"], dimensions=16).shape == (1, 16)


def test_errors_keep_xervos_code(runtime):
    with pytest.raises(xervo.XervoError) as info:
        runtime.embedding("embed/none")
    assert info.value.code == "alias_not_found"
    assert info.value.http_status == 404
    assert "embed/none" in info.value.message
    with pytest.raises(xervo.XervoError) as info:
        runtime.embedding("chat/tiny")
    assert info.value.code == "capability_mismatch"
    long_text = " ".join(["word"] * 200)
    with pytest.raises(xervo.XervoError) as info:
        runtime.embedding("embed/small-ctx").embed([long_text])
    assert info.value.code == "context_overflow"
    assert runtime.embedding("embed/small-ctx").embed([long_text], truncate=True).shape == (1, 64)


def test_rerank_returns_the_best_top_n_sorted(runtime):
    docs = ["paris is in france", "bananas", "the capital of france is paris", "blue sky"]
    results = runtime.reranker("rerank/tiny").rerank("capital of france", docs, top_n=3)
    assert len(results) == 3
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    assert len({r.index for r in results}) == 3 and all(0 <= r.index < 4 for r in results)
    everything = runtime.reranker("rerank/tiny").rerank("capital of france", docs)
    assert sorted(r.index for r in everything) == [0, 1, 2, 3]


def test_greedy_generation_is_reproducible_and_bounded(runtime):
    gen = runtime.generator("chat/tiny")
    messages = [{"role": "user", "content": "Say something"}]
    a = gen.generate(messages=messages, max_tokens=12, temperature=0)
    b = gen.generate(messages=messages, max_tokens=12, temperature=0)
    assert a.text == b.text
    assert a.finish_reason in ("length", "stop")
    assert 0 < a.completion_tokens <= 12 and a.prompt_tokens > 0
    seeded = [gen.generate(prompt="Once upon", max_tokens=8, seed=7).text for _ in range(2)]
    assert seeded[0] == seeded[1]


def test_json_schema_constrains_the_output(runtime):
    schema = {"type": "object", "properties": {"answer": {"type": "boolean"}}, "required": ["answer"],
              "additionalProperties": False}
    out = runtime.generator("chat/tiny").generate(messages=[{"role": "user", "content": "2+2?"}], max_tokens=64,
                                                  temperature=0, json_schema=schema)
    assert isinstance(json.loads(out.text)["answer"], bool), out.text


def test_stream_pieces_add_up_to_the_whole_answer(runtime):
    gen = runtime.generator("chat/tiny")
    messages = [{"role": "user", "content": "Tell me"}]
    whole = gen.generate(messages=messages, max_tokens=16, temperature=0)
    stream = gen.stream(messages=messages, max_tokens=16, temperature=0)
    pieces = list(stream)
    assert "".join(pieces) == whole.text
    assert stream.result is not None and stream.result.text == whole.text


def test_breaking_out_of_a_stream_cancels_it(runtime):
    gen = runtime.generator("gen/slow")
    stream = gen.stream(prompt=" ".join(f"w{i}" for i in range(200)), max_tokens=200)
    got = []
    for piece in stream:
        got.append(piece)
        if len(got) == 3:
            break
    assert got == ["w0 ", "w1 ", "w2 "]
    assert stream.result is None  # never finished
    stream.cancel()  # idempotent after the loop's own cancel
    assert gen.generate(prompt="a b", max_tokens=5).text == "a b "


def test_the_gil_is_released_while_a_model_runs(runtime):
    # A generation of 100 slow pieces (20 ms each) on another thread; this thread cancels it after the
    # first piece. Had the call held the GIL, this thread could not run until it ended ("length").
    gen = runtime.generator("gen/slow")
    token = xervo.CancelToken()
    result = {}
    worker = threading.Thread(target=lambda: result.update(
        out=gen.generate(prompt=" ".join(["w"] * 100), max_tokens=100, cancel=token)))
    worker.start()
    threading.Event().wait(0.1)
    token.cancel()
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert result["out"].finish_reason == "cancelled"
    assert result["out"].completion_tokens < 100


def test_several_python_threads_share_one_model(runtime):
    model = runtime.embedding("embed/tiny")
    texts = [f"sentence number {i}" for i in range(8)]
    expected = model.embed(texts)
    results, errors = [None] * 8, []

    def work(i):
        try:
            for _ in range(3):
                results[i] = model.embed(texts)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for r in results:  # batched with other threads' calls: equal within the batch-composition bound
        np.testing.assert_allclose(r, expected, atol=1e-4)


def test_from_toml_and_plugins_through_the_config(models, plugin_dir, tmp_path):
    config = tmp_path / "xervo.toml"
    config.write_text(f'[plugins]\npaths = ["{plugin_dir}"]\n'
                      f'[models."embed/hash"]\ntask = "embed"\nprovider = "hashembed"\nmodel = "hash"\n'
                      f'[models."embed/tiny"]\ntask = "embed"\nprovider = "llamacpp"\nmodel = "{models["embedder"]}"\n')
    rt = xervo.Runtime.from_config(str(config))
    assert sorted(rt.aliases()) == ["embed/hash", "embed/tiny"]
    vectors = rt.embedding("embed/hash").embed(["a b", "a b"])
    assert vectors.shape == (2, 64)
    np.testing.assert_array_equal(vectors[0], vectors[1])
    with pytest.raises(xervo.XervoError) as info:
        xervo.Runtime.from_toml('[models."x"]\ntask = "sing"\n')
    assert info.value.code == "config_invalid"
