"""Schemathesis hooks for the sidecar fuzz run (loaded through SCHEMATHESIS_HOOKS).

The OpenAPI document describes user ids with the core's regular expression plus the format
`nono-user-id`, because "printable" (no format or private-use characters) is beyond what a
regular expression can say; remembered facts likewise carry the format `nono-fact` (something left
once control characters and chat-template markers are removed). This teaches schemathesis to generate
both formats, and leaves out two kinds of request: linking a person with themselves, which no schema can
call invalid, and a "negative" fact that is valid after all.
"""

from __future__ import annotations

from urllib.parse import unquote

import jsonschema_rs
import schemathesis
from hypothesis import strategies as st
from schemathesis import Case, HookContext
from schemathesis.core.parameters import ParameterLocation

from nono.adapters.http.ids import USER_ID_FORMAT
from nono.adapters.http.memory_models import FACT_FORMAT, FactIn
from nono.core.errors import InvalidInput, InvalidUserId
from nono.core.remembering import MAX_FACT_CHARS, clean_fact
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


def _fact(value: str) -> bool:
    try:
        clean_fact(value)
    except InvalidInput:
        return False
    return True


def facts() -> st.SearchStrategy[str]:
    """Facts the core keeps: any text within the limit that is not empty once cleaned."""
    return st.text(min_size=1, max_size=MAX_FACT_CHARS).filter(_fact)


schemathesis.openapi.format(USER_ID_FORMAT, user_ids())
schemathesis.openapi.format(FACT_FORMAT, facts())


#: The fact body's schema, its format checked by the core's own rule.
FACT_BODY = jsonschema_rs.validator_for(FactIn.model_json_schema(), formats={FACT_FORMAT: _fact}, validate_formats=True)
LINK = "POST /people/{person_id}/link"
REMEMBER = "POST /conversations/{conversation_id}/facts"


@schemathesis.hook
def filter_case(context: HookContext, case: Case) -> bool:
    """Leave out the cases whose verdict the document cannot state (see `linking_oneself`, `a_valid_fact`)."""
    label = context.operation.label if context.operation is not None else None
    if label == LINK:
        return not linking_oneself(case)
    if label == REMEMBER:
        return not a_valid_fact_called_negative(case)
    return True


def linking_oneself(case: Case) -> bool:
    """`POST /people/{p}/link` with `{"other": p}`: each id alone is valid, the pair is a 422.

    The rule spans the path and the body, which OpenAPI cannot state; test_sidecar_people.py tests the refusal.
    """
    other = case.body.get("other") if isinstance(case.body, dict) else None
    person = (case.path_parameters or {}).get("person_id")  # already percent-encoded for the URL
    return isinstance(other, str) and isinstance(person, str) and other == unquote(person)


def a_valid_fact_called_negative(case: Case) -> bool:
    """A negative case whose only broken part, the body, is a valid fact all the same.

    Schemathesis "negates" a format by leaving it out, and most text left to the pattern and the
    lengths is a fact the core keeps: such a body breaks no rule. Bodies that do are still sent.
    """
    meta = case.meta
    if meta is None or not meta.generation.mode.is_negative:
        return False
    negated = {location for location, component in meta.components.items() if component.mode.is_negative}
    body = case.body  # NOT_SET when left out, bytes when fuzzed as raw JSON text
    return negated == {ParameterLocation.BODY} and isinstance(body, dict) and FACT_BODY.is_valid(body)
