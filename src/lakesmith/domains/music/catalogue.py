"""What the music simulator draws from: songs (artist, title, length), US metro locations
in Eventsim's ``"City-City, ST"`` form, user agents and names.

The song catalogue starts with real songs when the shared sample data is present (the
Million Song Dataset subset in ``eventsim_songs/`` and every distinct song played in the
real Eventsim logs), at the most popular ranks, and is filled up to ``size`` with
generated artists and titles (deterministic: the same list on every machine that has the
same sample data; the generated part alone when it is absent).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

SHARED = Path(__file__).resolve().parents[5] / "shared" / "data" / "external"
REAL_EVENTS = SHARED / "eventsim"
REAL_SONGS = SHARED / "eventsim_songs"

LOCATIONS = [
    "New York-Newark-Jersey City, NY-NJ-PA", "Los Angeles-Long Beach-Anaheim, CA",
    "Chicago-Naperville-Elgin, IL-IN-WI", "Dallas-Fort Worth-Arlington, TX",
    "Houston-The Woodlands-Sugar Land, TX", "Washington-Arlington-Alexandria, DC-VA-MD-WV",
    "Miami-Fort Lauderdale-West Palm Beach, FL", "Philadelphia-Camden-Wilmington, PA-NJ-DE-MD",
    "Atlanta-Sandy Springs-Roswell, GA", "Boston-Cambridge-Newton, MA-NH",
    "Phoenix-Mesa-Scottsdale, AZ", "San Francisco-Oakland-Hayward, CA",
    "Riverside-San Bernardino-Ontario, CA", "Detroit-Warren-Dearborn, MI",
    "Seattle-Tacoma-Bellevue, WA", "Minneapolis-St. Paul-Bloomington, MN-WI",
    "San Diego-Carlsbad, CA", "Tampa-St. Petersburg-Clearwater, FL",
    "Denver-Aurora-Lakewood, CO", "St. Louis, MO-IL", "Baltimore-Columbia-Towson, MD",
    "Charlotte-Concord-Gastonia, NC-SC", "Portland-Vancouver-Hillsboro, OR-WA",
    "San Antonio-New Braunfels, TX", "Orlando-Kissimmee-Sanford, FL",
    "Sacramento--Roseville--Arden-Arcade, CA", "Pittsburgh, PA", "Las Vegas-Henderson-Paradise, NV",
    "Cincinnati, OH-KY-IN", "Kansas City, MO-KS", "Austin-Round Rock, TX",
    "Cleveland-Elyria, OH", "Columbus, OH", "Indianapolis-Carmel-Anderson, IN",
    "San Jose-Sunnyvale-Santa Clara, CA", "Nashville-Davidson--Murfreesboro--Franklin, TN",
    "Virginia Beach-Norfolk-Newport News, VA-NC", "Providence-Warwick, RI-MA",
    "Milwaukee-Waukesha-West Allis, WI", "Jacksonville, FL", "Memphis, TN-MS-AR",
    "Oklahoma City, OK", "Louisville/Jefferson County, KY-IN", "Richmond, VA",
    "New Orleans-Metairie, LA", "Raleigh, NC", "Salt Lake City, UT", "Birmingham-Hoover, AL",
    "Buffalo-Cheektowaga-Niagara Falls, NY", "Tucson, AZ", "Lansing-East Lansing, MI",
    "Red Bluff, CA", "Eugene, OR", "Winston-Salem, NC", "Lakeland-Winter Haven, FL",
    "Elkhart-Goshen, IN", "Tampa-St. Petersburg-Clearwater, FL", "Janesville-Beloit, WI",
]  # fmt: skip

USER_AGENTS = [
    '"Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/36.0.1985.143 Safari/537.36"',
    '"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_4) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/36.0.1985.143 Safari/537.36"',
    "Mozilla/5.0 (Windows NT 6.1; WOW64; rv:31.0) Gecko/20100101 Firefox/31.0",
    '"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_4) AppleWebKit/537.77.4 (KHTML, like Gecko) Version/7.0.5 Safari/537.77.4"',
    "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.1; WOW64; Trident/6.0)",
    '"Mozilla/5.0 (iPhone; CPU iPhone OS 7_1_2 like Mac OS X) AppleWebKit/537.51.2 (KHTML, like Gecko) Version/7.0 Mobile/11D257 Safari/9537.53"',
    '"Mozilla/5.0 (iPad; CPU OS 7_1_2 like Mac OS X) AppleWebKit/537.51.2 (KHTML, like Gecko) Version/7.0 Mobile/11D257 Safari/9537.53"',
    '"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/36.0.1985.125 Safari/537.36"',
    "Mozilla/5.0 (Windows NT 6.3; WOW64; rv:31.0) Gecko/20100101 Firefox/31.0",
    "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
    '"Mozilla/5.0 (Windows NT 6.3; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/36.0.1985.143 Safari/537.36"',
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:31.0) Gecko/20100101 Firefox/31.0",
    '"Mozilla/5.0 (Linux; Android 4.4.2; SM-G900P Build/KOT49H) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/36.0.1985.135 Mobile Safari/537.36"',
]  # fmt: skip

FIRST_NAMES = {
    "F": ["Kaylee", "Lily", "Jacqueline", "Tegan", "Ava", "Chloe", "Layla", "Sara", "Aleena",
          "Jayden", "Kate", "Rylan", "Mohammad", "Emily", "Sienna", "Brooklyn", "Olivia", "Maya"],
    "M": ["Walter", "Ryan", "Jacob", "Lucas", "Noah", "Matthew", "Connar", "Theodore", "Wyatt",
          "Cienna", "Aiden", "Sean", "Kevin", "Jordan", "Elijah", "Austin", "Liam", "Caleb"],
}  # fmt: skip
LAST_NAMES = [
    "Frye", "Summers", "Koch", "Levine", "Smith", "Robinson", "Williams", "Lynch", "Jones",
    "Harrell", "Garrison", "Howell", "Cruz", "Hogan", "Moreno", "Griffin", "Owens", "Miller",
    "Rodriguez", "Nguyen", "Cox", "Jackson", "Ellis", "Schwartz", "Reed", "Freeman", "Ward",
]  # fmt: skip

_SYLLABLES = ["ka", "lo", "mi", "ra", "ven", "tor", "sha", "el", "dan", "ju", "ne", "xo",
              "bri", "cal", "mo", "zen", "ta", "ri", "fa", "lu", "gor", "in", "pe", "sol"]  # fmt: skip
_WORDS = ["Love", "Night", "Heart", "Fire", "Dream", "Rain", "Road", "Light", "Gold", "Blue",
          "Summer", "Home", "Stars", "Wild", "River", "Shadow", "Dance", "Sky", "Time", "Ocean",
          "Ghost", "Paper", "Echo", "Silver", "Kingdom", "Satellite", "Youth", "Storm"]  # fmt: skip


@dataclass(frozen=True)
class Catalogue:
    artist: np.ndarray  # object arrays, one entry per song, rank 0 = most popular
    song: np.ndarray
    length: np.ndarray  # float seconds

    def __len__(self) -> int:
        return len(self.song)


def real_songs(events: Path = REAL_EVENTS, songs: Path = REAL_SONGS) -> pl.DataFrame:
    """Distinct (artist, song, length) of the real sample data; empty when absent."""
    parts: list[pl.DataFrame] = []
    if songs.is_dir():
        files = sorted(songs.rglob("*.json"))
        if files:
            frame = pl.concat([pl.read_ndjson(f) for f in files], how="diagonal_relaxed")
            parts.append(
                frame.select(
                    pl.col("artist_name").alias("artist"),
                    pl.col("title").alias("song"),
                    pl.col("duration").cast(pl.Float64).alias("length"),
                )
            )
    if events.is_dir():
        for f in sorted(events.glob("*.json")):
            frame = pl.read_ndjson(f, infer_schema_length=None)
            parts.append(
                frame.filter(pl.col("page") == "NextSong").select(
                    "artist", "song", pl.col("length").cast(pl.Float64)
                )
            )
    if not parts:
        return pl.DataFrame(schema={"artist": pl.String, "song": pl.String, "length": pl.Float64})
    return pl.concat(parts).drop_nulls().unique(maintain_order=True)


def build_catalogue(size: int = 20_000, use_real: bool = True) -> Catalogue:
    """``size`` songs: the real ones first (when present and ``use_real``), then generated."""
    real = real_songs() if use_real else pl.DataFrame()
    rng = np.random.default_rng(2018_11_01)  # the catalogue does not depend on --seed
    n_gen = max(size - real.height, 0)
    syl = np.array(_SYLLABLES, dtype=object)
    n_artists = max(n_gen // 5, 1)
    parts = [syl[rng.integers(0, len(syl), n_artists)] for _ in range(3)]
    names = parts[0] + parts[1] + np.where(rng.random(n_artists) < 0.5, parts[2], "")
    names = np.array([n.capitalize() for n in names.tolist()], dtype=object)
    artists = names[rng.integers(0, n_artists, n_gen)]
    words = np.array(_WORDS, dtype=object)
    titles = (
        words[rng.integers(0, len(words), n_gen)] + " " + words[rng.integers(0, len(words), n_gen)]
    )
    lengths = np.round(rng.lognormal(np.log(235.0), 0.3, n_gen).clip(30, 1200), 5)
    if real.height:
        artists = np.concatenate([real["artist"].to_numpy().astype(object), artists])
        titles = np.concatenate([real["song"].to_numpy().astype(object), titles])
        lengths = np.concatenate([real["length"].to_numpy(), lengths])
    return Catalogue(artists[:size], titles[:size], lengths[:size].astype(np.float64))
