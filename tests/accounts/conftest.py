import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def fresh_limits():
    """The sign-up and reset limits count in the cache, which outlives a
    test (locmem lives as long as the process): each test starts at zero."""
    cache.clear()
    yield
    cache.clear()
