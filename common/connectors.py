"""Connectors: validating their bodies and rendering their actions."""

import re
from dataclasses import dataclass, field

from common import templating
from common.endpoints import check_trusted, provider_of, region_of, same_origin
from common.errors import InvalidRequest
from common.validation import (
    describe,
    expect,
    expect_choice,
    expect_string_map,
    reject_unknown,
)

PROTOCOLS = ("http", "aws_sigv4")
ACTION_TYPES = (
    "predict",
    "execute",
    "batch_predict",
    "batch_predict_status",
    "cancel_batch_predict",
)
BATCH_ACTION_TYPES = ("batch_predict", "batch_predict_status", "cancel_batch_predict")
METHODS = ("GET", "POST", "PUT", "DELETE")

CONNECTOR_FIELDS = {
    "name",
    "description",
    "version",
    "protocol",
    "parameters",
    "credential",
    "actions",
    "backend_roles",
    "add_all_backend_roles",
    "access_mode",
    "owner",
    "client_config",
    "dry_run",
}
ACTION_FIELDS = {
    "action_type",
    "method",
    "url",
    "headers",
    "request_body",
    "pre_process_function",
    "post_process_function",
    "name",
    "supports_structured_output",
}
_PLACEHOLDER_LEFT = re.compile(r"\$\{[^}]*\}")


@dataclass(frozen=True)
class RenderedAction:
    provider: str
    url: str
    method: str
    body: dict
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    parameters: dict = field(default_factory=dict, repr=False)


def validate_connector(
    body: dict,
    trusted: tuple[str, ...],
    where="connector",
    allow_private: bool = False,
) -> dict:
    """Check a connector body; return the normalised connector (credential
    still in plain text: the caller seals it)."""
    reject_unknown(body, CONNECTOR_FIELDS, where)
    connector = {
        "name": expect(body.get("name"), str, "name"),
        "description": expect(
            body.get("description"), str, "description", required=False, default=""
        ),
        "version": _version(body.get("version", "1")),
        "protocol": expect_choice(
            expect(body.get("protocol"), str, "protocol"), PROTOCOLS, "protocol"
        ),
        "parameters": expect(
            body.get("parameters"), dict, "parameters", required=False, default={}
        ),
        "credential": expect_string_map(body.get("credential"), "credential"),
        "client_config": expect(
            body.get("client_config"), dict, "client_config", required=False, default={}
        ),
    }
    actions = expect(body.get("actions"), list, "actions")
    if not actions:
        raise InvalidRequest("actions must hold at least one action", "actions")
    connector["actions"] = [
        _validate_action(action, f"actions[{i}]") for i, action in enumerate(actions)
    ]
    _check_protocol(connector)
    _check_urls(connector, trusted, allow_private)
    return connector


def _version(value) -> str:
    # ML Commons' blueprints write "1" or 1; anything else is a mistake.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidRequest(
            f"version must be a string or a number, got {describe(value)}", "version"
        )
    return str(value)


def _validate_action(action, where: str) -> dict:
    expect(action, dict, where)
    reject_unknown(action, ACTION_FIELDS, where)
    action_type = expect(action.get("action_type"), str, f"{where}.action_type").lower()
    expect_choice(action_type, ACTION_TYPES, f"{where}.action_type")
    method = expect(action.get("method"), str, f"{where}.method").upper()
    expect_choice(method, METHODS, f"{where}.method")
    url = expect(action.get("url"), str, f"{where}.url")
    if not url.startswith(("https://", "http://")):
        raise InvalidRequest(
            f"{where}.url must be an http(s) URL, got {url!r}", f"{where}.url"
        )
    normalised = dict(action, action_type=action_type, method=method, url=url)
    normalised["headers"] = expect_string_map(action.get("headers"), f"{where}.headers")
    body = action.get("request_body")
    if body is not None and not isinstance(body, str):
        raise InvalidRequest(
            f"{where}.request_body must be a string template", f"{where}.request_body"
        )
    if action_type == "batch_predict" and not body:
        raise InvalidRequest(
            f"{where}.request_body is required for a batch_predict action: it "
            "becomes the body of the provider's create call",
            f"{where}.request_body",
        )
    return normalised


def _check_protocol(connector: dict) -> None:
    if connector["protocol"] != "aws_sigv4":
        return
    credential, parameters = connector["credential"], connector["parameters"]
    for name in ("access_key", "secret_key"):
        if name not in credential:
            raise InvalidRequest(
                f"credential.{name} is required with protocol aws_sigv4",
                f"credential.{name}",
            )
    for name in ("region", "service_name"):
        if name not in credential and name not in parameters:
            raise InvalidRequest(
                f"{name} is required in parameters or credential with protocol "
                "aws_sigv4",
                f"parameters.{name}",
            )


def _check_urls(connector: dict, trusted: tuple[str, ...], allow_private: bool):
    providers = set()
    for i, action in enumerate(connector["actions"]):
        where = f"actions[{i}].url"
        url = partial_url(action["url"], connector["parameters"])
        check_trusted(url, trusted, where, allow_private)
        if action["action_type"] in BATCH_ACTION_TYPES:
            providers.add(provider_of(url, where))
    if len(providers) > 1:
        raise InvalidRequest(
            "the batch_predict, batch_predict_status and cancel_batch_predict "
            f"actions must address one provider, got {', '.join(sorted(providers))}",
            "actions",
        )


def partial_url(template: str, parameters: dict) -> str:
    """The URL with the connector's own parameters filled in, other
    placeholders left as they are (ML Commons checks URLs this way at create)."""
    known = {k: v for k, v in (parameters or {}).items()}

    def fill(match: re.Match) -> str:
        scope, _, name = match.group(0)[2:-1].partition(".")
        name = name.split(":-")[0]
        if scope == "parameters" and name in known:
            return templating.render_url(match.group(0), known, {}, "url")
        return match.group(0)

    return _PLACEHOLDER_LEFT.sub(fill, template)


def find_action(connector: dict, action_type: str) -> dict | None:
    for action in connector["actions"]:
        if action["action_type"] == action_type:
            return action
    return None


def render_action(
    connector: dict,
    action_type: str,
    request_parameters: dict,
    credential: dict[str, str],
    trusted: tuple[str, ...],
    allow_private: bool = False,
) -> RenderedAction:
    """Render one action for a call: parameters merged (the request's win),
    the URL re-checked against the trusted endpoints, and the host fixed by
    the connector alone."""
    action = find_action(connector, action_type)
    if action is None:
        raise InvalidRequest(
            f"the model's connector has no {action_type} action", "connector.actions"
        )
    parameters = templating.merge_parameters(
        connector["parameters"], request_parameters
    )
    url = templating.render_url(action["url"], parameters, credential, "url")
    check_trusted(url, trusted, "url", allow_private)
    if not same_origin(url, partial_url(action["url"], connector["parameters"])):
        raise InvalidRequest(
            "request parameters may not change the host a connector calls; put "
            "the parameters that form the host in the connector",
            "parameters",
        )
    _check_region(url, parameters)
    body = templating.render_body(
        action.get("request_body") or "{}", parameters, credential, "request_body"
    )
    headers = templating.render_headers(
        action["headers"], parameters, credential, "headers"
    )
    return RenderedAction(
        provider=provider_of(url, "url"),
        url=url,
        method=action["method"],
        body=body,
        headers=headers,
        parameters=parameters,
    )


def _check_region(url: str, parameters: dict) -> None:
    # An AWS SDK builds its host from the region, so a region parameter
    # other than the URL's would send the job somewhere the URL check never
    # saw.
    region = region_of(url)
    asked = parameters.get("region")
    if region and asked is not None and asked != region:
        raise InvalidRequest(
            f"parameters.region is {asked!r} but the connector's URL is in "
            f"{region!r}; the region must be the URL's",
            "parameters.region",
        )


def public_view(connector: dict) -> dict:
    """The connector as the API shows it: never its credential."""
    return {k: v for k, v in connector.items() if k != "credential"}
