"""engine, training and kernels never import Qt, and no module imports itself in a cycle
(DESIGN.md: dependency arrows point one way)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QT = ('PyQt6', 'PySide6', 'PyQt5', 'PySide2', 'pyqtgraph', 'qtpy')
HEADLESS = [ROOT / 'explorer' / 'engine', ROOT / 'explorer' / 'training', ROOT / 'kernels']


def imported_modules(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_no_qt_imports_in_headless_packages():
    offenders = []
    for base in HEADLESS:
        for f in base.rglob('*.py'):
            for mod in imported_modules(f):
                if mod.split('.')[0] in QT:
                    offenders.append(f'{f.relative_to(ROOT)} imports {mod}')
    assert not offenders, offenders


def test_headless_packages_import_without_loading_qt():
    mods = []
    for base in HEADLESS:
        for f in base.rglob('*.py'):
            rel = f.relative_to(ROOT).with_suffix('')
            if rel.name.startswith('triton_'):
                continue  # need Triton; checked statically above
            mods.append('.'.join(rel.parts).removesuffix('.__init__'))
    code = ('import sys, importlib\n'
            f'for m in {mods!r}:\n'
            '    importlib.import_module(m)\n'
            f'bad = [m for m in sys.modules if m.split(".")[0] in {QT!r}]\n'
            'print(bad); sys.exit(1 if bad else 0)\n')
    r = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_no_import_cycles():
    """No module of explorer/ or kernels/ imports itself through others (lazy imports count;
    so do the reference ops' on-demand loads of their fast twins, kernels._dispatch.fast_module)."""
    grimp = pytest.importorskip('grimp')
    import re
    graph = grimp.build_graph('explorer', 'kernels', cache_dir=None)
    for f in (ROOT / 'kernels').glob('*.py'):
        for name in re.findall(r"fast_module\(impl, '(\w+)'", f.read_text()):
            graph.add_import(importer=f'kernels.{f.stem}', imported=f'kernels.{name}')
    cycles = []
    for a in sorted(graph.modules):
        for b in graph.find_modules_directly_imported_by(a):
            chain = graph.find_shortest_chain(importer=b, imported=a)
            if chain:
                cycles.append(' -> '.join((a,) + tuple(chain)))
    assert not cycles, cycles
