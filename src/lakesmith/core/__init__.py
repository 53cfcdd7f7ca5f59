"""What every stage of the flow shares: errors, logging, secrets."""
