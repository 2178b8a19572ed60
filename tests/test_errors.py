"""One line for every error a user sees (explorer.errors.error_text)."""


def test_gui_save_error_names_the_file_without_a_python_repr():
    """Save PNG into a path whose folder is a file showed "NotADirectoryError: [Errno 20] ..."."""
    from explorer.errors import UserError, error_text
    msg = error_text(NotADirectoryError(20, 'Not a directory', '/tmp/afile/x.png'))
    assert msg == '/tmp/afile/x.png: Not a directory'
    assert error_text(PermissionError(13, 'Permission denied'), '/ro/x.png') == '/ro/x.png: Permission denied'
    assert error_text(PermissionError(13, 'Permission denied')) == 'Permission denied'
    assert error_text(UserError('bad seed range')) == 'bad seed range'
    assert error_text(ValueError('boom')) == 'ValueError: boom'
