from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from accounts import services
from accounts.forms import ProfileForm, SignUpFinishForm, SignUpForm
from accounts.models import User
from accounts.throttle import email_request_allowed

# What an unusable sign-up link says, and with which status.
_LINK_ERRORS = {
    services.SignupLinkError.EXPIRED: (
        410,
        "This link has expired",
        f"Links to finish signing up work for {services.SIGNUP_LINK_HOURS} hours. "
        "Enter your address again and we’ll send you a new one.",
    ),
    services.SignupLinkError.INVALID: (
        400,
        "This link does not work",
        "It may have been cut short by your e-mail program. Copy the whole "
        "link from the e-mail, or enter your address again for a new one.",
    ),
    services.SignupLinkError.USED: (
        410,
        "This link has already been used",
        "The account it was for exists. Sign in, or reset your password if "
        "you have forgotten it.",
    ),
}


def _is_safe(request: HttpRequest, target: str) -> bool:
    return bool(target) and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )


def _safe_next(request: HttpRequest) -> str | None:
    target = request.POST.get("next") or request.GET.get("next") or ""
    return target if _is_safe(request, target) else None


def _throttled(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/throttled.html", status=429)


def signup(request: HttpRequest) -> HttpResponse:
    """Ask for an address and e-mail it a link; the answer never says more.

    Registered or not, the response is the same redirect to the same page:
    only the mailbox owner learns which e-mail they got.
    """
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        if not email_request_allowed(scope="signup", request=request, email=email):
            return _throttled(request)
        services.signup_email_send(
            email=email,
            next_url=_safe_next(request) or "",
            site_url=f"{request.scheme}://{request.get_host()}",
        )
        return redirect("signup_sent")
    return render(
        request, "accounts/signup.html", {"form": form, "next": _safe_next(request)}
    )


def signup_sent(request: HttpRequest) -> HttpResponse:
    return render(
        request, "accounts/signup_sent.html", {"hours": services.SIGNUP_LINK_HOURS}
    )


def _link_error(request: HttpRequest, error: services.SignupLinkError) -> HttpResponse:
    status, heading, explanation = _LINK_ERRORS[error.reason]
    return render(
        request,
        "accounts/signup_link_invalid.html",
        {"heading": heading, "explanation": explanation},
        status=status,
    )


def signup_finish(request: HttpRequest, token: str) -> HttpResponse:
    """The e-mailed link: choose a name and password, then you are in."""
    try:
        claim = services.signup_claim(token=token)
    except services.SignupLinkError as error:
        return _link_error(request, error)
    form = SignUpFinishForm(request.POST or None, instance=User(email=claim.email))
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_signup(
                claim=claim,
                display_name=form.cleaned_data["display_name"],
                password=form.cleaned_data["password1"],
            )
        except services.SignupLinkError as error:
            return _link_error(request, error)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome to Parley, {user.display_name}.")
        target = claim.next_url if _is_safe(request, claim.next_url) else ""
        return redirect(target or "home")
    return render(
        request, "accounts/signup_finish.html", {"form": form, "email": claim.email}
    )


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset form, with the same limits as sign-up: each request
    sends an e-mail (when the address has an account)."""

    def form_valid(self, form):
        email = form.cleaned_data["email"]
        if not email_request_allowed(
            scope="password_reset", request=self.request, email=email
        ):
            return _throttled(self.request)
        return super().form_valid(form)


def locked_out(
    request: HttpRequest, original_response=None, credentials=None
) -> HttpResponse:
    """django-axes' lockout answer (AXES_LOCKOUT_CALLABLE), for our sign-in
    page and the admin's alike."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(request, "accounts/locked_out.html", {"minutes": minutes}, status=429)


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Your profile is saved.")
        return redirect("profile")
    return render(request, "accounts/profile.html", {"form": form})
