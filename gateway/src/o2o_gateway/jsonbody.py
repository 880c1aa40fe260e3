"""The JSON the gateway takes as a request body: RFC 8259 text in UTF-8 and nothing looser.

Every body the parser cannot or will not take raises `UnacceptableBody` with what is wrong, so
the caller gets a 400 naming the problem instead of whatever the parser happened to raise: nesting
deeper than `MAX_DEPTH`, bytes that are not UTF-8, NaN and Infinity (not JSON, though Python's
parser takes them), numbers no field can hold, lone surrogates (not text), and duplicate keys
(parsers disagree on which one wins, so a proxy and the service could read different requests).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# Containers (objects and arrays) one inside another: far more than any request of the contract
# needs, and what proto3 JSON parsing allows for messages anyway.
MAX_DEPTH = 32
# 20 digits hold every 64-bit integer; anything longer fits no field.
_MAX_INTEGER_DIGITS = 20
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class UnacceptableBody(ValueError):
    pass


def parse(body: bytes) -> Any:
    """The JSON value of the body; an empty body is an empty object."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnacceptableBody(f"the request body is not UTF-8 (byte {exc.start} is invalid)") from None
    if not text.strip():
        return {}
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object,
            parse_constant=_constant,
            parse_int=_integer,
            parse_float=_number,
        )
    except RecursionError:
        raise UnacceptableBody(f"the request body nests deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise UnacceptableBody(
            f"the request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    _check(value, check_text=_SURROGATE_ESCAPE.search(text) is not None)
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise UnacceptableBody(f"the request body repeats the key {key[:64]!r} in one object")
            seen.add(key)
    return value


def _constant(name: str) -> Any:
    raise UnacceptableBody(f"the request body holds {name}, which is not a JSON number")


def _integer(digits: str) -> int:
    if len(digits.lstrip("-")) > _MAX_INTEGER_DIGITS:
        raise UnacceptableBody(f"the request body holds an integer of more than {_MAX_INTEGER_DIGITS} digits")
    return int(digits)


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnacceptableBody(f"the request body holds a number out of range ({text[:32]})")
    return value


def _check(value: Any, *, check_text: bool) -> None:
    """Depth, and (only when the text escapes a surrogate) that every string is real text."""
    level: list[Any] = [value]
    depth = 0
    while level:
        containers = [item for item in level if isinstance(item, dict | list)]
        if containers:
            depth += 1
            if depth > MAX_DEPTH:
                raise UnacceptableBody(f"the request body nests deeper than {MAX_DEPTH} levels")
        if check_text:
            for item in level:
                if isinstance(item, str):
                    _text(item)
        level = []
        for container in containers:
            if isinstance(container, dict):
                if check_text:
                    for key in container:
                        _text(key)
                level.extend(container.values())
            else:
                level.extend(container)


def _text(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UnacceptableBody("the request body holds a lone surrogate (\\ud800-\\udfff), which is not text") from None
