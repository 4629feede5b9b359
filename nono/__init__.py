"""Nono: a self-hosted chat bot with persistent per-user memory and personas."""

__version__ = "0.1.0"
