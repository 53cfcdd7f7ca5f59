"""The words of the device-fleet domain: manufacturers, sensor kinds, cities, ticket
categories and the sentence templates the generator fills (documents read like real
datasheets and field-service reports, not lorem ipsum)."""

from __future__ import annotations

MANUFACTURERS: tuple[tuple[str, str, str], ...] = (
    # name, country, website
    ("Aerolux Instruments", "Germany", "aerolux.example"),
    ("Borealis Sensing", "Finland", "borealis-sensing.example"),
    ("Calder Metrology", "United Kingdom", "caldermetrology.example"),
    ("Delphin Controls", "Netherlands", "delphin-controls.example"),
    ("Everline Systems", "United States", "everline.example"),
    ("Fujiwa Denki", "Japan", "fujiwa.example"),
    ("Granite Peak IoT", "Canada", "granitepeak.example"),
    ("Halvorsen Teknikk", "Norway", "halvorsen.example"),
)

# sensor kind → (unit, low, high, accuracy text)
SENSORS: dict[str, tuple[str, float, float, str]] = {
    "temperature": ("°C", -40.0, 85.0, "±0.2 °C"),
    "humidity": ("%RH", 0.0, 100.0, "±2 %RH"),
    "pressure": ("hPa", 300.0, 1100.0, "±0.5 hPa"),
    "co2": ("ppm", 400.0, 5000.0, "±(40 ppm + 3 %)"),
    "pm25": ("µg/m³", 0.0, 500.0, "±10 µg/m³"),
    "vibration": ("g", 0.0, 16.0, "±0.05 g"),
    "light": ("lux", 0.0, 65000.0, "±5 %"),
    "voc": ("ppb", 0.0, 1000.0, "±15 %"),
    "noise": ("dB(A)", 30.0, 130.0, "±1.5 dB"),
}

# model family prefix → (what it measures, marketing name)
FAMILIES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("TH", ("temperature", "humidity"), "climate logger"),
    ("THP", ("temperature", "humidity", "pressure"), "environmental sensor"),
    ("AQ", ("co2", "voc", "temperature", "humidity"), "indoor air-quality monitor"),
    ("PM", ("pm25", "temperature", "humidity"), "particulate monitor"),
    ("VB", ("vibration", "temperature"), "vibration sensor"),
    ("LX", ("light", "temperature"), "ambient light sensor"),
    ("NS", ("noise",), "sound level meter"),
    ("CX", ("co2",), "CO2 transmitter"),
    ("CT", ("temperature",), "cold-chain temperature probe"),
)

CITIES: tuple[tuple[str, str, float, float], ...] = (
    ("Rotterdam", "Netherlands", 51.9244, 4.4777),
    ("Hamburg", "Germany", 53.5511, 9.9937),
    ("Munich", "Germany", 48.1351, 11.5820),
    ("Oslo", "Norway", 59.9139, 10.7522),
    ("Helsinki", "Finland", 60.1699, 24.9384),
    ("Manchester", "United Kingdom", 53.4808, -2.2426),
    ("Glasgow", "United Kingdom", 55.8642, -4.2518),
    ("Lyon", "France", 45.7640, 4.8357),
    ("Milan", "Italy", 45.4642, 9.1900),
    ("Barcelona", "Spain", 41.3874, 2.1686),
    ("Lisbon", "Portugal", 38.7223, -9.1393),
    ("Gdansk", "Poland", 54.3520, 18.6466),
    ("Toronto", "Canada", 43.6532, -79.3832),
    ("Calgary", "Canada", 51.0447, -114.0719),
    ("Chicago", "United States", 41.8781, -87.6298),
    ("Houston", "United States", 29.7604, -95.3698),
    ("Seattle", "United States", 47.6062, -122.3321),
    ("Atlanta", "United States", 33.7490, -84.3880),
    ("Osaka", "Japan", 34.6937, 135.5023),
    ("Nagoya", "Japan", 35.1815, 136.9066),
    ("Singapore", "Singapore", 1.3521, 103.8198),
    ("Melbourne", "Australia", -37.8136, 144.9631),
    ("Auckland", "New Zealand", -36.8485, 174.7633),
    ("Cape Town", "South Africa", -33.9249, 18.4241),
)

SITE_KINDS = (
    "distribution warehouse",
    "cold store",
    "office campus",
    "bottling plant",
    "data centre",
    "greenhouse",
    "hospital wing",
    "school",
    "pharmaceutical lab",
    "retail store",
)

STATUSES = ("active", "maintenance", "offline", "retired")
STATUS_WEIGHTS = (0.85, 0.06, 0.05, 0.04)

TAGS = (
    "indoor",
    "outdoor",
    "critical",
    "battery",
    "poe",
    "cold-chain",
    "hvac",
    "lab",
    "roof",
    "basement",
    "loading-dock",
    "server-room",
)

CATEGORIES = (
    "calibration",
    "battery",
    "connectivity",
    "firmware",
    "sensor_drift",
    "physical_damage",
    "cleaning",
    "inspection",
)
CATEGORY_WEIGHTS = (0.18, 0.16, 0.17, 0.09, 0.14, 0.06, 0.08, 0.12)
PRIORITIES = ("low", "medium", "high", "critical")
PRIORITY_WEIGHTS = (0.35, 0.4, 0.2, 0.05)

TECHNICIANS = (
    "A. Okafor",
    "B. Lindqvist",
    "C. Moreau",
    "D. Nakamura",
    "E. Fitzgerald",
    "F. Rossi",
    "G. Kowalski",
    "H. Haddad",
    "I. Sørensen",
    "J. Alvarez",
)

# Ticket descriptions by category; {device}, {model}, {site}, {sensor} are filled in.
DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "calibration": (
        "Scheduled calibration of {device}: {sensor} reading compared against the reference "
        "probe, offset corrected on site.",
        "{sensor} values from {device} drifted outside tolerance; recalibrated against a "
        "traceable reference and logged the new offsets.",
        "Annual calibration at {site}; {model} passed after a two-point adjustment of the "
        "{sensor} channel.",
    ),
    "battery": (
        "Low battery alarm on {device}; replaced the lithium cell and verified reporting interval.",
        "{device} stopped reporting overnight. Battery voltage read 2.9 V, cell replaced "
        "and the enclosure seal checked.",
        "Battery swap on {model} units at {site} ahead of the winter season.",
    ),
    "connectivity": (
        "{device} drops off the network every few hours; gateway signal strength was weak, "
        "antenna repositioned.",
        "No data from {device} since the site network change at {site}; re-provisioned the "
        "Wi-Fi credentials.",
        "Intermittent packet loss from {device}. Replaced the PoE injector and the patch cable.",
    ),
    "firmware": (
        "Firmware update of {device} to the current stable release; device rebooted and "
        "resumed reporting.",
        "{model} on {device} stuck in a boot loop after an interrupted update; reflashed over USB.",
    ),
    "sensor_drift": (
        "{sensor} readings from {device} slowly rising against the neighbouring units; "
        "suspect contamination of the sensing element.",
        "Drift detected on the {sensor} channel of {device} by the fleet analytics job; "
        "element replaced.",
        "{device} reports a flat {sensor} value for two days; sensing element seized.",
    ),
    "physical_damage": (
        "Enclosure of {device} cracked by a forklift at {site}; unit replaced with a spare "
        "{model}.",
        "Water ingress found in {device} after heavy rain; gasket replaced and the board "
        "dried out.",
    ),
    "cleaning": (
        "Dust build-up on the inlet of {device}; filter cleaned and airflow verified.",
        "Routine cleaning of {model} sensors in the production hall at {site}.",
    ),
    "inspection": (
        "Quarterly inspection of {device} at {site}: mounting, cabling and labelling in order.",
        "Safety inspection of the {model} installation; no defects found, photos attached "
        "to the ticket.",
    ),
}

# Datasheet prose: {model}, {manufacturer}, {family}, {sensors}, {ip}, {interval}.
DATASHEET_INTRO = (
    "The {model} is a {family} from {manufacturer} for continuous monitoring of {sensors} "
    "in commercial and industrial buildings. It combines factory-calibrated sensing "
    "elements with a low-power radio and reports its readings every {interval} seconds.",
    "Typical applications include warehouse climate control, cold-chain compliance, "
    "building management systems and laboratory monitoring. The housing is rated {ip} "
    "and the unit mounts on walls, DIN rails or ceiling grids with the supplied bracket.",
    "Every {model} is tested and calibrated at the factory against traceable references. "
    "A calibration certificate with the serial number ships with each unit, and the "
    "calibration interval recommended by {manufacturer} is twelve months.",
)
DATASHEET_INSTALL = (
    "Mount the {model} away from direct sunlight, heat sources and air vents, at a height "
    "of 1.5 m for room monitoring. Allow thirty minutes of stabilisation after power-up "
    "before commissioning readings.",
    "Connect the device to the site gateway using the commissioning app. The device "
    "identifier printed on the label is the key under which its telemetry appears in the "
    "fleet platform.",
    "Firmware updates are delivered over the air. Do not remove power while the status "
    "LED flashes amber; an interrupted update falls back to the previous image.",
)
DATASHEET_MAINTENANCE = (
    "Inspect the sensor inlet every six months and clean it with dry compressed air. "
    "Replace the battery when the reported voltage falls below 3.0 V.",
    "Calibration drift above the stated accuracy indicates contamination or ageing of the "
    "sensing element; the element is a field-replaceable part.",
)

# Report prose: {device}, {model}, {site}, {city}, {technician}, {sensor}, {category}.
REPORT_INTRO = (
    "This report documents the {kind} of device {device}, a {model} installed at {site} "
    "in {city}. The visit was carried out by {technician} following ticket {ticket}.",
    "The device was reached without difficulty. Mounting, cabling and labelling were "
    "checked before any measurement, and the telemetry history of the last thirty days "
    "was reviewed with the site contact.",
)
REPORT_FINDINGS: dict[str, tuple[str, ...]] = {
    "calibration": (
        "The {sensor} channel showed an offset against the reference instrument that grew "
        "steadily over the last quarter. After adjustment the deviation is within the "
        "manufacturer's stated accuracy at both calibration points.",
    ),
    "battery": (
        "The battery voltage had fallen to the low-battery threshold, which explains the "
        "gaps in the reporting history. The cell was replaced and the reporting interval "
        "confirmed on the platform.",
    ),
    "connectivity": (
        "Signal strength at the mounting position was marginal and dropped further when "
        "the loading doors were closed. The antenna was repositioned and the link margin "
        "is now adequate.",
    ),
    "firmware": (
        "The device ran an outdated firmware release with a known fault in the radio "
        "driver. It was updated to the current stable release and reported normally "
        "afterwards.",
    ),
    "sensor_drift": (
        "Compared with neighbouring devices the {sensor} readings drifted upwards by a few "
        "units per week. The sensing element showed visible contamination and was "
        "replaced.",
    ),
    "physical_damage": (
        "The enclosure was cracked and moisture had reached the board. The unit was "
        "replaced with a spare of the same model and the damaged device returned for "
        "repair.",
    ),
    "cleaning": (
        "Dust had accumulated on the sensor inlet and restricted airflow. The inlet and "
        "filter were cleaned and the response time checked against a reference.",
    ),
    "inspection": (
        "No defects were found. The device is securely mounted, the cabling is intact and "
        "the readings agree with the reference instrument.",
    ),
}
REPORT_CLOSING = (
    "Recommendation: keep the device on the standard maintenance schedule and review the "
    "{sensor} trend at the next quarterly inspection. The ticket can be closed once the "
    "site contact confirms normal operation.",
    "Parts used and measurements are listed in the tables above. The technician's "
    "signature below confirms that the work was completed according to the procedure.",
)
