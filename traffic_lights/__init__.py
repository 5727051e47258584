"""The traffic lights: colour rules, their condition language and the Ruby-lambda translator.

Pure: only the standard library, no Docker, no Redis.
"""
