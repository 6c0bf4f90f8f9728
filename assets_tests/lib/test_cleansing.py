"""Column cleansing helpers: exact money from text."""

from decimal import Decimal

import polars as pl

from lakehouse.lib.cleansing import money, money_text


def test_money_text_is_exact_and_refuses_what_it_would_have_to_guess():
    values = ["12.34", " 3.1 ", "7", "-0.50", "13,50", "12.345", "1e3", "", None]
    parsed = pl.DataFrame({"a": values}).select(money_text("a")).to_series().to_list()
    d = Decimal
    assert parsed == [d("12.34"), d("3.10"), d("7.00"), d("-0.50"), None, None, None, None, None]


def test_money_from_a_database_real_rounds_to_the_nearest_cent():
    parsed = pl.DataFrame({"a": [12.34, 0.1 + 0.2, 2.675, None]}).select(money("a")).to_series().to_list()
    assert parsed == [Decimal("12.34"), Decimal("0.30"), Decimal("2.68"), None]
