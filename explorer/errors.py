"""Errors the user can act on. The CLI prints them as one line and exits 2."""


class ExplorerError(Exception):
    """Base class for errors with a clear, user-facing message."""


class UserError(ExplorerError):
    """Bad input on the command line or in a dialog (missing file, bad syntax...)."""


class CheckpointError(ExplorerError):
    """A checkpoint could not be read; the message names the file and the reason."""

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = str(reason)
        super().__init__(f'{self.path}: {self.reason}')


def error_text(e: BaseException, path=None) -> str:
    """One line for a dialog or a status bar: an ExplorerError's own message; an OSError as
    'path: reason' ("/x/a.png: Not a directory", as the CLI says it; ``path`` when the error
    names no file); anything else with its type name."""
    if isinstance(e, ExplorerError):
        return str(e)
    if isinstance(e, OSError) and e.strerror:
        name = e.filename or path
        return f'{name}: {e.strerror}' if name else e.strerror
    return f'{type(e).__name__}: {e}'
