"""Loopback stand-ins for remote servers, speaking their real wire protocols."""
