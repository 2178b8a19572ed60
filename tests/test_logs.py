"""The log file: one line for the user, the stack trace in the state folder's log."""

import logging
import os
from pathlib import Path

from explorer.logs import setup_logging


def _log_file():
    return Path(os.environ['STYLEGAN_EXPLORER_STATE']) / 'log' / 'explorer.log'


def _flush():
    for h in logging.getLogger('explorer').handlers:
        h.flush()


def test_cli_error_is_one_line_on_stderr_and_a_trace_in_the_log(tmp_path, capsys):
    from explorer.cli import main
    assert main(['info', str(tmp_path / 'missing.pt')]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'Traceback' not in err
    _flush()
    text = _log_file().read_text()
    assert 'info failed' in text and 'Traceback' in text and 'CheckpointError' in text


def test_setup_is_idempotent_and_follows_the_state_folder(tmp_path, monkeypatch):
    first = setup_logging()
    assert setup_logging() == first == _log_file()
    monkeypatch.setenv('STYLEGAN_EXPLORER_STATE', str(tmp_path / 'other'))
    second = setup_logging()
    assert second == tmp_path / 'other' / 'log' / 'explorer.log'
    files = [h for h in logging.getLogger('explorer').handlers if isinstance(h, logging.FileHandler)]
    assert [Path(h.baseFilename) for h in files] == [second]
    try:
        raise ValueError('boom')
    except ValueError:
        logging.getLogger('explorer.engine.session').exception('render failed')
    _flush()
    assert 'ValueError: boom' in second.read_text()
