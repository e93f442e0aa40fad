"""The name people read for a role, wherever a template has only its value."""

from django import template

from meetings.models import Role

register = template.Library()


@register.filter
def role_label(value: str) -> str:
    """``publisher`` reads "Participant": one name per role everywhere."""
    try:
        return Role(value).label
    except ValueError:
        return value
