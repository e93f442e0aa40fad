"""Response headers that say what pages may do in the browser."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin


def permissions_policy(features: Mapping[str, Sequence[str]]) -> str:
    """``{"camera": ["self"], "usb": []}`` → ``camera=(self), usb=()``.

    ``self`` and ``*`` are keywords; anything else is an origin and is quoted,
    as the header's structured-field syntax requires.
    """

    def member(value: str) -> str:
        return value if value in ("self", "*") else f'"{value}"'

    return ", ".join(
        f"{feature}=({' '.join(member(v) for v in allowed)})"
        for feature, allowed in features.items()
    )


class PermissionsPolicyMiddleware(MiddlewareMixin):
    """Sets Permissions-Policy from settings.PERMISSIONS_POLICY on every
    response. Small enough not to need a package; read per response, so that
    tests can change the setting."""

    def process_response(
        self, request: HttpRequest, response: HttpResponse
    ) -> HttpResponse:
        policy = getattr(settings, "PERMISSIONS_POLICY", None)
        if policy and "Permissions-Policy" not in response:
            response["Permissions-Policy"] = permissions_policy(policy)
        return response
