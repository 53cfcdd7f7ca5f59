"""W-SALES cleaning rules, one test per rule (fixed value expected), the fuzzy customer
matching on a hand-checked fixture, and the order rejects with their reasons."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from lakesmith.core.columns import MESSAGES, RECORD_ID, RULE_IDS, SCHEMA_VERSION, SOURCE
from lakesmith.domains.sales import clean
from lakesmith.domains.sales import standardise as st
from lakesmith.domains.sales.similarity import dice


def _apply(expr_fn, values: list[str | None]) -> list[object]:  # type: ignore[no-untyped-def]
    return pl.select(expr_fn(pl.lit(pl.Series(values, dtype=pl.String)))).to_series().to_list()


def test_text_trims_and_collapses_spaces_and_empty_is_null() -> None:
    assert _apply(st.text, ["  Jane   DOE ", "", "   ", None]) == ["Jane DOE", None, None, None]


def test_person_name_is_title_case() -> None:
    assert _apply(st.person_name, [" jane  doe", "JOHN SMITH"]) == ["Jane Doe", "John Smith"]


def test_email_lower_case_without_spaces_and_validity() -> None:
    cleaned = _apply(st.email, [" Jane.Doe@Mail.COM ", "john at mail.com", "x@", None])
    assert cleaned == ["jane.doe@mail.com", "johnatmail.com", "x@", None]
    assert _apply(lambda e: st.email_valid(st.email(e)), cleaned) == [True, False, False, None]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-05 14:22:01", datetime(2024, 3, 5, 14, 22, 1, tzinfo=UTC)),
        ("2024-03-05T14:22:01Z", datetime(2024, 3, 5, 14, 22, 1, tzinfo=UTC)),
        ("05/03/2024 14:22", datetime(2024, 3, 5, 14, 22, tzinfo=UTC)),  # day first
        ("2024/03/05 14:22:01", datetime(2024, 3, 5, 14, 22, 1, tzinfo=UTC)),
        ("05.03.2024", datetime(2024, 3, 5, tzinfo=UTC)),
        ("Mar 05, 2024", datetime(2024, 3, 5, tzinfo=UTC)),
        ("20240305", datetime(2024, 3, 5, tzinfo=UTC)),
        (" 2024-03-05 ", datetime(2024, 3, 5, tzinfo=UTC)),
        ("31/02/2024", None),
        ("yesterday", None),
        (None, None),
    ],
)
def test_parse_datetime_reads_every_format(text: str | None, expected: datetime | None) -> None:
    assert _apply(st.parse_datetime, [text]) == [expected]
    assert st.parse_datetimes(pl.Series([text], dtype=pl.String)).to_list() == [expected]


def test_parse_date_of_signups() -> None:
    assert _apply(st.parse_date, ["27/09/2020", "2019/05/21", "bad"]) == [
        date(2020, 9, 27),
        date(2019, 5, 21),
        None,
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$1,234.50", 1234.5),
        ("1.234,50 €", 1234.5),
        ("12,50 €", 12.5),
        ("USD 12.00", 12.0),
        (" 12.5 ", 12.5),
        ("£3.20", 3.2),
        ("-4.5", -4.5),
        ("N/A", None),
        ("free!", None),
        ("", None),
    ],
)
def test_parse_price(text: str, expected: float | None) -> None:
    assert _apply(st.parse_price, [text]) == [expected]


def test_parse_quantity_whole_numbers_only() -> None:
    assert _apply(st.parse_quantity, [" 3 ", "3.0", "-2", "2.5", "two"]) == [3, 3, -2, None, None]


def test_channel_synonyms() -> None:
    got = _apply(
        st.channel, ["ONLINE ", "web", "In-Store", "mobile app", "Telephone", "Kiosk", None]
    )
    assert got == ["Online", "Online", "Store", "Mobile", "Phone", "Kiosk", None]


def test_country_synonyms_fuzzy_and_unknown() -> None:
    values = ["U.S.A.", " usa ", "deutschland", "EIRE", "España", "RSA", "Untied States",
              "Germnay", "Unspecified", "Atlantis", None]  # fmt: skip
    assert st.country(pl.Series(values)).to_list() == [
        "United States", "United States", "Germany", "Ireland", "Spain", "South Africa",
        "United States", "Germany", None, None, None,
    ]  # fmt: skip


def test_ids_are_trimmed_upper_case_without_float_suffix() -> None:
    assert _apply(clean.with_ids, [" c0012 ", "13085.0", "13085", None]) == [
        "C0012",
        "13085",
        "13085",
        None,
    ]


def test_dice_similarity() -> None:
    got = dice(
        pl.Series(["john.smith42@gmail.com", "abc", "abc", None]),
        pl.Series(["jonh.smith42@gmail.com", "abc", "xyz", "abc"]),
    ).to_list()
    assert 0.8 < got[0] < 0.95
    assert got[1] == 1.0
    assert got[2] == 0.0
    assert got[3] is None


# -- customers: matching on a hand-checked fixture ------------------------------------------

CUSTOMERS = [
    # id, name, email, country, city, segment, signup  → person
    ("C1", "Jane Doe", "jane.doe@mail.com", "USA", "Boston", "Consumer", "2021-01-02"),  # A
    (
        "C2",
        "  JANE   DOE ",
        "Jane.Doe@Mail.com ",
        "United States",
        "Boston",
        None,
        "02/01/2021",
    ),  # A: case/space
    (
        "C3",
        "Jnae Doe",
        "jane.doe@mail.com",
        "U.S.A.",
        "Boston",
        "consumer",
        None,
    ),  # A: name typo, same email
    ("C4", "Jane Doe", "jnae.doe@mail.com", "US", "Boston", None, None),  # A: email typo, same name
    ("C5", "Jane Doe", None, "USA", "Boston", None, None),  # A: no email, same name + city
    (
        "C1",
        "Jane Doe",
        "jane.doe@mail.com",
        "USA",
        "Boston",
        "Consumer",
        "2021-01-02",
    ),  # A: the row again
    ("C6", "Jane Doe", "jane.doe77@yahoo.com", "USA", "Denver", None, None),  # B: another Jane Doe
    ("C7", "Bob Stone", "bob@stone.io", "Germany", "Berlin", "Corporate", None),  # C
    ("C8", "bob stone", "bob at stone.io", "Deutschland", "Berlin", None, None),  # C: invalid email
    ("C9", "Ann Lee", "ann.lee@mail.com", "France", "Paris", None, None),  # D
    ("C10", "Ann Lee", "ann.lee@mail.com", "Japan", "Tokyo", None, None),  # D: same valid email
    ("C11", "Carl Diaz", "carl@diaz.net", None, None, None, None),  # E
]


def _customers() -> pl.DataFrame:
    cols = ["customer_id", "name", "email", "country", "city", "segment", "signup_date"]
    frame = pl.DataFrame(CUSTOMERS, schema=cols, orient="row")
    return frame.with_columns(
        pl.format("r{}", pl.int_range(pl.len())).alias(RECORD_ID),
        pl.format("file:///c.parquet@1-1#row={}", pl.int_range(pl.len())).alias(SOURCE),
    )


def test_customers_deduplicate_to_the_hand_checked_count() -> None:
    rows = clean.standardise_customers(_customers())
    people = clean.golden_customers(rows)
    assert people.golden.height == 5  # A, B, C, D, E
    key = dict(zip(people.xref["customer_id"], people.xref["customer_key"], strict=True))
    assert len({key[c] for c in ("C1", "C2", "C3", "C4", "C5")}) == 1
    assert key["C6"] != key["C1"]
    assert key["C7"] == key["C8"]
    assert key["C9"] == key["C10"]
    a = people.golden.filter(pl.col("customer_id") == "C1").row(0, named=True)
    assert a["name"] == "Jane Doe"
    assert a["email"] == "jane.doe@mail.com"
    assert a["country"] == "United States"
    assert a["segment"] == "Consumer"
    assert a["signup_date"] == date(2021, 1, 2)
    assert a["source_rows"] == 6
    assert a["source_ids"] == "C1,C2,C3,C4,C5"
    c = people.golden.filter(pl.col("customer_id") == "C7").row(0, named=True)
    assert (c["email"], c["email_status"], c["country"]) == ("bob@stone.io", "valid", "Germany")
    assert people.golden["source_rows"].sum() == len(CUSTOMERS)  # nothing lost


# -- orders: every reject with its reason ------------------------------------------------------

ORDERS = [
    # order_id, order_date, customer_id, product_id, quantity, unit_price → expected rules
    ("SO1", "2024-03-05 10:00:00", "C1", "P1", "2", "$1,200.00", []),
    ("SO2", "yesterday", "C1", "P1", "1", "10", ["order_date_unparseable"]),
    ("SO3", "2024-03-05", "C1", "P1", "1", "N/A", ["unit_price_unparseable"]),
    ("SO4", "2024-03-05", "C1", "P1", "1", "-3", ["unit_price_negative"]),
    ("SO5", "2024-03-05", "C1", "P1", "1.5", "3", ["quantity_not_whole"]),
    ("SO6", "2024-03-05", "C1", "P1", "0", "3", ["quantity_zero"]),
    ("SO7", "2024-03-05", "C1", "P1", "-2", "3", ["negative_quantity_not_return"]),
    ("R8", "2024-03-05", "C1", "P1", "-2", "3", []),  # a return
    ("C9", "2024-03-05", "C1", "P1", "2", "3", ["return_with_positive_quantity"]),
    ("SO10", "2024-03-05", "C1", None, "1", "3", ["product_missing"]),
    ("SO11", "2024-03-05", None, "P1", "1", "3", ["customer_missing"]),
    ("SO12", "2024-03-05", "C404", "P1", "1", "3", ["orphan_customer"]),
    ("SO1", "2024-03-05 10:00:00", "C1", "P1", "2", "$1,200.00", ["duplicate_line"]),
    ("SO13", "bad", None, "P1", "-1", "?", [
        "order_date_unparseable", "unit_price_unparseable", "negative_quantity_not_return",
        "customer_missing"]),
]  # fmt: skip


def _orders() -> pl.DataFrame:
    cols = ["order_id", "order_date", "customer_id", "product_id", "quantity", "unit_price"]
    frame = pl.DataFrame([o[:6] for o in ORDERS], schema=cols, orient="row")
    return frame.with_columns(
        pl.format("o{}", pl.int_range(pl.len())).alias(RECORD_ID),
        pl.format("file:///s.csv@1-1#row={}", pl.int_range(pl.len()) + 1).alias(SOURCE),
        pl.lit(1, pl.Int32).alias(SCHEMA_VERSION),
        pl.lit("Online").alias("channel"),
    )


def test_every_order_reject_has_its_reasons() -> None:
    xref = pl.DataFrame({"customer_id": ["C1"], "customer_key": [1]})
    out = clean.order_reasons(clean.standardise_orders(_orders()), xref, guests=False)
    got = dict(zip(out[RECORD_ID], out[RULE_IDS].to_list(), strict=True))
    for i, order in enumerate(ORDERS):
        assert (got[f"o{i}"] or []) == order[6], order
    msgs = out.filter(pl.col(RECORD_ID) == "o1")[MESSAGES].to_list()[0]
    assert msgs == ["order_date 'yesterday' is not a date in a known format"]
    first = out.filter(pl.col(RECORD_ID) == "o0").row(0, named=True)
    assert (first["quantity"], first["unit_price"], first["is_return"]) == (2, 1200.0, False)
    assert out.filter(pl.col(RECORD_ID) == "o7")["is_return"].to_list() == [True]


def test_guests_keep_orders_without_customer() -> None:
    out = clean.order_reasons(clean.standardise_orders(_orders()), None, guests=True)
    assert out.filter(pl.col(RECORD_ID) == "o10")[RULE_IDS].to_list() == [None]


def test_quarantine_rows_keep_the_raw_values_and_lineage() -> None:
    xref = pl.DataFrame({"customer_id": ["C1"], "customer_key": [1]})
    out = clean.order_reasons(clean.standardise_orders(_orders()), xref, guests=False)
    q = clean.quarantine_rows(out.filter(pl.col(RULE_IDS).is_not_null()), clean.ORDER_FIELDS)
    assert q.height == 12
    row = q.filter(pl.col(RECORD_ID) == "o1").row(0, named=True)
    assert row["_stream"] == "file:///s.csv@1-1"
    assert row["_seq"] == 2
    assert b'"order_date":"yesterday"' in row["_payload"]
    assert row["_batch_id"] == clean.CLEAN_BATCH


def test_a_newer_version_of_a_file_supersedes_the_older() -> None:
    frame = pl.DataFrame(
        {
            SOURCE: [
                "file:///a.csv@10-1#row=1",
                "file:///a.csv@12-2#row=1",
                "file:///b.csv@5-1#row=1",
            ]
        }
    )
    assert clean.latest_streams(frame)[SOURCE].to_list() == [
        "file:///a.csv@12-2#row=1",
        "file:///b.csv@5-1#row=1",
    ]


def test_hostile_values_are_rejected_or_cleaned_never_crash() -> None:
    long = "9" * 10_000
    frame = pl.DataFrame(
        {
            "order_id": ["SO1", "SO2", "SO3", "SO4", "'; DROP TABLE x; --"],
            "order_date": [
                "2024-01-01",
                "\x00\x00",
                "\uff12\uff10\uff12\uff14-01-01",
                long,
                "2024-01-01",
            ],
            "customer_id": ["C1", "C1", "C1", "C1", "C1"],
            "product_id": ["P1", "P1", "P1", "P1", "P1"],
            "quantity": ["1", "1e308", "\u0661", "-0", "1"],
            "unit_price": ["1e5", long, "€€€", "$-", "12"],
            "country": ["🇺🇸", "\u202eASU", long, "", "United States"],
        }
    ).with_columns(
        pl.format("o{}", pl.int_range(pl.len())).alias(RECORD_ID),
        pl.format("file:///h.csv@1-1#row={}", pl.int_range(pl.len())).alias(SOURCE),
        pl.lit(1, pl.Int32).alias(SCHEMA_VERSION),
    )  # no channel, no product_name, no category column at all
    xref = pl.DataFrame({"customer_id": ["C1"], "customer_key": [1]})
    out = clean.order_reasons(clean.standardise_orders(frame), xref, guests=False)
    rules = dict(zip(out[RECORD_ID], out[RULE_IDS].to_list(), strict=True))
    assert "unit_price_unparseable" in rules["o0"]  # 1e5: not a price as typed
    assert {"order_date_unparseable", "unit_price_unparseable"} <= set(rules["o1"])
    assert {"order_date_unparseable", "unit_price_unparseable"} <= set(rules["o2"])
    assert {"order_date_unparseable", "unit_price_unparseable"} <= set(rules["o3"])
    assert rules["o4"] is None  # an odd order id is just an id
    assert out["ship_country"].to_list().count("United States") == 1
    q = clean.quarantine_rows(out.filter(pl.col(RULE_IDS).is_not_null()), clean.ORDER_FIELDS)
    assert q.height == 4 and q["_payload"].null_count() == 0
