"""Reading text files whose encoding must be guessed (engine/data/encoding.py)."""

from pathlib import Path

import pytest

from slavik_tui.engine.data.encoding import decode
from slavik_tui.errors import UserError

TEXT = "Анна Аркадьевна читала и понимала, но ей неприятно было читать. " * 20


@pytest.mark.parametrize("cut", [1, 2, 3])
def test_utf8_cut_inside_its_last_character_reads_as_utf8(cut):
    raw = (TEXT + "ё€😀"[cut - 1]).encode("utf-8")  # a 2-, 3- and 4-byte last character
    text, used = decode(Path("cut.txt"), raw[:-1], None)
    assert used == "utf-8" and text == TEXT


def test_a_bad_byte_in_the_middle_is_still_an_error_with_a_guess():
    raw = TEXT.encode("cp1251")
    with pytest.raises(UserError, match=r"not valid UTF-8.*--encoding cp1251"):
        decode(Path("legacy.txt"), raw, None)


def test_an_invalid_last_byte_is_not_mistaken_for_a_cut():
    raw = TEXT.encode("utf-8") + b"\xff"
    with pytest.raises(UserError, match="not valid UTF-8"):
        decode(Path("bad.txt"), raw, None)
