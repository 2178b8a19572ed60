"""Seeds are unsigned 32-bit everywhere in the GUI (issue 14 item 2).

A QSpinBox stops at 2^31 - 1: Next from 2147483647 raised OverflowError in a slot, a PNG
made by the CLI from seed 4000000000 came back as 2147483647 (another face), and the
latent pad's animation could run past the box. Every seed box is now a SeedBox
(0..2^32 - 1, ints in and out) and seeds wrap around at both ends, as on the latent pad.
"""

import pytest

pytest.importorskip('PyQt6')
pytest.importorskip('pytestqt')

from PyQt6.QtCore import Qt  # noqa: E402
from ui_helpers import FakeEngine  # noqa: E402

from explorer.engine.recipe import Recipe  # noqa: E402

MAX = 2 ** 32 - 1


@pytest.fixture
def win(qtbot):
    from explorer.ui.main_window import MainWindow
    w = MainWindow(engine=FakeEngine())
    qtbot.addWidget(w)
    try:
        qtbot.waitUntil(lambda: w.frame is not None, timeout=5000)
        yield w
    finally:
        w.shutdown()


def req(win) -> Recipe:
    return win.last_request.recipe


def test_seed_box_holds_the_whole_unsigned_32_bit_range(qtbot):
    from explorer.ui.widgets import SeedBox
    box = SeedBox()
    qtbot.addWidget(box)
    got = []
    box.seedChanged.connect(got.append)
    for v in (2 ** 31 - 1, 2 ** 31, 4000000000, MAX):
        box.setValue(v)
        assert box.value() == v and isinstance(box.value(), int)
        assert box.text() == str(v)
    assert got == [2 ** 31 - 1, 2 ** 31, 4000000000, MAX] and all(type(s) is int for s in got)
    box.stepBy(1)                       # wraps around, as the pad does
    assert box.value() == 0
    box.stepBy(-1)
    assert box.value() == MAX
    from PyQt6.QtGui import QValidator
    ok, bad = QValidator.State.Acceptable, QValidator.State.Invalid
    assert box.validate('4294967295', 10)[0] == ok
    for text in ('4294967296', '-1', '1e5', '12.5', '4,294', 'abc'):
        assert box.validate(text, len(text))[0] == bad, text


def test_next_after_2147483647_renders_2147483648(qtbot, win):
    lp = win.latent_panel
    lp.seed.lineEdit().selectAll()
    qtbot.keyClicks(lp.seed.lineEdit(), '2147483647')
    qtbot.keyClick(lp.seed.lineEdit(), Qt.Key.Key_Return)
    assert req(win).seeds == (2147483647,)
    lp.next_btn.click()                 # raised OverflowError in the slot (pytest-qt fails the test)
    assert req(win).seeds == (2147483648,) and lp.seed.value() == 2147483648
    lp.next_btn.click()
    assert req(win).seeds == (2147483649,)
    lp.prev_btn.click()
    lp.prev_btn.click()
    lp.prev_btn.click()
    assert req(win).seeds == (2147483646,)
    qtbot.waitUntil(lambda: win.frame_recipe is not None and win.frame_recipe.seeds == (2147483646,), timeout=5000)


def test_prev_next_wrap_around_at_both_ends(win):
    lp = win.latent_panel
    lp.seed.setValue(0)
    lp.prev_btn.click()
    assert req(win).seeds == (MAX,) and lp.seed.value() == MAX
    lp.next_btn.click()
    assert req(win).seeds == (0,)
    lp.random_btn.click()
    assert 0 <= req(win).seeds[0] <= MAX


def test_cli_png_from_seed_4000000000_restores_that_seed(qtbot, win, tiny_G, tmp_path):
    from explorer.cli import main
    from explorer.engine.checkpoint import save_generator
    ckpt = save_generator(tiny_G, tmp_path / 'tiny.pt')
    assert main(['render', '--checkpoint', str(ckpt), '--seeds', '4000000000', '--noise-mode', 'random',
                 '--noise-seed', '4000000001', '--outdir', str(tmp_path / 'out'), '--device', 'cpu']) == 0
    png = next((tmp_path / 'out').glob('*.png'))
    assert win.opener.open_recipe(png)
    lp = win.latent_panel
    assert win.recipe.seeds == (4000000000,) and lp.seed.value() == 4000000000
    assert win.noise_panel.noise_seed.value() == 4000000001
    lp.prev_btn.click()                 # the neighbour of that face, not of 2147483647
    assert req(win).seeds == (3999999999,)
    win.noise_panel.reroll.click()
    assert req(win).noise_seed == 4000000002


def test_latent_pad_and_animation_stay_in_range(qtbot, win):
    lp = win.latent_panel
    lp.seed.setValue(MAX)
    lp.pad.drag_by(-0.5, 0.0)           # half way to the next seed, which is 0 again
    assert req(win).seeds == (MAX, 0, 99, 100)
    assert req(win).seed_weights == pytest.approx((0.5, 0.5, 0.0, 0.0))
    assert 0 <= lp.seed.value() <= MAX
    lp.seed.setValue(MAX - 1)
    lp.speed.setValue(3.0)
    lp.animate.setChecked(True)
    try:
        qtbot.waitUntil(lambda: req(win).seeds[0] in (MAX, 0, 1), timeout=5000)     # runs past the top ...
        qtbot.waitUntil(lambda: req(win).seeds[0] in (0, 1), timeout=5000)          # ... and on from 0
    finally:
        lp.animate.setChecked(False)
    assert all(0 <= s <= MAX for s in req(win).seeds)
    assert 0 <= lp.seed.value() <= 1


def test_other_seed_boxes_take_the_full_range(qtbot, win):
    # Noise seed
    win.noise_panel.noise_seed.setValue(4000000000)
    assert req(win).noise_seed == 4000000000
    win.restore_recipe(req(win).replace(noise_seed=MAX, noise_mode='random'))
    assert win.noise_panel.noise_seed.value() == MAX
    # Style-mixing source seeds (per-layer panel)
    win.restore_recipe(Recipe(seeds=(3,), mix_seeds=(4000000000,), layer_source=(0,) + (-1,) * 5,
                              layer_blend=(1.0,) * 6))
    assert win.layers_panel.mix_spins[0].value() == 4000000000
    win.layers_panel.mix_spins[0].setValue(MAX)
    assert req(win).mix_seeds == (MAX,)
    # Mixing grid row/column seeds
    gp = win.grid_panel
    gp.col_spins[0].setValue(4000000000)
    assert gp.cols[0] == 4000000000
    gp.row_spins[0].setValue(MAX)
    assert gp.rows[0] == MAX


def test_favourites_keep_high_seeds(qtbot, win):
    rec = Recipe(seeds=(4000000000,))
    win.restore_recipe(rec)
    qtbot.waitUntil(lambda: win.frame_recipe == win.recipe, timeout=5000)
    win.exporter.star_current()
    qtbot.waitUntil(lambda: win.favourites_panel.list.count() == 1, timeout=5000)
    assert '4000000000' in win.favourites_panel.list.item(0).text()
    win.latent_panel.seed.setValue(5)
    win.favourites_panel.list.itemClicked.emit(win.favourites_panel.list.item(0))
    assert win.recipe.seeds == (4000000000,) and win.latent_panel.seed.value() == 4000000000


def test_batch_dialog_near_the_top_seed(qtbot, win):
    from explorer.ui.batch import BatchDialog
    d = BatchDialog(win, MAX - 3)
    qtbot.addWidget(d)
    assert d.seeds() == [MAX - 3, MAX - 2, MAX - 1, MAX]     # count clamped: no seed past 2^32 - 1
    d.use_range.setChecked(True)
    assert d.range.text() == f'{MAX - 3}-{MAX}'
    assert d.seeds() == [MAX - 3, MAX - 2, MAX - 1, MAX]
    d2 = BatchDialog(win, 4000000000)
    qtbot.addWidget(d2)
    d2.count.setValue(2)
    assert d2.seeds() == [4000000000, 4000000001]
