"""Schemathesis hooks for the sidecar fuzz run (loaded through SCHEMATHESIS_HOOKS).

The OpenAPI document describes user ids with the core's regular expression plus the format
`nono-user-id`, because "printable" (no format or private-use characters) is beyond what a
regular expression can say. This teaches schemathesis to generate that format, and leaves out the
one request no schema can call invalid: linking a person with themselves.
"""

from __future__ import annotations

from urllib.parse import unquote

import schemathesis
from hypothesis import strategies as st
from schemathesis import Case, HookContext

from nono.adapters.http.ids import USER_ID_FORMAT
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


@schemathesis.hook
def filter_case(context: HookContext, case: Case) -> bool:
    """Leave out `POST /people/{p}/link` with `{"other": p}`: each id alone is valid, the pair is a 422.

    The rule spans the path and the body, which OpenAPI cannot state; test_sidecar_people.py tests the refusal.
    """
    if context.operation is None or context.operation.label != "POST /people/{person_id}/link":
        return True
    other = case.body.get("other") if isinstance(case.body, dict) else None
    person = (case.path_parameters or {}).get("person_id")  # already percent-encoded for the URL
    return not isinstance(other, str) or not isinstance(person, str) or other != unquote(person)
