"""`output.columns`: a column's JMESPath expression, checked for `validate` and compiled
once for the writers, so both read an expression by the same rules."""

from __future__ import annotations

from functools import lru_cache


def column_problem(name: object, expression: object) -> str | None:
    """Why a column of `output.columns` cannot work, or None (for `validate`)."""
    if not isinstance(name, str) or not name.strip():
        return "a column name must be non-empty text"
    if not isinstance(expression, str) or not expression.strip():
        return 'must be a JMESPath expression, e.g. "Emails[?IsDefault] | [0].EmailAddress"'
    try:
        compiled(expression)
    except Exception as e:  # jmespath's LexerError/ParseError/... all mean one thing here
        return f"not a JMESPath expression: {_jmespath_problem(e, expression)}"
    return None


def _jmespath_problem(error: Exception, expression: str) -> str:
    """jmespath's error in plain words, with the column in the expression."""
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    at = getattr(error, "lex_position", None)
    where = f" at character {at + 1}" if isinstance(at, int) else ""
    name = type(error).__name__
    if name == "IncompleteExpressionError":
        return f"it ends too early (an unclosed [ or a missing part){where}"
    if "Unclosed" in first:
        delimiter = first.split("Unclosed", 1)[1].split("delimiter", 1)[0].strip()
        return f"an unclosed {delimiter}{where}"
    token = getattr(error, "token_value", None)
    if token is not None:
        return f"unexpected {token!r}{where}"
    return first.removeprefix("Invalid jmespath expression: ") + where


@lru_cache(maxsize=256)
def compiled(expression: str):
    import jmespath

    return jmespath.compile(expression)


class Search:
    """A compiled expression applied to records. A JMESPath function may refuse a record's
    types (`abs` of an object): that record has no value for it (null), never a crash,
    and JMESPath's message, which quotes the value (a customer's data), is never shown."""

    def __init__(self, expression: str) -> None:
        self.expression = compiled(expression)

    def search(self, record: object) -> object:
        try:
            return self.expression.search(record)
        except Exception:  # jmespath's JMESPathError and JMESPathTypeError alike
            return None
