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
