"""Schemathesis hooks for the sidecar fuzz run (loaded through SCHEMATHESIS_HOOKS).

The OpenAPI document describes user ids with the core's regular expression plus the format
`nono-user-id`, because "printable" (no format or private-use characters) is beyond what a
regular expression can say. This teaches schemathesis to generate that format.
"""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st

from nono.adapters.http.models import USER_ID_FORMAT
from nono.core.errors import InvalidUserId
from nono.core.users import MAX_USER_ID_LENGTH, USER_ID_PATTERN, validate_user_id


def _valid(value: str) -> bool:
    try:
        validate_user_id(value)
    except InvalidUserId:
        return False
    return True


def user_ids() -> st.SearchStrategy[str]:
    """Valid user ids: the documented pattern, filtered by the core's own check."""
    pattern = st.from_regex(USER_ID_PATTERN, fullmatch=True)
    return pattern.filter(lambda value: len(value) <= MAX_USER_ID_LENGTH).filter(_valid)


schemathesis.openapi.format(USER_ID_FORMAT, user_ids())
