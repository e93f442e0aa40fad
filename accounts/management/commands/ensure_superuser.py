import secrets

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.models import User


class Command(BaseCommand):
    help = (
        "Create the first superuser if there is none, and print its login once. "
        "The password is ADMIN_PASSWORD when set, otherwise a random one."
    )

    def handle(self, *args, **options) -> None:
        if User.objects.filter(is_superuser=True).exists():
            return
        password = settings.ADMIN_PASSWORD or secrets.token_urlsafe(12)
        User.objects.create_superuser(
            email=settings.ADMIN_EMAIL, password=password, display_name="Administrator"
        )
        shown = "(the one in ADMIN_PASSWORD)" if settings.ADMIN_PASSWORD else password
        self.stdout.write(
            self.style.SUCCESS(
                "\nCreated the first administrator. Sign in at /accounts/login/ with\n"
                f"    e-mail:   {settings.ADMIN_EMAIL}\n"
                f"    password: {shown}\n"
                "This is shown once; change the password from your profile.\n"
            )
        )
