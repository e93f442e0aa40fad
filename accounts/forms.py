from django import forms
from django.contrib.auth.forms import BaseUserCreationForm

from accounts.models import User


class SignUpForm(BaseUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "display_name")
        help_texts = {"display_name": "Shown to others in meetings."}

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"]).lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                "An account with this address already exists. Sign in, or reset "
                "your password if you have forgotten it."
            )
        return email

    def clean_display_name(self) -> str:
        return self.cleaned_data["display_name"].strip()


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ("display_name",)
        help_texts = {"display_name": "Shown to others in meetings."}

    def clean_display_name(self) -> str:
        name = self.cleaned_data["display_name"].strip()
        if not name:
            raise forms.ValidationError("Enter the name others should see.")
        return name
