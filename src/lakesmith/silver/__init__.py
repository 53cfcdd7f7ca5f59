"""Stage 4 of the flow: typed, cleaned, deduplicated, conformed tables (TRN-2)."""
