"""Telegram: python-telegram-bot translating updates into ChatService calls."""

from nono.adapters.telegram.app import TelegramPart, build_telegram_application, running
from nono.adapters.telegram.options import TelegramOptions

__all__ = ["TelegramOptions", "TelegramPart", "build_telegram_application", "running"]
