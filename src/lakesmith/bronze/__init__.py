"""Stage 2 of the flow: the append-only raw landing with the record envelope (LIN-1)."""
