"""Telegram: python-telegram-bot translating updates into ChatService calls."""

from nono.adapters.telegram.app import build_telegram_application

__all__ = ["build_telegram_application"]
