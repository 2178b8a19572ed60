"""First-use self-check of the fast paths: a fast path that raises or returns wrong values is
switched off for the process, the reference serves instead, and the user is told once.

No GPU here: the CPU is made a 'checked' device (``CHECKED_DEVICE_TYPES``), kernels are made
to raise or to return wrong values by monkeypatching, and the Triton kernels run under the
interpreter (``TRITON_INTERPRET=1``, set before Triton is imported).
"""

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ['TRITON_INTERPRET'] = '1'

import kernels._dispatch as dispatch  # noqa: E402
from explorer.engine import selfcheck as engine_selfcheck  # noqa: E402  (registers the render paths)
from kernels import selfcheck  # noqa: E402
from kernels.selfcheck import FAILED, OK, UNAVAILABLE, FastPath  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    """Each test starts as a new process would; registered paths are restored afterwards."""
    monkeypatch.delenv('EXPLORER_KERNELS', raising=False)
    saved = dict(selfcheck._paths)
    selfcheck.reset()
    yield
    selfcheck._paths.clear()
    selfcheck._paths.update(saved)
    selfcheck.reset()


@pytest.fixture
def cpu_checked(monkeypatch):
    """Pretend the CPU is a GPU-like device whose fast paths are checked on first use."""
    monkeypatch.setattr(selfcheck, 'CHECKED_DEVICE_TYPES', frozenset({'cpu', 'cuda', 'mps'}))


def _fake(name='fake.op', fast=None, calls=None, tolerance=1e-5, unavailable=lambda d: None):
    def run(device):
        if calls is not None:
            calls.append(device)
        x = torch.arange(6.0, device=device)
        return (fast(x) if fast else x * 2), x * 2
    selfcheck.register(FastPath(name, 'a fake fast path', run, tolerance=tolerance, unavailable=unavailable))
    return name


def _raise(x):
    raise RuntimeError('invalid device function (injected)')


# ------------------------------------------------------------------ the registry

def test_a_raising_path_falls_back_logs_and_says_so_once(cpu_checked, capsys, caplog):
    calls = []
    name = _fake(fast=_raise, calls=calls)
    assert selfcheck.allowed(name, 'cpu') is False
    assert selfcheck.allowed(name, 'cpu') is False        # cached: the check ran once
    assert len(calls) == 1
    result = selfcheck.cached(name, 'cpu')
    assert result.state == FAILED and 'RuntimeError: invalid device function (injected)' in result.reason
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith('warning: fast path fake.op switched off on cpu')
    assert 'using the reference' in err and 'main.py doctor' in err
    notices = selfcheck.take_notices()
    assert len(notices) == 1 and 'fake.op' in notices[0] and 'injected' in notices[0]
    assert selfcheck.take_notices() == []                 # handed out once
    assert any(r.exc_info for r in caplog.records if r.name == 'kernels.selfcheck')   # the trace: in the log


def test_wrong_values_beyond_the_tolerance_fall_back(cpu_checked, capsys):
    name = _fake(fast=lambda x: x * 2 + 0.5)
    result = selfcheck.check(name, 'cpu')
    assert result.state == FAILED and result.error == pytest.approx(0.05)
    assert 'differs from the reference: max error 0.05 > tolerance 1e-05' in result.reason
    assert 'differs from the reference' in capsys.readouterr().err


def test_nan_and_shape_mismatch_fall_back(cpu_checked, capsys):
    assert selfcheck.check(_fake('nan.op', fast=lambda x: x * float('nan')), 'cpu').state == FAILED
    r = selfcheck.check(_fake('shape.op', fast=lambda x: x[:3]), 'cpu')
    assert r.state == FAILED and 'shape (3,)' in r.reason
    assert capsys.readouterr().err.count('warning:') == 2


def test_within_tolerance_is_ok_and_silent(cpu_checked, capsys):
    name = _fake(fast=lambda x: x * 2 + 1e-7)
    result = selfcheck.check(name, 'cpu')
    assert result.state == OK and result.error < 1e-6 and result.ms >= 0
    assert selfcheck.allowed(name, 'cpu') and capsys.readouterr().err == '' and selfcheck.take_notices() == []


def test_unavailable_path_is_off_without_running(cpu_checked, capsys):
    calls = []
    name = _fake(calls=calls, unavailable=lambda d: 'needs a unicorn')
    assert not selfcheck.allowed(name, 'cpu')
    assert selfcheck.cached(name, 'cpu').state == UNAVAILABLE and calls == []
    assert capsys.readouterr().err == ''                  # not a failure: nothing to announce


def test_cpu_is_not_checked_by_default():
    calls = []
    name = _fake(fast=_raise, calls=calls)
    assert selfcheck.allowed(name, 'cpu') and calls == [] and selfcheck.cached(name, 'cpu') is None
    assert selfcheck.allowed('not.registered', 'cuda')


def test_results_are_per_device(cpu_checked):
    name = _fake(unavailable=lambda d: 'not on this one' if d.type == 'mps' else None)
    assert selfcheck.allowed(name, 'cpu') and not selfcheck.allowed(name, 'mps')
    assert selfcheck.cached(name, 'cpu').state == OK and selfcheck.cached(name, 'mps').state == UNAVAILABLE


# ------------------------------------------------------------------ the kernels' dispatch

@pytest.fixture
def triton_picked(cpu_checked, monkeypatch):
    """impl='auto' picks the Triton kernel on CPU tensors, as it would on CUDA ones."""
    pytest.importorskip('triton')
    monkeypatch.setattr(dispatch, 'resolve_impl', lambda impl, *t: 'ref' if impl == 'ref' else 'triton')


def test_a_raising_kernel_falls_back_to_the_reference(triton_picked, monkeypatch, capsys):
    from kernels import triton_bias_act
    from kernels.bias_act import bias_act, bias_act_ref
    calls = []

    def broken(*a, **k):
        calls.append(1)
        raise RuntimeError('no kernel image is available for execution on the device')
    monkeypatch.setattr(triton_bias_act, 'bias_act_triton', broken)
    x, b = torch.randn(2, 4, 3, 3), torch.randn(4)
    for _ in range(3):
        y = bias_act(x, b, act='lrelu', gain=1.4)
        torch.testing.assert_close(y, bias_act_ref(x, b, act='lrelu', gain=1.4))
    assert len(calls) == 1                                 # only the self-check ran it
    err = capsys.readouterr().err
    assert err.count('warning:') == 1 and 'triton.bias_act' in err and 'no kernel image' in err
    r = selfcheck.cached('triton.bias_act', 'cpu')
    assert r.state == FAILED and 'no kernel image' in r.reason
    with pytest.raises(RuntimeError):                       # an explicit impl='triton' is taken as asked
        bias_act(x, b, act='lrelu', impl='triton')


def test_a_kernel_with_wrong_values_falls_back(triton_picked, monkeypatch, capsys):
    from kernels import triton_upfirdn2d
    from kernels.upfirdn2d import setup_filter, upfirdn2d, upfirdn2d_ref
    real = triton_upfirdn2d.upfirdn2d_triton
    monkeypatch.setattr(triton_upfirdn2d, 'upfirdn2d_triton', lambda *a, **k: real(*a, **k) * 1.5)
    x, f = torch.randn(1, 2, 6, 6), setup_filter([1, 3, 3, 1])
    torch.testing.assert_close(upfirdn2d(x, f, up=2, padding=[2, 1, 2, 1]),
                               upfirdn2d_ref(x, f, up=2, padding=[2, 1, 2, 1]))
    assert selfcheck.cached('triton.upfirdn2d', 'cpu').state == FAILED
    assert 'differs from the reference' in capsys.readouterr().err


def test_healthy_kernels_pass_and_then_serve(triton_picked, monkeypatch, capsys):
    if os.environ.get('TRITON_INTERPRET') != '1' and not torch.cuda.is_available():
        pytest.skip('Triton was imported without the interpreter')
    from kernels import triton_bias_act
    from kernels.bias_act import bias_act
    calls = []
    real = triton_bias_act.bias_act_triton

    def counted(*a, **k):
        calls.append(1)
        return real(*a, **k)
    monkeypatch.setattr(triton_bias_act, 'bias_act_triton', counted)
    bias_act(torch.randn(2, 4, 3, 3), torch.randn(4), act='lrelu')
    assert selfcheck.cached('triton.bias_act', 'cpu').state == OK
    assert len(calls) == 2                                  # the check, then the call itself
    for name in ('triton.upfirdn2d', 'triton.modconv', 'triton.epilogue', 'triton.filtered_lrelu'):
        assert selfcheck.check(name, 'cpu').state == OK, selfcheck.cached(name, 'cpu')
    assert capsys.readouterr().err == ''


# ------------------------------------------------------------------ the engine's paths

def _tiny_session(G, tmp_path):
    from explorer.engine.checkpoint import save_generator
    from explorer.engine.session import Session
    s = Session('cpu')
    s.load(save_generator(G, tmp_path / 't.pt'))
    return s


def test_real_render_checks_pass_on_cpu(cpu_checked):
    assert selfcheck.check('render.fp32', 'cpu').state == OK
    assert selfcheck.check('render.fp16', 'cpu').state == UNAVAILABLE
    assert selfcheck.check('cuda_graphs', 'cpu').state == UNAVAILABLE


def test_graph_check_catches_a_stale_replay():
    from explorer.engine import cuda_graphs
    from kernels.selfcheck import _relative_error

    def stale(fn, static):                      # a replay that never recomputes: the bug the check is for
        return (lambda: None), fn(static)

    def good(fn, static):
        out = fn(static)
        return (lambda: out.copy_(fn(static))), out
    fast, ref = cuda_graphs._selfcheck_small('cpu', capture=stale)
    assert _relative_error(fast, ref) > 0.1
    fast, ref = cuda_graphs._selfcheck_small('cpu', capture=good)
    assert _relative_error(fast, ref) == 0.0


def test_session_falls_back_to_the_exact_path_and_says_so_once(cpu_checked, tiny_G, tmp_path, capsys):
    from explorer.engine.recipe import Recipe
    _fake('render.fp32', fast=_raise)
    s = _tiny_session(tiny_G, tmp_path)
    assert s.info.fast_dtypes == ()
    frame, t = s.render(Recipe(seeds=(1,)))
    assert t['path'] == 'exact' and 'render.fp32' in t['notice'] and 'injected' in t['notice']
    _, t2 = s.render(Recipe(seeds=(2,)))
    assert 'notice' not in t2
    assert capsys.readouterr().err.count('warning:') == 1


def test_session_drops_only_a_failing_bf16(cpu_checked, tiny_G, tmp_path, monkeypatch, capsys):
    from explorer.engine import session as session_mod
    monkeypatch.setattr(session_mod, 'dtype_supported', lambda dtype, device: dtype in ('fp32', 'bf16'))
    _fake('render.fp32')
    _fake('render.bf16', fast=lambda x: x * 3)
    s = _tiny_session(tiny_G, tmp_path)
    assert s.info.fast_dtypes == ('fp32',)
    assert 'render.bf16' in capsys.readouterr().err


def test_fast_renderer_refuses_a_failed_path_and_skips_failed_graphs(cpu_checked, tiny_G):
    from explorer.engine.fast_render import FastRenderer
    _fake('render.fp32', fast=_raise)
    with pytest.raises(ValueError, match='failed its self-check on cpu: RuntimeError'):
        FastRenderer(tiny_G, 'cpu')
    selfcheck.unregister('render.fp32')
    fr = FastRenderer(tiny_G, 'cpu', graph_capture=lambda fn, st: (lambda: None, fn(st)))
    assert fr.use_graphs                      # an injected capture is the caller's own choice


def test_doctor_report_lists_every_path(cpu_checked):
    _fake('fake.broken', fast=_raise)
    r = engine_selfcheck.report('cpu')
    states = {p['name']: p for p in r['fast_paths']}
    assert set(states) >= {'triton.bias_act', 'triton.modconv', 'render.fp32', 'render.bf16', 'cuda_graphs'}
    assert states['fake.broken']['state'] == FAILED and 'injected' in states['fake.broken']['reason']
    assert states['render.fp32']['state'] == OK
    assert r['versions']['torch'] == torch.__version__ and r['devices'][0]['device'] == 'cpu'


# ------------------------------------------------------------------ Apple MPS

def test_mps_device_choice(monkeypatch):
    from explorer.engine import device as dev
    from explorer.engine.capabilities import dtype_supported
    from explorer.errors import UserError
    monkeypatch.setattr(dev, 'mps_available', lambda: False)
    with pytest.raises(UserError, match='--device mps given but Apple MPS is not available'):
        dev.pick_device('mps')
    monkeypatch.setattr(dev.torch.cuda, 'is_available', lambda: False)
    assert dev.pick_device(None).type == 'cpu'
    monkeypatch.setattr(dev, 'mps_available', lambda: True)
    assert dev.pick_device(None).type == 'mps' and dev.pick_device('mps').type == 'mps'
    assert dev.device_name(torch.device('mps')) == 'GPU: Apple MPS'
    assert dtype_supported('fp32', 'mps') and not dtype_supported('bf16', 'mps')
    assert not dtype_supported('fp16', 'mps')
    assert 'mps' in selfcheck.CHECKED_DEVICE_TYPES
