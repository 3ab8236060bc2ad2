"""Issue 10, the request half: every way a request could be read twice, or run unchecked, against a
running sandbox. Each attack is refused with AWS's error (code and message where AWS has one), and
where a policy is what refuses it, the same request is allowed when the policy allows it, so each
test can fail.

Requests are signed with botocore's own signers and sent with http.client, byte for byte as
written here (Host header, content type and body included).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import socket
import subprocess
import sys
import time
from urllib.parse import urlencode, urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from labkit import workspace
from labkit.sandbox import lifecycle
from tests.support import (
    ACCOUNT,
    Keys,
    admin_keys,
    allow,
    deny,
    error_of,
    make_role,
    make_user,
    policy,
    trust,
    unique,
)

STS_VERSION = "2011-06-15"
FORM = "application/x-www-form-urlencoded; charset=utf-8"
NO_RETRY = Config(retries={"total_max_attempts": 1})


# --- sending exactly these bytes ------------------------------------------------------------------

def port() -> int:
    return lifecycle.require_running().port


class _S3PayloadAs(S3SigV4Auth):
    """S3's signer, with the x-amz-content-sha256 value given (UNSIGNED-PAYLOAD, STREAMING-...)."""

    def __init__(self, payload_hash: str, *args) -> None:
        super().__init__(*args)
        self._payload_hash = payload_hash

    def payload(self, request) -> str:
        return self._payload_hash


def sign(method: str, path: str, keys: Keys, service: str, *, query: str = "", body: bytes = b"",
         headers: dict | None = None, host: str | None = None, presign: int | None = None,
         payload_hash: str | None = None) -> AWSRequest:
    """A request signed by botocore for `service`, addressed to `host` (default: the sandbox)."""
    host = host or f"127.0.0.1:{port()}"
    url = f"http://{host}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    creds = Credentials(keys.access_key_id, keys.secret_access_key, keys.session_token)
    if presign is not None:
        signer = (S3SigV4QueryAuth if service == "s3" else SigV4QueryAuth)(creds, service, "us-east-1", presign)
    elif payload_hash is not None:
        signer = _S3PayloadAs(payload_hash, creds, service, "us-east-1")
    else:
        signer = (S3SigV4Auth if service == "s3" else SigV4Auth)(creds, service, "us-east-1")
    signer.add_auth(request)
    return request


def send(request: AWSRequest, body: bytes | None = None, extra: dict | None = None) -> tuple[int, dict, bytes]:
    """Send `request` to the sandbox as signed (its Host kept), optionally with another body."""
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    data = prepared.body if body is None else body
    data = data.encode() if isinstance(data, str) else (data or b"")
    conn = http.client.HTTPConnection("127.0.0.1", port(), timeout=30)
    try:
        conn.putrequest(prepared.method, target, skip_host=True, skip_accept_encoding=True)
        headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in prepared.headers.items()}
        headers.setdefault("Host", parts.netloc)
        headers.update(extra or {})
        headers["Content-Length"] = str(len(data))
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders(data)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def read_answer(sock: socket.socket) -> tuple[int, bytes]:
    """(status, body) of the HTTP answer on a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or b"\r\n\r\n"
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])
    while len(body) < length:
        more = sock.recv(65536)
        if not more:
            break
        body += more
    return int(head.split(b" ", 2)[1]), body


def xml_error(body: bytes) -> tuple[str, str]:
    text = body.decode()
    code = re.search(r"<Code>(.*?)</Code>", text)
    message = re.search(r"<Message>(.*?)</Message>", text, re.S)
    assert code and message, text
    return code[1], message[1].replace("&apos;", "'").replace("&quot;", '"')


def form(**params: str) -> bytes:
    return urlencode(params).encode()


# --- the walk-through's restricted user ---------------------------------------------------------

@pytest.fixture
def restricted(admin):
    """A user who may only sts:AssumeRole on their own role; a second role that does not trust
    them (MaxSessionDuration 3600) and that could administer the account."""
    user_name = unique("sts_user")
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{user_name}"
    own = make_role(admin, trust({"AWS": user_arn}), unique("sts_role"))
    admin_role = make_role(admin, trust({"AWS": f"arn:aws:iam::{ACCOUNT}:user/{unique('nobody')}"}),
                           unique("admin_role"), policies={"all": policy(allow("*"))})
    user = make_user(admin, user_name, {"assume": policy(allow("sts:AssumeRole", own))})
    return user, own, admin_role


def assume_body(role_arn: str, duration: int = 43200) -> bytes:
    return form(Action="AssumeRole", Version=STS_VERSION, RoleArn=role_arn,
                RoleSessionName="takeover", DurationSeconds=str(duration))


# --- one reading: the query string and the body -------------------------------------------------

def test_query_action_and_body_action_that_differ_are_refused(restricted):
    """The issue's attack: ?Action=GetCallerIdentity with an AssumeRole body assumed a role that
    does not trust the user, for 43200 s. Now it could be read two ways, so it is refused."""
    user, _, admin_role = restricted
    body = assume_body(admin_role)
    request = sign("POST", "/", user, "sts", query="Action=GetCallerIdentity&Version=2011-06-15",
                   body=body, headers={"Content-Type": FORM})
    status, _, answer = send(request)
    assert status == 400
    assert xml_error(answer) == ("InvalidQueryParameter", "The AWS query string is malformed or does "
                                 "not adhere to AWS standards: parameter Action is given twice with "
                                 "different values.")
    assert b"AccessKeyId" not in answer
    # the same body alone is read as what it is, AssumeRole, and AWS's trust check refuses it
    status, _, answer = send(sign("POST", "/", user, "sts", body=body, headers={"Content-Type": FORM}))
    assert status == 403
    assert xml_error(answer) == ("AccessDenied", f"User: {user.arn} is not authorized to perform: "
                                 f"sts:AssumeRole on resource: {admin_role}")


def test_parameters_that_agree_in_query_and_body_are_one_reading(restricted):
    user, own, _ = restricted
    request = sign("POST", "/", user, "sts", query="Action=AssumeRole&Version=2011-06-15",
                   body=assume_body(own, 900), headers={"Content-Type": FORM})
    status, _, answer = send(request)
    assert status == 200, answer
    assert b"<AccessKeyId>ASIA" in answer


def test_a_parameter_twice_with_different_values_is_refused(restricted):
    user, own, admin_role = restricted
    body = assume_body(own, 900) + b"&" + form(RoleArn=admin_role)
    status, _, answer = send(sign("POST", "/", user, "sts", body=body, headers={"Content-Type": FORM}))
    assert status == 400
    assert xml_error(answer)[0] == "InvalidQueryParameter"
    assert "parameter RoleArn is given twice with different values" in xml_error(answer)[1]


@pytest.mark.parametrize("content_type", ["APPLICATION/X-WWW-FORM-URLENCODED",
                                          "Application/X-Www-Form-Urlencoded; Charset=UTF-8"])
def test_upper_case_form_content_type_is_read_as_the_form_it_is(restricted, content_type):
    """werkzeug (and so moto) reads media types case-insensitively; so does the gatekeeper."""
    user, _, admin_role = restricted
    body = assume_body(admin_role)
    request = sign("POST", "/", user, "sts", query="Action=GetCallerIdentity&Version=2011-06-15",
                   body=body, headers={"Content-Type": content_type})
    status, _, answer = send(request)
    assert (status, xml_error(answer)[0]) == (400, "InvalidQueryParameter")
    status, _, answer = send(sign("POST", "/", user, "sts", body=body, headers={"Content-Type": content_type}))
    assert status == 403
    assert xml_error(answer) == ("AccessDenied", f"User: {user.arn} is not authorized to perform: "
                                 f"sts:AssumeRole on resource: {admin_role}")


@pytest.mark.parametrize("content_type", ["multipart/form-data; boundary=xyz", "MULTIPART/FORM-DATA; boundary=xyz",
                                          "text/plain", "application/json"])
def test_a_body_in_a_content_type_the_query_protocol_does_not_use_is_refused(restricted, content_type):
    user, _, admin_role = restricted
    body = (b"--xyz\r\nContent-Disposition: form-data; name=\"Action\"\r\n\r\nAssumeRole\r\n"
            b"--xyz\r\nContent-Disposition: form-data; name=\"RoleArn\"\r\n\r\n" + admin_role.encode()
            + b"\r\n--xyz--\r\n")
    request = sign("POST", "/", user, "sts", query="Action=GetCallerIdentity&Version=2011-06-15",
                   body=body, headers={"Content-Type": content_type})
    status, _, answer = send(request)
    assert status == 400
    code, message = xml_error(answer)
    assert code == "InvalidQueryParameter"
    mimetype = content_type.split(";")[0].lower()
    assert f"a body in {mimetype}, which the query protocol does not use" in message


def test_x_amz_target_on_a_query_protocol_service_is_refused(restricted):
    user, _, admin_role = restricted
    request = sign("POST", "/", user, "sts", body=form(Action="GetCallerIdentity", Version=STS_VERSION),
                   headers={"Content-Type": FORM, "X-Amz-Target": "AWSSecurityTokenServiceV20110615.AssumeRole"})
    status, _, answer = send(request)
    assert status == 400
    assert xml_error(answer) == ("InvalidQueryParameter", "The AWS query string is malformed or does not "
                                 "adhere to AWS standards: an X-Amz-Target header on a query-protocol service.")
    smuggled = json.dumps({"RoleArn": admin_role, "RoleSessionName": "x", "DurationSeconds": 43200}).encode()
    request = sign("POST", "/", user, "sts", body=smuggled, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSSecurityTokenServiceV20110615.AssumeRole"})
    status, _, answer = send(request)
    assert (status, xml_error(answer)[0]) == (400, "InvalidQueryParameter")


def test_unknown_operations_are_refused_with_aws_errors(restricted):
    user, _, _ = restricted
    status, _, answer = send(sign("POST", "/", user, "sts", body=form(Action="NoSuchThing", Version=STS_VERSION),
                                  headers={"Content-Type": FORM}))
    assert (status, *xml_error(answer)) == (400, "InvalidAction", "Could not find operation NoSuchThing for "
                                            "version 2011-06-15")
    status, _, answer = send(sign("POST", "/", user, "ec2", body=form(Action="NoSuchThing", Version="2016-11-15"),
                                  headers={"Content-Type": FORM}))
    assert (status, *xml_error(answer)) == (400, "InvalidAction", "The action NoSuchThing is not valid for "
                                            "this web service.")
    assert b"<Response><Errors>" in answer
    status, _, answer = send(sign("POST", "/", user, "sts", body=form(Version=STS_VERSION), headers={"Content-Type": FORM}))
    assert (status, xml_error(answer)[0]) == (400, "MissingAction")


def test_a_number_that_is_not_a_number_is_refused_by_name(restricted):
    user, own, _ = restricted
    body = form(Action="AssumeRole", Version=STS_VERSION, RoleArn=own, RoleSessionName="s",
                DurationSeconds="1e3")
    status, _, answer = send(sign("POST", "/", user, "sts", body=body, headers={"Content-Type": FORM}))
    assert (status, *xml_error(answer)) == (400, "ValidationError", "1 validation error detected: Value '1e3' "
                                            "at 'durationSeconds' failed to satisfy constraint: Member must be a number")


# --- the service is the signature's, and the endpoint must agree --------------------------------

@pytest.fixture
def bucket(admin):
    name = unique("attack-bucket-")
    s3 = admin.client("s3")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="secret.txt", Body=b"the admin's secret")
    return name


def test_a_presigned_url_scoped_to_sts_does_not_reach_s3(restricted, bucket, admin):
    """moto routed every request without an Authorization header to S3: an sts-scoped presigned
    URL read, wrote and deleted objects. Now it is an STS request, and not a valid one."""
    user, _, _ = restricted
    for method, key in (("GET", "secret.txt"), ("PUT", "planted.txt"), ("DELETE", "secret.txt")):
        status, _, answer = send(sign(method, f"/{bucket}/{key}", user, "sts", presign=300))
        assert (status, *xml_error(answer)) == (400, "MissingAction", "The request is missing an action or "
                                                "a required parameter."), method
        assert b"secret" not in answer
    # a body the presigned URL did not sign is not the signed request
    status, _, answer = send(sign("PUT", f"/{bucket}/planted.txt", user, "sts", presign=300), body=b"planted")
    assert (status, xml_error(answer)[0]) == (403, "SignatureDoesNotMatch")
    s3 = admin.client("s3")
    assert s3.get_object(Bucket=bucket, Key="secret.txt")["Body"].read() == b"the admin's secret"
    assert error_of(s3.head_object, Bucket=bucket, Key="planted.txt")[0] == 404
    # sent to S3's own host name, the scope and the endpoint disagree: S3's AWS error
    request = sign("GET", "/secret.txt", user, "sts", presign=300, host=f"{bucket}.s3.amazonaws.com")
    status, _, answer = send(request)
    assert (status, *xml_error(answer)) == (400, "AuthorizationQueryParametersError",
                                            'Error parsing the X-Amz-Credential parameter; incorrect service '
                                            '"sts". This endpoint belongs to "s3".')
    request = sign("GET", "/secret.txt", user, "sts", host=f"{bucket}.s3.amazonaws.com")
    status, _, answer = send(request)
    assert (status, xml_error(answer)[0]) == (400, "AuthorizationHeaderMalformed")
    request = sign("POST", "/", user, "s3", host="sts.amazonaws.com",
                   body=form(Action="GetCallerIdentity", Version=STS_VERSION), headers={"Content-Type": FORM})
    status, _, answer = send(request)
    assert (status, *xml_error(answer)) == (403, "SignatureDoesNotMatch",
                                            "Credential should be scoped to correct service: 'sts'. ")


def test_a_presigned_sts_url_works_as_sts_and_carries_no_body(restricted):
    user, own, _ = restricted
    request = sign("GET", "/", user, "sts", query="Action=GetCallerIdentity&Version=2011-06-15", presign=300)
    status, _, answer = send(request)
    assert status == 200 and f"<Arn>{user.arn}</Arn>".encode() in answer
    status, _, answer = send(request, body=assume_body(own, 900), extra={"Content-Type": FORM})
    assert (status, xml_error(answer)[0]) == (403, "SignatureDoesNotMatch")


# --- integrity: the body is the one signed --------------------------------------------------------

def test_a_replayed_signed_request_with_another_body_is_refused(admin):
    """An admin's ListUsers, signed with its payload hash in x-amz-content-sha256, replayed with a
    CreateUser body: the signature covers the body the server received, so it no longer matches."""
    keys = admin_keys()
    listing = form(Action="ListUsers", Version="2010-05-08")
    victim = unique("planted-user")
    request = sign("POST", "/", keys, "iam", body=listing, headers={
        "Content-Type": FORM, "X-Amz-Content-SHA256": hashlib.sha256(listing).hexdigest()})
    status, _, answer = send(request)
    assert status == 200 and b"<ListUsersResult>" in answer
    status, _, answer = send(request, body=form(Action="CreateUser", Version="2010-05-08", UserName=victim))
    assert (status, *xml_error(answer)) == (403, "SignatureDoesNotMatch", (
        "The request signature we calculated does not match the signature you provided. Check your "
        "AWS Secret Access Key and signing method. Consult the service documentation for details."))
    assert error_of(admin.client("iam").get_user, UserName=victim)[1] == "NoSuchEntity"


def test_s3_body_must_match_its_signed_sha256(admin, bucket):
    keys = admin_keys()
    request = sign("PUT", f"/{bucket}/tampered.txt", keys, "s3", body=b"what was signed")
    status, _, answer = send(request, body=b"something else!")
    signed_hash = hashlib.sha256(b"what was signed").hexdigest()
    assert status == 400
    assert xml_error(answer) == ("XAmzContentSHA256Mismatch",
                                 "The provided 'x-amz-content-sha256' header does not match what was computed.")
    assert f"<ClientComputedContentSHA256>{signed_hash}</ClientComputedContentSHA256>".encode() in answer
    assert (f"<S3ComputedContentSHA256>{hashlib.sha256(b'something else!').hexdigest()}"
            "</S3ComputedContentSHA256>").encode() in answer
    assert error_of(admin.client("s3").head_object, Bucket=bucket, Key="tampered.txt")[0] == 404
    status, _, answer = send(request)  # the body that was signed goes in
    assert status == 200, answer
    assert admin.client("s3").get_object(Bucket=bucket, Key="tampered.txt")["Body"].read() == b"what was signed"


def test_unsigned_payload_only_where_aws_takes_it(admin, bucket):
    keys = admin_keys()
    request = sign("PUT", f"/{bucket}/unsigned.txt", keys, "s3", body=b"any body",
                   payload_hash="UNSIGNED-PAYLOAD")
    status, _, _ = send(request)
    assert status == 200
    listing = form(Action="ListUsers", Version="2010-05-08")
    request = sign("POST", "/", keys, "iam", body=listing,
                   headers={"Content-Type": FORM, "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    status, _, answer = send(request)
    assert (status, xml_error(answer)[0]) == (403, "SignatureDoesNotMatch")
    request = sign("PUT", f"/{bucket}/bad-hash.txt", keys, "s3", body=b"x", payload_hash="not-a-hash")
    status, _, answer = send(request)
    assert (status, xml_error(answer)[0]) == (400, "InvalidArgument")


def _aws_chunked(data: bytes, size: int, signer=None, trailer: bytes = b"") -> bytes:
    out = b""
    for start in [*range(0, len(data), size), len(data)]:
        chunk = data[start:start + size]
        extension = f";chunk-signature={signer(chunk)}" if signer else ""
        out += f"{len(chunk):x}{extension}\r\n".encode() + chunk + (b"\r\n" if chunk else b"")
        if not chunk:
            break
    return out + trailer + b"\r\n"


def test_aws_chunked_uploads_are_decoded_and_their_chunks_checked(admin, bucket):
    import hmac

    keys = admin_keys()
    data = b"0123456789" * 10
    crc = "x-amz-checksum-crc32"
    import base64
    import zlib

    checksum = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    body = _aws_chunked(data, 64, trailer=f"{crc}:{checksum}\r\n".encode())
    headers = {"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": str(len(data)),
               "X-Amz-Trailer": crc}
    status, _, answer = send(sign("PUT", f"/{bucket}/chunked.txt", keys, "s3", body=body, headers=headers,
                                  payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER"))
    assert status == 200, answer
    assert admin.client("s3").get_object(Bucket=bucket, Key="chunked.txt")["Body"].read() == data

    # signed chunks: each chunk's signature chains from the request's
    request = sign("PUT", f"/{bucket}/signed-chunks.txt", keys, "s3", headers={
        "Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": str(len(data))},
        payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    seed = request.headers["Authorization"].rsplit("Signature=", 1)[1]
    amz_date = request.headers["X-Amz-Date"]
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
    key = b"AWS4" + keys.secret_access_key.encode()
    for part in (amz_date[:8], "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    previous = [seed]

    def chunk_signature(chunk: bytes, tamper: bool = False) -> str:
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous[0],
                             hashlib.sha256(b"").hexdigest(), hashlib.sha256(chunk).hexdigest()])
        previous[0] = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return previous[0]

    status, _, answer = send(request, body=_aws_chunked(data, 64, chunk_signature))
    assert status == 200, answer
    assert admin.client("s3").get_object(Bucket=bucket, Key="signed-chunks.txt")["Body"].read() == data
    previous[0] = seed
    forged = _aws_chunked(data, 64, chunk_signature).replace(b"0123", b"9999", 1)
    status, _, answer = send(request, body=forged)
    assert (status, xml_error(answer)[0]) == (403, "SignatureDoesNotMatch")


def test_a_chunked_transfer_is_read_not_dropped(restricted):
    user, own, admin_role = restricted
    body = assume_body(admin_role)
    request = sign("POST", "/", user, "sts", query="Action=GetCallerIdentity&Version=2011-06-15",
                   body=body, headers={"Content-Type": FORM})
    prepared = request.prepare()
    conn = http.client.HTTPConnection("127.0.0.1", port(), timeout=30)
    try:
        conn.putrequest("POST", "/?Action=GetCallerIdentity&Version=2011-06-15", skip_host=True,
                        skip_accept_encoding=True)
        for name, value in prepared.headers.items():
            if name.lower() != "content-length":
                conn.putheader(name, value.decode() if isinstance(value, bytes) else value)
        conn.putheader("Host", f"127.0.0.1:{port()}")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for start in range(0, len(body), 16):
            piece = body[start:start + 16]
            conn.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        conn.send(b"0\r\n\r\n")
        response = conn.getresponse()
        status, answer = response.status, response.read()
    finally:
        conn.close()
    assert (status, xml_error(answer)[0]) == (400, "InvalidQueryParameter")  # the body was read


def test_too_large_a_body_is_refused_before_it_is_read(admin, bucket):
    from labkit.sandbox.payload import MAX_BODY

    for service, path, expected in (("s3", f"/{bucket}/huge.bin", (400, "EntityTooLarge")),
                                    ("sts", "/", (413, "RequestEntityTooLarge"))):
        request = sign("PUT" if service == "s3" else "POST", path, admin_keys(), service,
                       headers={"Content-Type": "application/octet-stream" if service == "s3" else FORM})
        prepared = request.prepare()
        with socket.create_connection(("127.0.0.1", port()), timeout=30) as sock:
            lines = [f"{prepared.method} {urlsplit(prepared.url).path} HTTP/1.1", f"Host: 127.0.0.1:{port()}",
                     f"Content-Length: {MAX_BODY + 1}"]
            lines += [f"{k}: {v.decode() if isinstance(v, bytes) else v}" for k, v in prepared.headers.items()
                      if k.lower() not in ("content-length", "host")]
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            status, answer = read_answer(sock)
        assert (status, xml_error(answer)[0]) == expected


def test_a_silent_client_is_answered_not_waited_for(admin):
    from labkit.sandbox.payload import READ_TIMEOUT

    request = sign("POST", "/", admin_keys(), "sts", body=form(Action="GetCallerIdentity", Version=STS_VERSION),
                   headers={"Content-Type": FORM})
    prepared = request.prepare()
    with socket.create_connection(("127.0.0.1", port()), timeout=READ_TIMEOUT + 20) as sock:
        lines = ["POST / HTTP/1.1", f"Host: 127.0.0.1:{port()}", "Content-Length: 100"]
        lines += [f"{k}: {v.decode() if isinstance(v, bytes) else v}" for k, v in prepared.headers.items()
                  if k.lower() not in ("content-length", "host")]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\nAction=GetCall").encode())
        started = time.monotonic()
        status, answer = read_answer(sock)
        waited = time.monotonic() - started
    assert status == 400
    assert xml_error(answer) == (
        "RequestTimeout", "Your socket connection to the server was not read from or written to within "
        "the timeout period. Idle connections will be closed.")
    assert waited < READ_TIMEOUT + 15  # answered once the timeout passed, not when the client gave up


# --- presigned URLs: X-Amz-Expires ------------------------------------------------------------------

@pytest.mark.parametrize("expires,message", [
    ("1e12", "X-Amz-Expires should be a number"),
    ("abc", "X-Amz-Expires should be a number"),
    ("99999999999999999999", "X-Amz-Expires must be less than a week (in seconds) that is 604800"),
    ("604801", "X-Amz-Expires must be less than a week (in seconds) that is 604800"),
    ("-1", "X-Amz-Expires must be non-negative"),
])
def test_presigned_expires_out_of_range_gets_s3s_error(bucket, expires, message):
    request = sign("GET", f"/{bucket}/secret.txt", admin_keys(), "s3", presign=300)
    url = re.sub(r"X-Amz-Expires=\d+", f"X-Amz-Expires={expires}", request.url)
    request.url = url
    status, _, answer = send(request)
    assert (status, *xml_error(answer)) == (400, "AuthorizationQueryParametersError", message)


def test_presigned_at_the_seven_day_limit_works(bucket):
    request = sign("GET", f"/{bucket}/secret.txt", admin_keys(), "s3", presign=604800)
    status, _, answer = send(request)
    assert (status, answer) == (200, b"the admin's secret")


# --- IAM action names: S3 --------------------------------------------------------------------------

def s3_user(admin, bucket: str, *statements) -> Keys:
    base = allow("s3:*", [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"])
    return make_user(admin, policies={"s3": policy(base, *statements)})


def test_delete_objects_is_delete_object_for_each_key(admin, bucket):
    s3 = admin.client("s3")
    s3.put_object(Bucket=bucket, Key="public/a.txt", Body=b"a")
    s3.put_object(Bucket=bucket, Key="keep/b.txt", Body=b"b")
    user = s3_user(admin, bucket, deny("s3:DeleteObject", f"arn:aws:s3:::{bucket}/keep/*"))
    result = user.client("s3").delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "public/a.txt"}, {"Key": "keep/b.txt"}]})
    assert [d["Key"] for d in result.get("Deleted", [])] == ["public/a.txt"]
    assert result["Errors"] == [{"Key": "keep/b.txt", "Code": "AccessDenied", "Message": "Access Denied"}]
    assert s3.get_object(Bucket=bucket, Key="keep/b.txt")["Body"].read() == b"b"
    assert error_of(s3.head_object, Bucket=bucket, Key="public/a.txt")[0] == 404
    # every key denied: nothing deleted, each reported
    result = user.client("s3").delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "keep/b.txt"}]})
    assert result.get("Deleted", []) == [] and [e["Key"] for e in result["Errors"]] == ["keep/b.txt"]
    # the user who may delete them does
    allowed = s3_user(admin, bucket)
    result = allowed.client("s3").delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "keep/b.txt"}]})
    assert [d["Key"] for d in result["Deleted"]] == ["keep/b.txt"] and not result.get("Errors")


def test_put_bucket_policy_is_s3_put_bucket_policy(admin, bucket):
    document = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                       "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"})
    denied = s3_user(admin, bucket, deny("s3:PutBucketPolicy", f"arn:aws:s3:::{bucket}"))
    status, code, message = error_of(denied.client("s3").put_bucket_policy, Bucket=bucket, Policy=document)
    assert (status, code) == (403, "AccessDenied")
    assert message == (f'User: {denied.arn} is not authorized to perform: s3:PutBucketPolicy on resource: '
                       f'"arn:aws:s3:::{bucket}" with an explicit deny in an identity-based policy')
    only_create = make_user(admin, policies={"c": policy(allow("s3:CreateBucket"))})
    status, code, message = error_of(only_create.client("s3").put_bucket_policy, Bucket=bucket, Policy=document)
    assert "s3:PutBucketPolicy" in message and code == "AccessDenied"
    s3_user(admin, bucket).client("s3").put_bucket_policy(Bucket=bucket, Policy=document)
    assert json.loads(admin.client("s3").get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(document)


@pytest.mark.parametrize("host", ["{bucket}.s3.amazonaws.com", "{bucket}.s3.us-east-1.amazonaws.com",
                                  "{bucket}.localhost:{port}"])
def test_virtual_host_s3_is_the_same_operation(admin, bucket, host):
    host = host.format(bucket=bucket, port=port())
    denied = s3_user(admin, bucket, deny("s3:GetObject", f"arn:aws:s3:::{bucket}/secret.txt"))
    status, _, answer = send(sign("GET", "/secret.txt", denied, "s3", host=host))
    assert status == 403
    assert xml_error(answer) == ("AccessDenied", f'User: {denied.arn} is not authorized to perform: '
                                 f's3:GetObject on resource: "arn:aws:s3:::{bucket}/secret.txt" with an '
                                 "explicit deny in an identity-based policy")
    status, _, answer = send(sign("GET", "/secret.txt", s3_user(admin, bucket), "s3", host=host))
    assert (status, answer) == (200, b"the admin's secret")
    status, _, answer = send(sign("GET", "/", denied, "s3", host=host, query="list-type=2"))
    assert status == 200 and b"<Key>secret.txt</Key>" in answer  # ListObjectsV2 is s3:ListBucket


def test_s3_names_each_operation_as_aws_does(admin, bucket):
    user = make_user(admin, policies={"p": policy(allow(["s3:ListBucket", "s3:GetObject"], [
        f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]))})
    s3 = user.client("s3")
    assert s3.head_object(Bucket=bucket, Key="secret.txt")["ContentLength"] == 18  # s3:GetObject
    s3.head_bucket(Bucket=bucket)  # s3:ListBucket
    status, code, message = error_of(s3.list_buckets)
    assert (status, code) == (403, "AccessDenied")
    assert message == (f"User: {user.arn} is not authorized to perform: s3:ListAllMyBuckets because no "
                       "identity-based policy allows the s3:ListAllMyBuckets action")
    status, code, message = error_of(s3.copy_object, Bucket=bucket, Key="copy.txt",
                                     CopySource={"Bucket": bucket, "Key": "secret.txt"})
    assert f's3:PutObject on resource: "arn:aws:s3:::{bucket}/copy.txt"' in message
    lister = make_user(admin, policies={"p": policy(allow("s3:ListBucket", f"arn:aws:s3:::{bucket}"))})
    # a refused HEAD is a status and headers, no body: botocore names it by the status
    assert error_of(lister.client("s3").head_object, Bucket=bucket, Key="secret.txt") == (403, "403", "Forbidden")
    status, headers, answer = send(sign("HEAD", f"/{bucket}/secret.txt", lister, "s3"))
    assert (status, answer, headers["content-length"]) == (403, b"", "0")


# --- IAM action names: REST and JSON services -------------------------------------------------------

def test_lambda_list_functions_is_named_lambda_list_functions(admin):
    nobody = make_user(admin)
    status, code, message = error_of(nobody.client("lambda").list_functions)
    assert (status, code) == (403, "AccessDeniedException")
    assert message == (f"User: {nobody.arn} is not authorized to perform: lambda:ListFunctions on resource: * "
                       "because no identity-based policy allows the lambda:ListFunctions action")
    allowed = make_user(admin, policies={"l": policy(allow("lambda:ListFunctions"))})
    assert allowed.client("lambda").list_functions()["Functions"] == []
    status, code, message = error_of(allowed.client("lambda").get_function, FunctionName="missing")
    assert message == (f"User: {allowed.arn} is not authorized to perform: lambda:GetFunction on resource: "
                       f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:missing because no identity-based "
                       "policy allows the lambda:GetFunction action")


def test_a_json_service_answers_errors_in_json(admin):
    nobody = make_user(admin)
    request = sign("POST", "/", nobody, "kms", body=b"{}", headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"})
    status, headers, answer = send(request)
    assert status == 403
    assert headers["content-type"] == "application/x-amz-json-1.1"
    assert headers["x-amzn-errortype"] == "AccessDeniedException"
    assert json.loads(answer) == {
        "__type": "AccessDeniedException",
        "message": f"User: {nobody.arn} is not authorized to perform: kms:ListKeys on resource: * "
                   "because no identity-based policy allows the kms:ListKeys action"}
    status, code, message = error_of(Keys("AKIA" + "Q" * 16, "x" * 40).client("kms").list_keys)
    assert (status, code, message) == (400, "UnrecognizedClientException", "The security token included "
                                       "in the request is invalid.")
    request = sign("POST", "/", nobody, "kms", body=b"{}", headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.NoSuchThing"})
    status, headers, answer = send(request)
    assert (status, headers["x-amzn-errortype"]) == (400, "UnknownOperationException")
    request = sign("POST", "/", nobody, "kms", query="Action=ListKeys", body=b"{}", headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"})
    status, headers, answer = send(request)
    assert (status, headers["x-amzn-errortype"]) == (400, "SerializationException")
    assert admin.client("kms").list_keys()["Keys"] == []


def test_an_operation_the_sandbox_cannot_name_is_refused(admin):
    status, _, answer = send(sign("POST", "/", admin_keys(), "sts", body=form(
        Action="GetScopedCredentials", Version=STS_VERSION), headers={"Content-Type": FORM}))
    assert status == 501
    assert xml_error(answer) == ("NotImplemented", "The sandbox cannot name the IAM action AWS checks for "
                                 "sts:GetScopedCredentials, so it refuses the call rather than allow it unchecked.")


def test_a_service_the_sandbox_does_not_offer_is_refused(admin):
    status, _, answer = send(sign("POST", "/", admin_keys(), "nosuchservice", body=b"{}"))
    assert (status, xml_error(answer)[0]) == (400, "InvalidAction")


# --- moto failing is AWS's InternalFailure, never an HTML page ------------------------------------

def test_a_moto_failure_is_internal_failure_in_the_service_envelope(admin):
    iam = admin.client("iam", config=NO_RETRY)
    status, code, message = error_of(iam.change_password, OldPassword="a" * 8, NewPassword="b" * 8)
    assert (status, code) == (500, "InternalFailure")
    assert message == "The request processing has failed because of an unknown error, exception or failure."
    log = (workspace.home() / "sandbox.log").read_text()
    assert "moto failed on iam:ChangePassword: NotImplementedError at moto/" in log


def test_services_load_on_first_use():
    """A sandbox loads IAM, STS and EC2 at start; S3, Lambda and the rest on their first request."""
    code = ("import sys\nfrom labkit.sandbox.server import build_app\napp, _ = build_app(warm=False)\n"
            "print(sorted(m for m in ('moto.s3.models', 'moto.awslambda.models', 'moto.kms.models') "
            "if m in sys.modules), app.backends.loaded())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[] []"


def test_the_rebuilt_request_keeps_every_s3_key_and_header(admin, bucket):
    """What moto runs is rebuilt from the reading: keys, metadata and ranges survive the round trip."""
    s3 = admin.client("s3")
    keys = ["dir/a b+c.txt", "ké/ü€.txt", "trailing/", "percent%2Fliteral", "q?x=1&y"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode(), Metadata={"owner": "lab"},
                      ContentType="text/plain")
    for key in keys:
        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["Body"].read() == key.encode() and got["Metadata"] == {"owner": "lab"}, key
        assert got["ContentType"] == "text/plain"
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert set(keys) <= listed
    assert s3.get_object(Bucket=bucket, Key="dir/a b+c.txt", Range="bytes=6-8")["Body"].read() == b"b+c"


@pytest.mark.parametrize("content_type", [
    "application/x-www-form-urlencoded", "APPLICATION/X-WWW-FORM-URLENCODED",
    "application/x-www-form-urlencoded;charset=UTF-8", "Application/X-Www-Form-Urlencoded ; q=1",
    "application/x-www-form-urlencodedx", "application/x-www-form", "text/plain", "",
    "multipart/form-data; boundary=xyz", "MULTIPART/FORM-DATA; BOUNDARY=xyz", "multipart/mixed; boundary=xyz",
])
def test_the_gatekeeper_reads_a_content_type_as_werkzeug_and_moto_do(content_type):
    """Whatever werkzeug (moto's request parser) would read as a form, the gatekeeper reads as one:
    the query protocol's form is read, a multipart form refused; nothing else is a form to either."""
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    from labkit.sandbox.reading import FORM, FORM_TYPES, _mimetype

    if content_type.lower().startswith("multipart"):
        body = b'--xyz\r\nContent-Disposition: form-data; name="Action"\r\n\r\nAssumeRole\r\n--xyz--\r\n'
    else:
        body = b"Action=AssumeRole"
    environ = EnvironBuilder(method="POST", data=body, headers={"Content-Type": content_type}).get_environ()
    werkzeug_form = dict(Request(environ).form)
    mimetype = _mimetype(environ)
    assert (werkzeug_form == {"Action": "AssumeRole"}) == (mimetype in FORM_TYPES), (werkzeug_form, mimetype)
    assert (mimetype == FORM) == (werkzeug_form != {} and not content_type.lower().startswith("multipart"))
