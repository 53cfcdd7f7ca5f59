"""W-IOT: device telemetry over Kafka (``telemetry.yaml``) and a real Raspberry Pi
sensor family (``environment.yaml``) that needs a contract only, no code."""
