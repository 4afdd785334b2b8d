"""User-facing errors: the CLI prints these without a traceback."""


class ScorebenchError(Exception):
    """A mistake in what the user asked for (config, flag, file, plugin). Exit code 2."""

    exit_code = 2


class UnknownComponentError(ScorebenchError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ConfigError(ScorebenchError):
    pass


class DataUnavailableError(ScorebenchError):
    pass


class DiskFullError(ScorebenchError):
    """No space left where scorebench writes; what was there before is intact."""


def problems(exc) -> str:
    """A pydantic ``ValidationError`` as ``field: message; ...`` (without its "Value error, "
    prefix)."""
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg'].removeprefix('Value error, ')}"
        for e in exc.errors()
    )
