"""Stage 1 of the flow: sources that read records from the outside world."""
