"""Sign-up by e-mail link: the page never says whether an address has an
account; only the mailbox owner learns it, from the e-mail we send.

``signup_email_send`` sends either a signed link that finishes the sign-up,
or, for a registered address, a reminder that the account exists. Both
branches do the same work (one query, one template, one e-mail), so that the
response time does not tell them apart either. The link is stateless: it
carries the address and where to go afterwards, signed with SECRET_KEY and
valid for ``SIGNUP_LINK_MAX_AGE``. It works once because the account it
creates is the state: a second use finds the address registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.core import signing
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import urlencode

from accounts.models import User

SIGNUP_LINK_HOURS = 24
SIGNUP_LINK_MAX_AGE = timedelta(hours=SIGNUP_LINK_HOURS)
_SALT = "accounts.signup"


class SignupLinkError(Exception):
    """A sign-up link that cannot be used; ``reason`` says why."""

    EXPIRED = "expired"
    INVALID = "invalid"
    USED = "used"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SignupClaim:
    """What a valid sign-up link vouches for."""

    email: str
    next_url: str


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=_SALT)


def signup_token(*, email: str, next_url: str = "") -> str:
    return _signer().sign_object({"e": email, "n": next_url}, compress=True)


def signup_claim(*, token: str) -> SignupClaim:
    """Read a sign-up link's token, or raise SignupLinkError."""
    try:
        data = _signer().unsign_object(
            token, max_age=SIGNUP_LINK_MAX_AGE.total_seconds()
        )
    except signing.SignatureExpired:
        raise SignupLinkError(SignupLinkError.EXPIRED) from None
    except (signing.BadSignature, ValueError):
        # ValueError: a token that is not even in the signer's format.
        raise SignupLinkError(SignupLinkError.INVALID) from None
    if not isinstance(data, dict) or not isinstance(data.get("e"), str):
        raise SignupLinkError(SignupLinkError.INVALID)
    claim = SignupClaim(email=data["e"], next_url=str(data.get("n") or ""))
    if User.objects.filter(email__iexact=claim.email).exists():
        raise SignupLinkError(SignupLinkError.USED)
    return claim


def signup_email_send(*, email: str, next_url: str, site_url: str) -> None:
    """E-mail ``email`` a link to finish signing up, or say it has an account.

    ``site_url`` is the scheme and host the links point to, without a slash.
    """
    registered = User.objects.filter(email__iexact=email).exists()
    query = "?" + urlencode({"next": next_url}) if next_url else ""
    if registered:
        subject = "You already have a Parley account"
        template = "accounts/signup_email_registered.txt"
        context = {
            "login_url": site_url + reverse("login") + query,
            "reset_url": site_url + reverse("password_reset"),
        }
    else:
        subject = "Finish signing up to Parley"
        template = "accounts/signup_email_new.txt"
        token = signup_token(email=email, next_url=next_url)
        context = {
            "finish_url": site_url + reverse("signup_finish", args=[token]),
            "hours": SIGNUP_LINK_HOURS,
        }
    body = render_to_string(template, {"email": email, **context})
    send_mail(subject, body, None, [email])


def user_signup(*, claim: SignupClaim, display_name: str, password: str) -> User:
    """Create the account a sign-up link vouches for.

    Raises SignupLinkError(USED) when the address got an account meanwhile
    (the same link opened twice, submitted in two tabs at once).
    """
    try:
        with transaction.atomic():
            return User.objects.create_user(
                email=claim.email, password=password, display_name=display_name
            )
    except IntegrityError:
        raise SignupLinkError(SignupLinkError.USED) from None
