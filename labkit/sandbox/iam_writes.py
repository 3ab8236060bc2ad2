"""IAM writes as IAM answers them: every policy document checked by labkit.iam, boundaries stored.

Before moto sees an IAM write, `check` reads each policy document it carries with labkit.iam's
grammar for its kind (a managed or inline policy: identity; a role's trust policy: trust) and
refuses what IAM refuses, with IAM's own `MalformedPolicyDocument` text (labkit.iam.IAM_MESSAGES),
400, in the query envelope. What IAM accepts moto must store, even where moto's own validator is
stricter than IAM (`"Resource": "arn:aws:iam::*:*"`, `arn:aws:iam::${aws:PrincipalAccount}:role/*`,
numbers and booleans as condition values): `accepted` names the documents labkit.iam has just
accepted, and moto's validator lets exactly those through (`install`, the one place it is
bypassed). Documents written any other way (the sandbox's own bootstrap) still meet moto's.

A permissions boundary (CreateUser / CreateRole `PermissionsBoundary`,
Put{User,Role}PermissionsBoundary) must name an existing managed policy. moto 5.2 drops CreateUser's
boundary and has no Put/DeleteUserPermissionsBoundary (it answers an HTML 500): `install` gives
moto's users a stored boundary, shown by GetUser as IAM shows it, and the two operations
(access_policies_boundaries.html). The gatekeeper then applies a user's boundary to the user's
requests (principals.permissions_boundary).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from typing import Any

from labkit import iam
from labkit.sandbox import awserrors
from labkit.sandbox.principals import managed_policy
from labkit.sandbox.reading import Call

# operation -> the documents it writes: (parameter, the kind of policy labkit.iam reads it as)
DOCUMENTS: dict[str, tuple[tuple[str, str], ...]] = {
    "CreatePolicy": (("PolicyDocument", "identity"),),
    "CreatePolicyVersion": (("PolicyDocument", "identity"),),
    "PutUserPolicy": (("PolicyDocument", "identity"),),
    "PutGroupPolicy": (("PolicyDocument", "identity"),),
    "PutRolePolicy": (("PolicyDocument", "identity"),),
    "CreateRole": (("AssumeRolePolicyDocument", "trust"),),
    "UpdateAssumeRolePolicy": (("PolicyDocument", "trust"),),
}
# operations that set a permissions boundary (its PermissionsBoundary parameter: a policy ARN)
BOUNDARIES = frozenset({"CreateUser", "CreateRole", "PutUserPermissionsBoundary",
                        "PutRolePermissionsBoundary"})
_POLICY_ARN = re.compile(r"^arn:aws:iam::(\d{12}|aws):policy/.+$")

_accepted = threading.local()


def check(call: Call) -> list[str]:
    """Refuse an IAM write IAM would refuse (AwsError); return the documents it accepted."""
    if call.service != "iam":
        return []
    documents = []
    for parameter, kind in DOCUMENTS.get(call.operation, ()):
        document = call.params.get(parameter)
        if document is None:
            continue
        error = iam.validate(document, kind)  # type: ignore[arg-type]
        if error is not None:
            raise awserrors.malformed_policy(error.iam_message)
        documents.append(document)
    if call.operation in BOUNDARIES and call.params.get("PermissionsBoundary") is not None:
        _check_boundary(call.params["PermissionsBoundary"])
    return documents


def _check_boundary(arn: str) -> None:
    if not _POLICY_ARN.match(arn):
        raise awserrors.iam_write_error("bad_boundary", arn=arn)
    if managed_policy(arn) is None:
        raise awserrors.iam_write_error("no_such_boundary", arn=arn)


@contextlib.contextmanager
def accepted(documents: list[str]) -> Iterator[None]:
    """While moto runs the write: these documents passed labkit.iam, moto stores them as they are."""
    _accepted.documents = frozenset(documents)
    try:
        yield
    finally:
        _accepted.documents = frozenset()


def _is_accepted(document: Any) -> bool:
    return document in getattr(_accepted, "documents", frozenset())


_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Patch moto once: its validator spares accepted documents; users keep a boundary."""
    global _installed
    with _install_lock:
        if _installed:
            return
        _spare_accepted_documents()
        _user_boundaries()
        _installed = True


def _spare_accepted_documents() -> None:
    from moto.iam import policy_validation

    for cls in (policy_validation.IAMPolicyDocumentValidator,
                policy_validation.IAMTrustPolicyDocumentValidator):
        original = cls.validate

        def validate(self, _original=original) -> None:
            if _is_accepted(self._policy_document):
                return  # labkit.iam read it as IAM does, and IAM accepts it
            _original(self)

        cls.validate = validate


def _user_boundaries() -> None:
    from moto.core.responses import EmptyResult
    from moto.core.serialize import never_return, return_if_not_empty
    from moto.iam import models
    from moto.iam.responses import IamResponse

    models.User.permissions_boundary_arn = None  # class default: users made before keep none

    def permissions_boundary(self) -> dict[str, str] | None:
        if not self.permissions_boundary_arn:
            return None
        return {"PermissionsBoundaryType": "PermissionsBoundaryPolicy",
                "PermissionsBoundaryArn": self.permissions_boundary_arn}

    models.User.permissions_boundary = property(permissions_boundary)
    IamResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER.update({
        "CreateUserResponse.User.PermissionsBoundary": return_if_not_empty,
        "GetUserResponse.User.PermissionsBoundary": return_if_not_empty,
        "ListUsersResponse.Users.User.PermissionsBoundary": never_return,
    })

    original_create_user = IamResponse.create_user

    def create_user(self):
        result = original_create_user(self)
        boundary = self._get_param("PermissionsBoundary")
        if boundary:
            self.backend.get_user(self._get_param("UserName")).permissions_boundary_arn = boundary
        return result

    def put_user_permissions_boundary(self):
        user = self.backend.get_user(self._get_param("UserName"))
        user.permissions_boundary_arn = self._get_param("PermissionsBoundary")
        return EmptyResult()

    def delete_user_permissions_boundary(self):
        self.backend.get_user(self._get_param("UserName")).permissions_boundary_arn = None
        return EmptyResult()

    IamResponse.create_user = create_user
    IamResponse.put_user_permissions_boundary = put_user_permissions_boundary
    IamResponse.delete_user_permissions_boundary = delete_user_permissions_boundary
