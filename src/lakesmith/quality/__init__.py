"""Stage 3 of the flow: parse, type and validate records; quarantine the rest with reasons."""
