"""One reading of each request: the operation and its parameters, as the service's protocol defines them.

The service is the signature's (services.lookup). Its protocol, in botocore's model, says where the
operation and the parameters are: `query` and `ec2` in `Action=` and form parameters (query string
and an `application/x-www-form-urlencoded` body, read together), `json` in `X-Amz-Target` and a
JSON body, `rest-xml` and `rest-json` in the method, path, query string, headers and body. moto's
own server-side routers and parsers (moto.core.routing, moto.core.parse) do the reading against
the model; this module makes it strict. A request that could be read two ways is refused with
AWS's error, never guessed at:

- query/ec2: an `X-Amz-Target` header; a body in another content type (multipart included); the
  same parameter twice with different values (`?Action=A` with a body `Action=B` among them);
- json: an `Action` parameter; a content type other than the service's JSON; a body that is not
  a JSON object;
- rest: a form or multipart body (moto would read it as a form); a query parameter repeated with
  different values where the model has one value.

The reading is a `Call`: what the gatekeeper authorizes and, rebuilt by botocore's serializer
(forwarding.py), exactly what moto runs.
"""

from __future__ import annotations

import binascii
import functools
import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.datastructures import MultiDict
from werkzeug.http import parse_options_header

from labkit.sandbox import awserrors, sigv4
from labkit.sandbox.services import Service

FORM = "application/x-www-form-urlencoded"
FORM_TYPES = (FORM, "multipart/form-data")


@dataclass
class Call:
    """What a request asks for, read once.

    `params` has the shape of the operation's input in botocore's model: what boto3 takes as
    keyword arguments (nested dicts and lists; integers, booleans, bytes and datetimes typed), e.g.
    AssumeRole: {"RoleArn": str, "RoleSessionName": str, "DurationSeconds": int,
    "PolicyArns": [{"arn": str}], "Tags": [{"Key": str, "Value": str}], ...}.
    """

    service: str  # the signing name, e.g. "s3"
    operation: str  # botocore's operation name, e.g. "DeleteObjects"
    params: dict[str, Any] = field(default_factory=dict)
    mfa: bool = False  # AssumeRole only: the caller proved MFA with SerialNumber and TokenCode
    model: Any = field(default=None, repr=False, compare=False)  # the OperationModel read against

    @property
    def action(self) -> str:
        """`service:Operation`, the operation's name (the IAM actions checked come from actions.py)."""
        return f"{self.service}:{self.operation}"


class _BadValue(Exception):
    def __init__(self, name: str, value: Any, kind: str = "a number") -> None:
        super().__init__(name)
        self.name = name
        self.value = value
        self.kind = kind


def read(environ: dict, body: bytes, service: Service, presigned: bool) -> Call:
    protocol = service.protocol
    if protocol in ("query", "ec2"):
        return _read_query(environ, body, service, presigned)
    if protocol == "json":
        return _read_json(environ, body, service, presigned)
    return _read_rest(environ, body, service, presigned)


def _mimetype(environ: dict) -> str:
    """The media type as werkzeug (and so moto) reads it: parameters dropped, case ignored."""
    return parse_options_header(environ.get("CONTENT_TYPE", ""))[0].lower()


def _query_pairs(environ: dict, presigned: bool) -> list[tuple[str, str]]:
    try:
        pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise awserrors.AwsError(400, "MalformedQueryString",
                                 "The query string contains a syntax error: it is not UTF-8.") from None
    if presigned:
        pairs = [(k, v) for k, v in pairs if k not in sigv4.PRESIGN_PARAMS]
    return pairs


def _one_value_each(pairs: list[tuple[str, str]], service: Service) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in pairs:
        if values.setdefault(key, value) != value:
            raise awserrors.ambiguous(service.name, f"parameter {key} is given twice with different values")
    return values


# --- query and ec2 ------------------------------------------------------------------------------

def _read_query(environ: dict, body: bytes, service: Service, presigned: bool) -> Call:
    name = service.name
    if environ.get("HTTP_X_AMZ_TARGET") is not None:
        raise awserrors.ambiguous(name, f"an X-Amz-Target header on a {service.protocol}-protocol service")
    pairs = _query_pairs(environ, presigned)
    if body:
        mimetype = _mimetype(environ)
        if mimetype != FORM:
            raise awserrors.ambiguous(name, f"a body in {mimetype or 'no content type'}, which "
                                      f"the {service.protocol} protocol does not use")
        try:
            pairs += parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            raise awserrors.malformed_body(name, "the form body is not UTF-8") from None
    values = _one_value_each(pairs, service)
    action = values.pop("Action", None)
    if not action:
        raise awserrors.missing_action(name)
    version = values.pop("Version", None)
    if action not in _operation_names(service):
        raise awserrors.unknown_operation(name, action, version or service.api_version)
    if service.protocol == "query" and version is not None and version != service.api_version:
        raise awserrors.unknown_operation(name, action, version)
    model = service.model.operation_model(action)
    parser = _parser(service.protocol)(model)
    try:
        params = parser.parse(_request_dict(environ, MultiDict(values), {}, b""))
    except _BadValue as bad:
        raise awserrors.bad_parameter(name, bad.name, str(bad.value), bad.kind) from None
    return Call(name, action, params, model=model)


@functools.lru_cache(maxsize=64)
def _operation_names(service: Service) -> frozenset[str]:
    return frozenset(service.model.operation_names)


# --- json ---------------------------------------------------------------------------------------

def _read_json(environ: dict, body: bytes, service: Service, presigned: bool) -> Call:
    name = service.name
    if any(key in ("Action", "Version") for key, _ in _query_pairs(environ, presigned)):
        raise awserrors.ambiguous(name, "an Action parameter on a JSON-protocol service")
    version = service.model.metadata.get("jsonVersion", "1.0")
    mimetype = _mimetype(environ)
    if mimetype != f"application/x-amz-json-{version}":
        raise awserrors.ambiguous(name, f"a body in {mimetype or 'no content type'}; this service "
                                  f"reads application/x-amz-json-{version}")
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    prefix, _, operation = target.rpartition(".")
    if (environ.get("REQUEST_METHOD") != "POST" or prefix != service.model.metadata.get("targetPrefix")
            or operation not in _operation_names(service)):
        raise awserrors.unknown_operation(name, target, service.api_version)
    document = _json_object(body or b"{}", name)
    model = service.model.operation_model(operation)
    parser = _parser("json")(model)
    try:
        params = parser._parse_shape(model.input_shape, document) if model.input_shape else {}
    except _BadValue as bad:
        raise awserrors.bad_parameter(name, bad.name, str(bad.value), bad.kind) from None
    except (ValueError, TypeError, binascii.Error):
        raise awserrors.malformed_body(name, "a value in the body does not have the type its "
                                       "member needs") from None
    return Call(name, operation, params or {}, model=model)


def _json_object(body: bytes, service: str) -> dict:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise awserrors.malformed_body(service, "the body is not JSON") from None
    if not isinstance(document, dict):
        raise awserrors.malformed_body(service, "the body is not a JSON object")
    return document


# --- rest-xml and rest-json -------------------------------------------------------------------------

def _read_rest(environ: dict, body: bytes, service: Service, presigned: bool) -> Call:
    from moto.core.request import Request
    from werkzeug.exceptions import HTTPException

    name = service.name
    if body and _mimetype(environ) in FORM_TYPES:
        raise awserrors.ambiguous(name, f"a {_mimetype(environ)} body, which moto would read as a form")
    request = Request(environ)
    try:
        model, uri_params = _router(service).match(request)
    except HTTPException:
        raise awserrors.unknown_operation(name, environ.get("REQUEST_METHOD", ""), service.api_version) from None
    pairs = _query_pairs(environ, presigned)
    query = MultiDict(pairs)
    _check_repeats(query, model, service)
    if body and _has_json_body(model, service):
        _json_object(body, name)
    parser = _parser(service.protocol)(model)
    try:
        params = parser.parse(_request_dict(environ, query, uri_params, body, request))
    except _BadValue as bad:
        raise awserrors.bad_parameter(name, bad.name, str(bad.value), bad.kind) from None
    except Exception as exc:  # moto's XML parser: RequestParserError, ParseError, ValueError...
        if type(exc).__name__ in ("RequestParserError", "ParseError") or isinstance(
                exc, ValueError | TypeError | binascii.Error | KeyError | IndexError):
            raise awserrors.malformed_body(name, "the body cannot be read for this operation") from None
        raise
    return Call(name, model.name, params, model=model)


def _has_json_body(model, service: Service) -> bool:
    if service.protocol != "rest-json" or model.input_shape is None:
        return False
    payload = model.input_shape.serialization.get("payload")
    if payload:
        return model.input_shape.members[payload].type_name == "structure"
    return any("location" not in m.serialization for m in model.input_shape.members.values())


def _check_repeats(query: MultiDict, model, service: Service) -> None:
    """A query parameter given twice with different values, unless the model takes a list."""
    lists = set()
    if model.input_shape is not None:
        for member_name, member in model.input_shape.members.items():
            if member.serialization.get("location") == "querystring" and member.type_name in ("list", "map"):
                lists.add(member.serialization.get("name", member_name))
    for key in query:
        values = query.getlist(key)
        if len(set(values)) > 1 and key not in lists:
            raise awserrors.ambiguous(service.name, f"parameter {key} is given twice with different values")


_routers: dict[str, Any] = {}
_routers_lock = threading.Lock()


def _router(service: Service):
    router = _routers.get(service.name)
    if router is None:
        from moto.core.routing import get_router_class

        with _routers_lock:
            router = _routers.get(service.name)
            if router is None:
                router = get_router_class(service.name, service.protocol)(service.model)
                _routers[service.name] = router
    return router


def _request_dict(environ: dict, values: MultiDict, uri_params: dict, body: bytes, request=None) -> dict:
    if request is None:
        headers: Any = {}
        path = environ.get("PATH_INFO", "/")
    else:
        headers, path = request.headers, request.path
    return {"method": environ.get("REQUEST_METHOD", "POST"), "values": values, "headers": headers,
            "body": body, "url_path": path, "url_params": uri_params}


# --- moto's parsers, made strict ------------------------------------------------------------------

@functools.cache
def _parser(protocol: str):
    from moto.core import parse

    if protocol in ("query", "ec2"):
        base = parse.EC2QueryParser if protocol == "ec2" else parse.QueryParser
        return type(f"Strict{base.__name__}", (_StrictQuery, base), {})
    if protocol == "json":
        return type("StrictJSONParser", (_StrictJSON, parse.JSONParser), {})
    if protocol == "rest-json":
        return type("StrictRestJSONParser", (_StrictJSON, parse.RestJSONParser), {})
    return type("StrictRestXMLParser", (_StrictXML, parse.RestXMLParser), {})


class _StrictQuery:
    """Scalars in form parameters that do not read as their type are refused, by name."""

    def _scalar(self, convert, shape, params, prefix):
        value = params.get(prefix)
        if value is None:
            return self._default_handle(shape, params, prefix)
        try:
            return convert(value)
        except (ValueError, TypeError, binascii.Error, OverflowError):
            raise _BadValue(prefix, value, _KINDS.get(shape.type_name, "a number")) from None

    def _parse_integer(self, shape, params, prefix=""):
        return self._scalar(int, shape, params, prefix)

    _parse_long = _parse_integer

    def _parse_float(self, shape, params, prefix=""):
        return self._scalar(float, shape, params, prefix)

    _parse_double = _parse_float

    def _parse_boolean(self, shape, params, prefix=""):
        return self._scalar(_boolean, shape, params, prefix)

    def _parse_timestamp(self, shape, params, prefix=""):
        return self._scalar(self._timestamp_parser, shape, params, prefix)

    def _parse_blob(self, shape, params, prefix=""):
        return self._scalar(_base64, shape, params, prefix)


_KINDS = {"boolean": "a boolean", "timestamp": "a timestamp", "blob": "base64-encoded"}


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise ValueError(text)
    return lowered == "true"


def _base64(text: str) -> bytes:
    import base64

    return base64.b64decode(text, validate=True)


_JSON_TYPES: dict[str, Any] = {
    "structure": dict, "map": dict, "list": list, "string": str, "boolean": bool,
    "integer": int, "long": int, "short": int, "byte": int, "float": (int, float),
    "double": (int, float), "blob": str, "timestamp": (int, float, str),
}


class _StrictJSON:
    """JSON values must have their member's type; members bound to the URI, query or headers are
    read there only, never from the body (moto's parser would let the body override them)."""

    def _parse_shape(self, shape, node):
        if node is not None and "location" not in shape.serialization and not getattr(
                shape, "is_document_type", False):
            expected = _JSON_TYPES.get(shape.type_name)
            if expected is not None and (not isinstance(node, expected) or (
                    isinstance(node, bool) and shape.type_name != "boolean")):
                raise _BadValue(shape.name, json.dumps(node)[:100])
        try:
            return super()._parse_shape(shape, node)
        except (ValueError, TypeError, binascii.Error, OverflowError) as exc:
            raise _BadValue(shape.name, str(node)[:100]) from exc

    def _parse_structure(self, shape, value):
        if getattr(shape, "is_document_type", False) or value is None:
            return super()._parse_structure(shape, value)
        parsed = {}
        for member_name, member in shape.members.items():
            if "location" in member.serialization:
                continue
            raw = value.get(member.serialization.get("name", member_name))
            if raw is not None:
                parsed[member_name] = self._parse_shape(member, raw)
        return parsed

    def _parse_boolean(self, shape, value):
        if isinstance(value, bool):
            return value
        return _boolean(value)


class _StrictXML:
    """XML text that does not read as its member's type is refused."""

    def _parse_boolean(self, shape, node):
        text = node if isinstance(node, str) else (node.text or "")
        return _boolean(text)
