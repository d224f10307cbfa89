"""The official openai Python SDK, unchanged, against the real `xervo serve` on generated models:
embeddings, chat, streaming, JSON schema output, tools (named, required, streamed), and a provider
plugin served like any provider."""
import json

import openai
import pytest


@pytest.fixture(scope="module")
def server(serve, models, plugin_dir):
    s = serve(
        f'[plugins]\npaths = ["{plugin_dir}"]\n'
        f'[models."embed/tiny"]\ntask = "embed"\nprovider = "llamacpp"\nmodel = "{models["embedder"]}"\n'
        f'[models."embed/hash"]\ntask = "embed"\nprovider = "hashembed"\nmodel = "hash"\n'
        f'[models."chat/tiny"]\ntask = "generate"\nprovider = "llamacpp"\nmodel = "{models["generator"]}"\n'
        "[server]\nshutdown_grace_s = 10\n"
    )
    yield s
    assert s.stop() == 0, s.log()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url("/v1"), api_key="unused", max_retries=0, timeout=300)


def test_embeddings(client):
    out = client.embeddings.create(model="embed/tiny", input=["the cat", "the dog"])
    assert [d.index for d in out.data] == [0, 1]
    assert len(out.data[0].embedding) == 64
    assert out.usage.prompt_tokens > 0
    hashed = client.embeddings.create(model="embed/hash", input="the cat")
    assert len(hashed.data[0].embedding) == 64


def test_chat_and_streaming(client):
    messages = [{"role": "user", "content": "Hello"}]
    whole = client.chat.completions.create(model="chat/tiny", messages=messages, max_tokens=10, temperature=0)
    assert whole.choices[0].finish_reason in ("length", "stop")
    assert whole.usage.completion_tokens > 0
    text = ""
    finish = None
    with client.chat.completions.create(model="chat/tiny", messages=messages, max_tokens=10, temperature=0,
                                        stream=True) as stream:
        for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
                finish = chunk.choices[0].finish_reason or finish
    assert text == whole.choices[0].message.content
    assert finish == whole.choices[0].finish_reason


def test_json_schema(client):
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}, "color": {"enum": ["red", "blue"]}},
              "required": ["ok", "color"], "additionalProperties": False}
    out = client.chat.completions.create(
        model="chat/tiny", messages=[{"role": "user", "content": "A city and a number"}], max_tokens=80, temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}})
    answer = json.loads(out.choices[0].message.content)
    assert isinstance(answer["ok"], bool) and answer["color"] in ("red", "blue"), answer


WEATHER = {"type": "object", "additionalProperties": False, "required": ["city", "days", "metric"],
           "properties": {"city": {"type": "string", "enum": ["Paris", "Oslo", "Lima"]},
                          "days": {"type": "integer", "minimum": 1, "maximum": 9}, "metric": {"type": "boolean"}}}
TIME = {"type": "object", "additionalProperties": False, "required": ["zone"],
        "properties": {"zone": {"type": "string", "enum": ["UTC", "CET"]}}}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city", "parameters": WEATHER}},
    {"type": "function", "function": {"name": "get_time", "description": "Time in a zone", "parameters": TIME}},
]


def check_args(name, arguments):
    args = json.loads(arguments)
    if name == "get_weather":
        assert sorted(args) == ["city", "days", "metric"] and args["city"] in ("Paris", "Oslo", "Lima"), args
        assert 1 <= args["days"] <= 9 and isinstance(args["metric"], bool), args
    else:
        assert name == "get_time" and args == {"zone": args["zone"]} and args["zone"] in ("UTC", "CET"), args


def test_tools_named_required_and_streamed(client):
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    named = client.chat.completions.create(model="chat/tiny", messages=messages, tools=TOOLS, max_tokens=100,
                                           temperature=0.9, seed=11,
                                           tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert named.choices[0].finish_reason == "tool_calls", named
    for call in named.choices[0].message.tool_calls:
        assert call.type == "function" and call.id.startswith("call_") and call.function.name == "get_time"
        check_args(call.function.name, call.function.arguments)

    request = dict(model="chat/tiny", messages=messages, tools=TOOLS, tool_choice="required",
                   parallel_tool_calls=False, max_tokens=100, temperature=0, seed=5)
    whole = client.chat.completions.create(**request)
    calls = whole.choices[0].message.tool_calls
    assert len(calls) == 1, whole
    check_args(calls[0].function.name, calls[0].function.arguments)

    streamed, finish = {}, None
    for chunk in client.chat.completions.create(**request, stream=True):
        if not chunk.choices:
            continue
        finish = chunk.choices[0].finish_reason or finish
        for t in chunk.choices[0].delta.tool_calls or []:
            if t.index not in streamed:
                assert t.id and t.function.name, t
                streamed[t.index] = {"name": t.function.name, "arguments": ""}
            streamed[t.index]["arguments"] += t.function.arguments or ""
    assert finish == "tool_calls"
    assert list(streamed) == [0]
    assert streamed[0]["name"] == calls[0].function.name
    assert streamed[0]["arguments"] == calls[0].function.arguments

    # The call and its result go back in; the server accepts the tool message and answers.
    follow = client.chat.completions.create(
        model="chat/tiny", tools=TOOLS, max_tokens=8, temperature=0, tool_choice="none",
        messages=messages + [whole.choices[0].message.model_dump(exclude_none=True),
                             {"role": "tool", "tool_call_id": calls[0].id, "content": '{"temperature": 21}'}])
    assert follow.choices[0].finish_reason in ("stop", "length")
    assert follow.choices[0].message.tool_calls is None


def test_errors_keep_their_status(client):
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="embed/none", input="x")
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="chat/tiny", messages=[{"role": "user", "content": "x"}],
                                       max_tokens=10, tools=[TOOLS[0], TOOLS[0]])
