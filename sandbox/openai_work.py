"""What each OpenAI batch endpoint answers for one request line's body.

Embeddings are computed with the sandbox's deterministic embedder; chat,
completions and responses echo the last user text after a fixed prefix, so a
test can check that text survives the round trip byte for byte. Every answer
is the endpoint's ordinary response body.
"""

import base64
import struct
from dataclasses import dataclass

from sandbox.embedder import EMBEDDER_NAME, count_tokens, embed
from sandbox.openai_wire import new_id

#: What every generated reply starts with, followed by the prompt verbatim.
ECHO_PREFIX = "[batchpredict sandbox] echo: "

#: The vector size each embedding model returns when ``dimensions`` is unset.
DEFAULT_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
FALLBACK_DIMENSIONS = 384

#: A 1x1 transparent PNG, the image every image request gets back.
_PIXEL_PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA"
    "60e6kgAAAABJRU5ErkJggg=="
)


class LineRejected(Exception):
    """The request body is one the endpoint would answer with a 400."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass
class Answer:
    body: dict
    input_tokens: int
    output_tokens: int


def answer(endpoint: str, body: dict, created: int) -> Answer:
    """Compute the response body ``endpoint`` gives for ``body``."""
    handler = _HANDLERS.get(endpoint, _images)
    return handler(_model(body, endpoint), body, created)


def _model(body: dict, endpoint: str) -> str:
    model = body.get("model")
    if endpoint == "/v1/moderations" and model is None:
        return "omni-moderation-latest"
    if not isinstance(model, str) or not model:
        raise LineRejected("you must provide a model parameter", "model")
    return model


def _texts(value, param: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    raise LineRejected(
        f"'{param}' must be a string or a non-empty array of strings", param
    )


def _content_text(content) -> str:
    """The text of a message's content: a string or a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def _last_user_text(messages: list, param: str) -> str:
    if not isinstance(messages, list) or not messages:
        raise LineRejected(f"'{param}' must be a non-empty array", param)
    dicts = [m for m in messages if isinstance(m, dict)]
    users = [m for m in dicts if m.get("role") == "user"] or dicts
    if not users:
        raise LineRejected(f"'{param}' holds no message objects", param)
    return _content_text(users[-1].get("content"))


def _choice_count(body: dict) -> int:
    n = body.get("n", 1)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 128:
        raise LineRejected("'n' must be an integer between 1 and 128", "n")
    return n


def _dimensions(body: dict, model: str) -> int:
    dimensions = body.get("dimensions")
    if dimensions is None:
        return DEFAULT_DIMENSIONS.get(model, FALLBACK_DIMENSIONS)
    if not isinstance(dimensions, int) or isinstance(dimensions, bool):
        raise LineRejected("'dimensions' must be an integer", "dimensions")
    if dimensions < 1:
        raise LineRejected("'dimensions' must be at least 1", "dimensions")
    return dimensions


def _encode_vector(vector: list[float], encoding_format: str):
    if encoding_format == "float":
        return vector
    packed = struct.pack(f"<{len(vector)}f", *vector)
    return base64.b64encode(packed).decode("ascii")


def _embeddings(model: str, body: dict, created: int) -> Answer:
    texts = _texts(body.get("input"), "input")
    dimensions = _dimensions(body, model)
    encoding_format = body.get("encoding_format", "float")
    if encoding_format not in ("float", "base64"):
        raise LineRejected(
            "'encoding_format' must be 'float' or 'base64'", "encoding_format"
        )
    data = [
        {
            "object": "embedding",
            "index": index,
            "embedding": _encode_vector(embed(text, dimensions), encoding_format),
        }
        for index, text in enumerate(texts)
    ]
    tokens = sum(count_tokens(text) for text in texts)
    response = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        "x_sandbox_embedder": EMBEDDER_NAME,
    }
    return Answer(response, tokens, 0)


def _usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _chat_completion(model: str, body: dict, created: int) -> Answer:
    messages = body.get("messages")
    reply = ECHO_PREFIX + _last_user_text(messages, "messages")
    n = _choice_count(body)
    choices = [
        {
            "index": i,
            "message": {"role": "assistant", "content": reply, "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
        for i in range(n)
    ]
    prompt_tokens = sum(
        count_tokens(_content_text(m.get("content")))
        for m in messages
        if isinstance(m, dict)
    )
    completion_tokens = count_tokens(reply) * n
    response = {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": _usage(prompt_tokens, completion_tokens),
        "system_fingerprint": None,
        "service_tier": "default",
    }
    return Answer(response, prompt_tokens, completion_tokens)


def _completion(model: str, body: dict, created: int) -> Answer:
    prompts = _texts(body.get("prompt"), "prompt")
    n = _choice_count(body)
    replies = [ECHO_PREFIX + prompt for prompt in prompts for _ in range(n)]
    choices = [
        {"text": reply, "index": i, "logprobs": None, "finish_reason": "stop"}
        for i, reply in enumerate(replies)
    ]
    prompt_tokens = sum(count_tokens(prompt) for prompt in prompts)
    completion_tokens = sum(count_tokens(reply) for reply in replies)
    response = {
        "id": new_id("cmpl-"),
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": _usage(prompt_tokens, completion_tokens),
        "system_fingerprint": None,
    }
    return Answer(response, prompt_tokens, completion_tokens)


def _responses(model: str, body: dict, created: int) -> Answer:
    given = body.get("input")
    prompt = given if isinstance(given, str) else _last_user_text(given, "input")
    reply = ECHO_PREFIX + prompt
    input_tokens, output_tokens = count_tokens(prompt), count_tokens(reply)
    content = [{"type": "output_text", "text": reply, "annotations": []}]
    message = {
        "type": "message",
        "id": new_id("msg_"),
        "status": "completed",
        "role": "assistant",
        "content": content,
    }
    response = {
        "id": new_id("resp_"),
        "object": "response",
        "created_at": created,
        "status": "completed",
        "model": model,
        "output": [message],
        "error": None,
        "incomplete_details": None,
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens,
        },
    }
    return Answer(response, input_tokens, output_tokens)


def _moderations(model: str, body: dict, created: int) -> Answer:
    texts = _texts(body.get("input"), "input")
    results = [
        {"flagged": False, "categories": {}, "category_scores": {}} for _ in texts
    ]
    response = {"id": new_id("modr-"), "model": model, "results": results}
    return Answer(response, sum(count_tokens(text) for text in texts), 0)


def _images(model: str, body: dict, created: int) -> Answer:
    prompt = body.get("prompt")
    if not isinstance(prompt, str):
        raise LineRejected("'prompt' must be a string", "prompt")
    n = _choice_count(body)
    data = [{"b64_json": _PIXEL_PNG_B64, "revised_prompt": None} for _ in range(n)]
    return Answer({"created": created, "data": data}, count_tokens(prompt), 0)


_HANDLERS = {
    "/v1/embeddings": _embeddings,
    "/v1/chat/completions": _chat_completion,
    "/v1/completions": _completion,
    "/v1/responses": _responses,
    "/v1/moderations": _moderations,
}
