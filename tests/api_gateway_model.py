"""An independent model of how API Gateway (HTTP APIs) selects a route, for tests that
check secauth's reading of a request against the route that ran: a literal beats
``{param}``, which beats ``{proxy+}``, segment by segment from the left; then an exact
verb beats ``ANY``; path parameters are decoded once.

>>> api_gateway_route(["GET /users/{id}", "GET /users/me"], "GET", "/users/m%65")
('GET /users/{id}', {'id': 'me'})
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import unquote

from secauth.routing import GREEDY, LITERAL, parse_route_key


def api_gateway_route(
    keys: list[str], method: str, sent: str, *, decode: bool = True
) -> tuple[str, dict[str, str]] | None:
    """The route API Gateway runs for ``method sent`` among ``keys`` and
    its path parameters, decoded once (an HTTP API's; ``decode=False``: as sent, a REST
    API's); None when no route matches."""
    read = unquote if decode else str
    segments = sent[1:].split("/") if sent != "/" else []
    best: tuple[Any, str, dict[str, str]] | None = None
    for key in keys:
        route = parse_route_key(key)
        assert route.template is not None
        if route.verb not in (method, "ANY"):
            continue
        template = route.template.segments
        greedy = bool(template) and template[-1][0] == GREEDY
        if len(segments) < len(template) if greedy else len(segments) != len(template):
            continue
        params: dict[str, str] = {}
        for position, (kind, text) in enumerate(template):
            if kind == LITERAL:
                if segments[position] != text:
                    break
            elif kind == GREEDY:
                params[text] = read("/".join(segments[position:]))
            elif not segments[position]:
                break
            else:
                params[text] = read(segments[position])
        else:
            order = tuple(0 if kind == LITERAL else 2 if kind == GREEDY else 1 for kind, _ in template)
            rank = (order + (3,) * 12, route.verb != method)
            if best is None or rank < best[0]:
                best = (rank, key, params)
    return None if best is None else (best[1], best[2])


def model_requests(
    keys: list[str], alphabet: Sequence[str], *, has_default: bool
) -> Iterator[tuple[str, str, str, dict[str, str]]]:
    """``(method, path as sent, route key that runs, its parameters)`` for GET and POST of
    every path of up to three segments from ``alphabet``; ``$default`` (no parameters)
    where no route matches, when the API has that route (else API Gateway answers 404
    itself, and the request is left out).

    >>> list(model_requests(["GET /a"], ["a"], has_default=False))
    [('GET', '/a', 'GET /a', {})]
    """
    for count in range(4):
        for segments in itertools.product(alphabet, repeat=count):
            sent = "/" + "/".join(segments)
            for method in ("GET", "POST"):
                selected = api_gateway_route(keys, method, sent)
                if selected is not None:
                    yield method, sent, *selected
                elif has_default:
                    yield method, sent, "$default", {}
