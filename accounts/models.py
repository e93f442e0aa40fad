from __future__ import annotations

import unicodedata

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

DISPLAY_NAME_MAX_LENGTH = 80


def display_name_clean(value: str) -> str:
    """The name as others will see it in meetings, or ``ValidationError``
    saying why not. The one rule for every way a name is set: sign-up, the
    profile, the pre-call check and a guest's name."""
    name = value.strip()
    if not name:
        raise ValidationError("Enter the name others should see.")
    if len(name) > DISPLAY_NAME_MAX_LENGTH:
        raise ValidationError(
            f"Keep your name to {DISPLAY_NAME_MAX_LENGTH} characters or fewer."
        )
    # Control characters (line breaks, escapes) would garble every list the
    # name is shown in, and the CSV exports.
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise ValidationError("Use only letters, digits, spaces and punctuation.")
    return name


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(
        self, email: str, password: str | None = None, **extra
    ) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        if not (extra["is_staff"] and extra["is_superuser"]):
            raise ValueError("A superuser must have is_staff and is_superuser set.")
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        # People type their address with any capitalisation; sign-in must not care.
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with an e-mail address.

    Custom from the first migration, as Django recommends: swapping the user
    model later is painful. ``display_name`` is what others see in a meeting.
    """

    email = models.EmailField("e-mail address", unique=True)
    display_name = models.CharField(max_length=DISPLAY_NAME_MAX_LENGTH)
    is_staff = models.BooleanField(
        "staff status",
        default=False,
        help_text="Can sign in to the admin site.",
    )
    is_active = models.BooleanField(
        "active",
        default=True,
        help_text="Unselect this instead of deleting the account.",
    )
    date_joined = models.DateTimeField(default=timezone.now)
    # Joined by an invite link with just a name: no e-mail address anyone
    # reads, no password, and only the one room (meetings.Guest).
    is_guest = models.BooleanField(
        "guest",
        default=False,
        help_text="Joined by an invite link without an account.",
    )

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = ["display_name"]

    class Meta:
        ordering = ["display_name", "email"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"), name="accounts_user_email_ci_unique"
            ),
            models.CheckConstraint(
                condition=~models.Q(display_name=""),
                name="accounts_user_has_display_name",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} <{self.email}>"

    def clean(self) -> None:
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()
        self.display_name = self.display_name.strip()

    def get_full_name(self) -> str:
        return self.display_name

    def get_short_name(self) -> str:
        return self.display_name
