"""Word lists of the sales generator: names, products, cities (plain data)."""

from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST = _words(
    "James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Daniel Nancy Matthew Lisa "
    "Anthony Betty Mark Margaret Donald Sandra Steven Ashley Paul Kimberly Andrew Emily "
    "Joshua Donna Kenneth Michelle Kevin Dorothy Brian Carol George Amanda Edward Melissa "
    "Ronald Deborah Timothy Stephanie Jason Rebecca Jeffrey Sharon Ryan Laura Jacob Cynthia "
    "Gary Kathleen Nicholas Amy Eric Shirley Jonathan Angela Stephen Helen Larry Anna "
    "Justin Brenda Scott Pamela Brandon Nicole Benjamin Emma Samuel Samantha Gregory "
    "Katherine Frank Christine Alexander Debra Raymond Rachel Patrick Catherine Jack "
    "Carolyn Dennis Janet Jerry Ruth Tyler Maria Aaron Heather Jose Diane Adam Virginia "
    "Henry Julie Nathan Joyce Douglas Victoria Zachary Olivia Peter Kelly Kyle Christina "
    "Walter Lauren Ethan Joan Jeremy Evelyn Harold Judith Keith Megan Christian Cheryl "
    "Roger Andrea Noah Hannah Gerald Martha"
)

LAST = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
    "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott "
    "Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell "
    "Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes "
    "Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson "
    "Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James "
    "Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross "
    "Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson "
    "Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton "
    "Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis "
    "Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez "
    "Mcdonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman "
    "Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon "
    "Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox "
    "Warren Mills Meyer Rice Schmidt"
)

NOUNS = _words(
    "Desk Chair Lamp Monitor Keyboard Mouse Notebook Pen Jacket Shirt Novel Puzzle Cable "
    "Speaker Backpack Mug"
)

ADJECTIVES = _words("Classic Deluxe Compact Smart Eco Pro Mini Ultra Vintage Basic")

DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "mail.com")
CITIES: dict[str, tuple[str, ...]] = {
    "United States": ("New York", "Chicago", "Houston", "Seattle", "Boston", "Denver"),
    "United Kingdom": ("London", "Manchester", "Leeds", "Bristol", "Glasgow"),
    "Germany": ("Berlin", "Hamburg", "Munich", "Cologne"),
    "France": ("Paris", "Lyon", "Marseille", "Lille"),
    "Spain": ("Madrid", "Barcelona", "Valencia"),
    "Italy": ("Rome", "Milan", "Naples"),
    "Netherlands": ("Amsterdam", "Rotterdam", "Utrecht"),
    "Canada": ("Toronto", "Montreal", "Vancouver"),
    "Australia": ("Sydney", "Melbourne", "Brisbane"),
    "Japan": ("Tokyo", "Osaka", "Kyoto"),
}
COUNTRY_WEIGHTS = (0.34, 0.16, 0.1, 0.08, 0.06, 0.05, 0.05, 0.06, 0.05, 0.05)
COUNTRY_TYPOS = {  # misspellings the fuzzy fallback must catch
    "United States": ("Untied States", "United Sates"),
    "United Kingdom": ("United Kingdon", "Untied Kingdom"),
    "Germany": ("Germnay", "Gemany"),
    "France": ("Frnace",),
    "Spain": ("Spian",),
    "Italy": ("Itlay",),
    "Netherlands": ("Netherland", "Neterlands"),
    "Canada": ("Canda",),
    "Australia": ("Austraila",),
    "Japan": ("Japn",),
}
SEGMENTS = ("Consumer", "Corporate", "Home Office")
CATEGORIES = ("Electronics", "Furniture", "Office Supplies", "Clothing", "Books", "Toys")
CHANNEL_SPELLINGS = (
    ("Online", "online", "ONLINE ", "web", "Website", "e-commerce"),
    ("Store", "store", "In-Store", "in store", "Retail"),
    ("Mobile", "mobile app", "App", "MOBILE"),
    ("Phone", "phone", "Telephone"),
)
DATE_OUT = ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%Y/%m/%d", "%b %d, %Y", "%Y%m%d")
STAMP_OUT = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%SZ",
    "%d/%m/%Y %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%d.%m.%Y",
    "%b %d, %Y",
)
BAD_DATES = ("not a date", "31/02/2024", "2024-13-45", "yesterday", "00/00/0000")
BAD_PRICES = ("N/A", "call us", "??", "free!")
