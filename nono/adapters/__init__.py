"""Adapters: translate a platform's events into ChatService calls and render replies back."""
