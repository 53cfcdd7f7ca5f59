"""Country names as people type them, and the canonical name, ISO code and region each
means: the synonym table the generator writes dirt from and ``standardise.country``
cleans with (exact synonym first, then a fuzzy match of the distinct unknown values).

Keys of ``SYNONYMS`` are *folded* (``fold``: lower case, accents and punctuation
dropped, whitespace collapsed), so ``"U.S.A."``, ``" usa "`` and ``"USA"`` are one key.
"""

from __future__ import annotations

import re
import unicodedata

# canonical name → (ISO 3166-1 alpha-2, region, synonyms as written in the wild)
COUNTRIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "United States": (
        "US",
        "Americas",
        ("US", "USA", "U.S.A.", "United States of America", "America"),
    ),
    "Canada": ("CA", "Americas", ("CA", "CAN")),
    "Brazil": ("BR", "Americas", ("BR", "Brasil")),
    "Mexico": ("MX", "Americas", ("MX", "México")),
    "United Kingdom": (
        "GB",
        "Europe",
        ("UK", "U.K.", "GB", "Great Britain", "England", "Britain", "Channel Islands"),
    ),
    "Ireland": ("IE", "Europe", ("IE", "EIRE", "Éire", "Republic of Ireland")),
    "Germany": ("DE", "Europe", ("DE", "Deutschland", "GER")),
    "France": ("FR", "Europe", ("FR", "République française", "FRA")),
    "Spain": ("ES", "Europe", ("ES", "España", "Espana", "ESP")),
    "Italy": ("IT", "Europe", ("IT", "Italia", "ITA")),
    "Netherlands": ("NL", "Europe", ("NL", "Holland", "The Netherlands", "Nederland")),
    "Belgium": ("BE", "Europe", ("BE", "Belgique", "België")),
    "Switzerland": ("CH", "Europe", ("CH", "Schweiz", "Suisse")),
    "Austria": ("AT", "Europe", ("AT", "Österreich")),
    "Portugal": ("PT", "Europe", ("PT",)),
    "Sweden": ("SE", "Europe", ("SE", "Sverige")),
    "Norway": ("NO", "Europe", ("NO", "Norge")),
    "Denmark": ("DK", "Europe", ("DK", "Danmark")),
    "Finland": ("FI", "Europe", ("FI", "Suomi")),
    "Iceland": ("IS", "Europe", ("IS",)),
    "Poland": ("PL", "Europe", ("PL", "Polska")),
    "Lithuania": ("LT", "Europe", ("LT",)),
    "Greece": ("GR", "Europe", ("GR", "Hellas")),
    "Cyprus": ("CY", "Europe", ("CY",)),
    "Malta": ("MT", "Europe", ("MT",)),
    "European Community": ("EU", "Europe", ("EU", "European Union")),
    "Israel": ("IL", "Middle East", ("IL",)),
    "Lebanon": ("LB", "Middle East", ("LB",)),
    "Bahrain": ("BH", "Middle East", ("BH",)),
    "United Arab Emirates": ("AE", "Middle East", ("UAE", "AE", "U.A.E.")),
    "Saudi Arabia": ("SA", "Middle East", ("KSA",)),
    "South Africa": ("ZA", "Africa", ("RSA", "ZA")),
    "Nigeria": ("NG", "Africa", ("NG",)),
    "Japan": ("JP", "Asia-Pacific", ("JP", "Nippon", "JPN")),
    "South Korea": ("KR", "Asia-Pacific", ("Korea", "KR", "Republic of Korea")),
    "Singapore": ("SG", "Asia-Pacific", ("SG",)),
    "Hong Kong": ("HK", "Asia-Pacific", ("HK",)),
    "Thailand": ("TH", "Asia-Pacific", ("TH",)),
    "India": ("IN", "Asia-Pacific", ("IN", "Bharat")),
    "Australia": ("AU", "Asia-Pacific", ("AU", "Aus", "Oz")),
    "New Zealand": ("NZ", "Asia-Pacific", ("NZ",)),
    "West Indies": ("WI", "Americas", ()),
    "Bermuda": ("BM", "Americas", ("BM",)),
}
UNKNOWN = ("Unspecified", "Unknown", "N/A", "NA", "-", "?", "none", "null")
"""Values that say "no country": they read as null."""

_PUNCT = re.compile(r"[^\w\s]")
_SPACE = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lower case, accents and punctuation dropped, whitespace collapsed."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _SPACE.sub(" ", _PUNCT.sub("", plain.lower())).strip()


SYNONYMS: dict[str, str] = {
    fold(alias): name
    for name, (iso, _, aliases) in COUNTRIES.items()
    for alias in (name, iso, *aliases)
}
"""Folded spelling → canonical name."""
SYNONYMS_UNKNOWN = frozenset(fold(u) for u in UNKNOWN)
