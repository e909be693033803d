"""A refused input, as the tests look at it: the InputError a call raises."""
from __future__ import annotations

import pytest

from core.errors import InputError


def refusal(call, *args, **kwargs) -> InputError:
    """The InputError ``call(*args, **kwargs)`` raises; the test fails when it raises none."""
    with pytest.raises(InputError) as info:
        call(*args, **kwargs)
    return info.value
