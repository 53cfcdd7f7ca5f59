"""W-MUSIC: an Eventsim clickstream shipped to a landing bucket, ingested object by object
(``music.events``), split into silver event tables and a gold star schema."""
