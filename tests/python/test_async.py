"""asyncio variants: calls run on executor threads (the GIL released inside), so the event loop keeps
running, and cancelling a task stops its generation."""
import asyncio

import numpy as np

import xervo


def test_concurrent_embed_async_calls(runtime):
    model = runtime.embedding("embed/tiny")

    async def main():
        return await asyncio.gather(*(model.embed_async([f"text {i}"]) for i in range(6)))

    results = asyncio.run(main())
    for i, r in enumerate(results):
        np.testing.assert_allclose(r, model.embed([f"text {i}"]), atol=1e-4)


def test_the_loop_runs_while_a_generation_does(runtime):
    gen = runtime.generator("gen/slow")

    async def main():
        ticks = 0

        async def heartbeat():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        beat = asyncio.create_task(heartbeat())
        out = await gen.generate_async(" ".join(["w"] * 10), max_tokens=10)
        beat.cancel()
        return out, ticks

    out, ticks = asyncio.run(main())
    assert out.text == "w " * 10
    assert ticks >= 5  # 10 pieces of 20 ms each: the heartbeat ran during them


def test_cancelling_a_task_stops_its_generation(runtime):
    gen = runtime.generator("gen/slow")
    token = xervo.CancelToken()

    async def main():
        task = asyncio.create_task(gen.generate_async(" ".join(["w"] * 500), max_tokens=500, cancel=token))
        await asyncio.sleep(0.1)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        return await gen.generate_async("a b", max_tokens=5)

    assert asyncio.run(main()).text == "a b "
    assert token.cancelled  # the task's cancellation reached the generation


def test_async_stream_and_rerank(runtime):
    async def main():
        pieces = []
        async for piece in runtime.generator("gen/slow").stream("x y z", max_tokens=10):
            pieces.append(piece)
        ranked = await runtime.reranker("rerank/tiny").rerank_async("q", ["a", "b"], 1)
        return pieces, ranked

    pieces, ranked = asyncio.run(main())
    assert pieces == ["x ", "y ", "z "]
    assert len(ranked) == 1
