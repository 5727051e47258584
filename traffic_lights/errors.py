"""The errors of the traffic lights: rules that cannot be used, lambdas that cannot be read.

Both are ValueErrors of the rules' text, never of the runner: the worker turns them into a
`faulty` colour (or a RunnerError where a client must hear of it).
"""


class BadRules(ValueError):
    """Colour rules that cannot be used."""


class Untranslatable(ValueError):
    """A lambda this runner cannot turn into colour rules; the message says why."""


class RubyRegexError(ValueError):
    """A Ruby regex that cannot be rewritten for Python with the same meaning."""
