"""The Slack Web API emulator, split by concern; import it from ``bot.emulators.slack_api``."""
