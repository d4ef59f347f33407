"""The one text → number parser of the command line and every form."""

from __future__ import annotations

import pytest

from slavik_tui.errors import UserError
from slavik_tui.spec.numbers import parse_number, parse_whole


def test_whole_numbers():
    assert parse_whole(" 42 ", "--iters") == 42
    assert parse_whole("10_000", "--iters") == 10_000
    assert parse_whole("-3", "--seed") == -3  # the range is the caller's rule
    for bad, shown in [("", "nothing"), ("4.5", "'4.5'"), ("1e3", "'1e3'"), ("1__0", "'1__0'"),
                       ("_", "'_'"), ("ten", "'ten'"), ("1,000", "'1,000'")]:
        with pytest.raises(UserError) as exc:
            parse_whole(bad, "--iters", field="iters")
        assert str(exc.value) == f"--iters must be a whole number, got {shown}"
        assert exc.value.field == "iters"


def test_decimal_numbers():
    assert parse_number("6e-4", "--lr") == 6e-4
    assert parse_number("0,5", "top-p") == 0.5
    with pytest.raises(UserError) as exc:
        parse_number("fast", "--lr", "6e-4", field="lr")
    assert str(exc.value) == "--lr must be a number like 6e-4, got 'fast'"
    assert exc.value.field == "lr"
    for bad in ("nan", "inf", "-inf"):
        with pytest.raises(UserError, match="finite"):
            parse_number(bad, "--lr")
