"""Fault actions: network (through the Toxiproxy API), Postgres, and the app process."""
