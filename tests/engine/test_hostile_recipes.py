"""Hostile recipe PNGs and the CLI's last-resort handler: one clear line (or dialog), never a traceback."""

import json
import logging
import os
import random
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from explorer.engine.png import MAX_RECIPE_TEXT, RECIPE_KEY, read_recipe, save_png
from explorer.engine.recipe import Recipe
from explorer.errors import UserError


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))


def png_with_text(path, text: str, width=4, height=4) -> Path:
    """An RGB PNG whose IHDR claims ``width`` x ``height`` (the pixel data is a few bytes, so a
    large claim is a decompression bomb by its header) with ``text`` as the recipe chunk
    before the pixels."""
    itxt = RECIPE_KEY.encode() + b'\x00\x00\x00\x00\x00' + text.encode()
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    Path(path).write_bytes(b'\x89PNG\r\n\x1a\n' + _chunk(b'IHDR', ihdr) + _chunk(b'iTXt', itxt)
                           + _chunk(b'IDAT', zlib.compress(b'\x00' * 64)) + _chunk(b'IEND', b''))
    return Path(path)


def png_via_pillow(path, text: str) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_itxt(RECIPE_KEY, text)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path, pnginfo=info)
    return Path(path)


GOOD = json.dumps(Recipe(seeds=(5,)).to_dict())


@pytest.mark.parametrize('make, words', [
    (lambda d: png_via_pillow(d / 'deep.png', '[' * 100_000 + ']' * 100_000), 'nested more than'),
    (lambda d: png_via_pillow(d / 'deep2.png', '{"seeds": ' + '[' * 200 + ']' * 200 + '}'), 'nested more than'),
    (lambda d: png_via_pillow(d / 'big.png', json.dumps({'seeds': [1], 'pad': 'x' * MAX_RECIPE_TEXT})),
     'larger than'),
    (lambda d: png_with_text(d / 'bomb.png', GOOD, 100_000, 100_000), 'decompression bomb'),
])
def test_hostile_recipe_png_is_one_user_error(tmp_path, make, words):
    path = make(tmp_path)
    with pytest.raises(UserError, match=words) as e:
        read_recipe(path)
    assert str(path) in str(e.value)


def test_recipe_before_large_pixels_is_read_without_decoding_them(tmp_path):
    """Between Pillow's warning and error sizes: the recipe comes from its chunk, the (bogus,
    10k x 10k) pixel data is never decoded."""
    path = png_with_text(tmp_path / 'large.png', GOOD, 10_000, 10_000)
    assert Recipe.from_dict(read_recipe(path)).seeds == (5,)


def test_recipe_from_dict_fuzz_gives_only_user_errors():
    rng = random.Random(0)
    leaves = [0, -1, 2 ** 70, 1.5, float('nan'), float('inf'), True, None, '', 'latent:ab', [], {}]
    keys = ['key', 'shape', 'data', 'name', 'w_dim', 'vector', 'amount', 'layers']

    def value(depth=0):
        r = rng.random()
        if depth > 2 or r < 0.5:
            return rng.choice(leaves)
        if r < 0.8:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        return {rng.choice(keys): value(depth + 1) for _ in range(rng.randint(0, 3))}

    base = Recipe().to_dict()
    fields = sorted(base)
    for _ in range(3000):
        d = dict(base)
        for _ in range(rng.randint(1, 3)):
            d[rng.choice(fields)] = value()
        try:
            Recipe.from_dict(d)
        except UserError:
            pass


def test_cli_render_recipe_bomb_is_one_line(tmp_path, capsys):
    from explorer.cli import main
    bomb = png_with_text(tmp_path / 'bomb.png', GOOD, 100_000, 100_000)
    assert main(['render', '--recipe', str(bomb), '--outdir', str(tmp_path / 'o'), '--device', 'cpu']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'Traceback' not in err and 'bomb.png' in err


def test_cli_internal_error_is_one_line_exit_1_and_a_trace_in_the_log(tmp_path, capsys, monkeypatch):
    from explorer.cli import main
    from explorer.commands import info

    def broken(args):
        raise AttributeError("'NoneType' object has no attribute 'bug'\nsecond line")

    monkeypatch.setattr(info, 'run', broken)
    assert main(['info']) == 1
    err = capsys.readouterr().err
    log_file = Path(os.environ['STYLEGAN_EXPLORER_STATE']) / 'log' / 'explorer.log'
    assert err.count('\n') == 1 and 'Traceback' not in err
    assert err.startswith("internal error: AttributeError: 'NoneType' object has no attribute 'bug' second line")
    assert f'details in the log: {log_file}' in err
    for h in logging.getLogger('explorer').handlers:
        h.flush()
    text = log_file.read_text()
    assert 'info failed with an internal error' in text and 'Traceback' in text and "no attribute 'bug'" in text


# ----------------------------------------------------------------------------- GUI

@pytest.fixture
def win(qtbot, tiny_G, tmp_path):
    pytest.importorskip('PyQt6')
    pytest.importorskip('pytestqt')
    from explorer.engine.checkpoint import save_generator
    from explorer.ui.app import make_app
    make_app()
    from explorer.ui.main_window import MainWindow
    w = MainWindow(checkpoint=str(save_generator(tiny_G, tmp_path / 'tiny.pt')), device='cpu')
    qtbot.addWidget(w)
    try:
        qtbot.waitUntil(lambda: w.frame is not None, timeout=15000)
        yield w
    finally:
        w.shutdown()


def test_gui_hostile_files_give_a_dialog_and_keep_the_state(qtbot, win, tmp_path):
    from nvidia_layout import write_official

    from explorer.engine.networks_stylegan2 import Generator
    before, info = win.recipe, win.info
    pngs = [png_with_text(tmp_path / 'bomb.png', GOOD, 100_000, 100_000),
            png_via_pillow(tmp_path / 'deep.png', '[' * 100_000 + ']' * 100_000),
            save_png(tmp_path / 'odd.png', np.zeros((4, 4, 3), np.uint8),
                     {'seeds': [1], 'latents': [{'shape': 7, 'data': ''}]})]
    for png in pngs:
        with qtbot.waitSignal(win.errorShown, timeout=5000):
            win.opener.open_path(str(png))         # as a drop does
        assert png.name in win.last_error_box.text()
        win.last_error_box.close()
        assert win.recipe == before
    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3,
                  synthesis_kwargs=dict(channel_base=128, channel_max=16))
    hostile = write_official(tmp_path / 'huge.pkl', {'G_ema': G}, init_kwargs={id(G): dict(
        z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=10 ** 7))})
    with qtbot.waitSignal(win.errorShown, timeout=15000):
        win.opener.open_path(str(hostile))
    assert 'huge.pkl' in win.last_error_box.text() and 'num_layers' in win.last_error_box.text()
    win.last_error_box.close()
    assert win.info is info and win.recipe == before
