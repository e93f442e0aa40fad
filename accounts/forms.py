from django import forms
from django.contrib.auth.forms import BaseUserCreationForm

from accounts.models import User, display_name_clean


class SignUpForm(forms.Form):
    """The first step of sign-up: only the address, where the link goes.

    Whether the address is registered is deliberately not checked here: the
    page must look the same either way (the e-mail tells the owner).
    """

    email = forms.EmailField(
        label="E-mail address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
        help_text="We’ll send you a link to finish signing up.",
    )

    def clean_email(self) -> str:
        return User.objects.normalize_email(self.cleaned_data["email"]).lower()


class SignUpFinishForm(BaseUserCreationForm):
    """The second step, reached from the e-mailed link: name and password.

    ``instance`` carries the address from the link, so that the password
    validators can refuse a password that resembles it.
    """

    class Meta:
        model = User
        fields = ("display_name",)
        help_texts = {"display_name": "Shown to others in meetings."}

    def clean_display_name(self) -> str:
        return display_name_clean(self.cleaned_data["display_name"])


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ("display_name",)
        help_texts = {"display_name": "Shown to others in meetings."}

    def clean_display_name(self) -> str:
        return display_name_clean(self.cleaned_data["display_name"])
