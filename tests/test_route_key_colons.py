"""Express-style ``:name`` segments are refused, with the ``{name}`` spelling in the message.

``Routes({"GET /orders/:id": ...})`` used to build a table whose route matched only the
literal path ``/orders/:id``: every real order id fell to the default (deny), silently.
A colon inside a segment stays a literal (Google-style custom methods such as
``/v1/items:batchGet``), and so does a segment like ``:`` or ``:9`` that names nothing.
"""

from __future__ import annotations

import pytest

from secauth.access import Routes, authenticated, public
from secauth.errors import ConfigurationError
from secauth.principal import Principal
from secauth.routing import LITERAL, parse_route_key, parse_template

ANN = Principal("ann")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("GET /orders/:id", "route 'GET /orders/:id': write path parameters as {id}, not :id"),
        ("DELETE /users/:userId/keys/:kid",
         "route 'DELETE /users/:userId/keys/:kid': write path parameters as {userId}, not "
         ":userId"),
        ("GET /:tenant_id", "write path parameters as {tenant_id}, not :tenant_id"),
        ("ANY /files/:path+", "write path parameters as {path+}, not :path+"),
        ("GET /files/:path*", "write path parameters as {path+}, not :path*"),
        ("GET /a/:id?", "write path parameters as {id}, not :id?"),
    ],
)  # fmt: skip
def test_colon_parameters_are_refused_with_the_brace_spelling(key: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Routes({key: authenticated()})
    assert message in str(caught.value)
    with pytest.raises(ConfigurationError):
        parse_route_key(key)


def test_the_template_parser_refuses_them_too() -> None:
    """Every user of the grammar (policies, allowed-route lists) gets the same refusal."""
    with pytest.raises(ConfigurationError, match=r"\{id\}, not :id"):
        parse_template("/orders/:id")


@pytest.mark.parametrize(
    "template",
    ["/v1/items:batchGet", "/v1/projects/{project}/items:search", "/a:b", "/time/12:30",
     "/:", "/x/:9", "/x/::", "/urn/ietf:rfc:7519"],
)  # fmt: skip
def test_colons_that_name_no_parameter_stay_literals(template: str) -> None:
    """A colon inside a segment, or one not followed by a name, is a literal character."""
    parsed = parse_template(template)
    assert parsed.text == template
    routes = Routes({f"POST {template}": public()})
    path = template.replace("{project}", "p1")
    assert routes.decide(ANN, "POST", path).allowed
    assert any(kind == LITERAL and ":" in text for kind, text in parsed.segments)


def test_a_bound_value_that_starts_with_a_colon_is_a_literal_in_route_policies() -> None:
    """allowed_routes() binds request values into templates; a tenant id ':acme' must not
    read as an Express-style parameter (which would refuse every such request)."""
    from secauth.access import Principal, Routes, tenant
    from secauth.policy import PolicyConflict, resources_for_routes, route_policy

    table = {"GET /t/{tid}/orders": tenant(path="tid")}
    routes = Routes(table)
    allowed = routes.allowed_routes(Principal("u", tenant=":acme"))
    assert [route.path for route in allowed] == ["/t/:acme/orders"]
    arn = "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/t/:acme/orders"
    assert [r.split("/prod/")[1] for r in resources_for_routes(arn, allowed)] == [
        "GET/t/:acme/orders"
    ]
    # A cached policy denies every path with a colon (review 8: IAM's colon rule), so no
    # cached policy can allow this one: route_policy says so rather than allow too much.
    with pytest.raises(PolicyConflict, match="would also refuse GET '/t/:acme/orders'"):
        route_policy(arn, allowed, list(table))
