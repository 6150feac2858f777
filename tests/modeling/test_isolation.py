import subprocess
import sys


def test_modeling_never_imports_django():
    """Importing every modeling module in a fresh interpreter leaves django out of sys.modules."""
    code = (
        "import importlib, pkgutil, sys, modeling\n"
        "for m in pkgutil.iter_modules(modeling.__path__):\n"
        "    importlib.import_module('modeling.' + m.name)\n"
        "assert 'django' not in sys.modules, sorted(k for k in sys.modules if k.startswith('django'))\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
