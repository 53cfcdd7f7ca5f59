"""Clients for the storage engines the flow writes to and reads from."""
