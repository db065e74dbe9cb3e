"""The service never imports evaluation code (imports point app -> evaluation -> index, STYLE.md)."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICE_PACKAGES = ("app", "catalogue", "index", "models", "render")
ALLOWED = {"app/cli.py"}  # the CLI wires evaluation runs; the service (app.main) never imports it


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_no_service_module_imports_evaluation_even_lazily():
    offenders = sorted(str(p.relative_to(ROOT)) for package in SERVICE_PACKAGES for p in (ROOT / package).rglob("*.py")
                       if str(p.relative_to(ROOT)) not in ALLOWED
                       and any(m == "evaluation" or m.startswith("evaluation.") for m in _imported_modules(p)))
    assert offenders == []


def _printed_lines(code: str) -> list[str]:
    """The lines `code` prints, run by a fresh Python with only the repository on its path."""
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}).stdout.split("\n")


def test_loading_the_service_leaves_evaluation_unimported():
    code = ("import pkgutil, importlib, sys, app.main, app.deps, app.scratch, index\n"
            "for m in pkgutil.iter_modules(index.__path__): importlib.import_module('index.' + m.name)\n"
            "print(sorted(n for n in sys.modules if n.split('.')[0] == 'evaluation'))\n"
            "print('index.refine' in sys.modules)")
    out = _printed_lines(code)
    assert out[:2] == ["[]", "True"]


def test_finding_a_trained_embedders_folder_imports_no_training_code(tmp_path):
    """The service resolves the adapter's, the scratch CNN's and the fine-tuned network's folders on
    start-up; that must not import their training modules (STYLE.md: the runtime never imports training)."""
    code = ("import sys\nfrom app.settings import Settings\nfrom app.adapter import adapter_dir\n"
            "from app.finetune import finetuned_dir\nfrom app.scratch import scratch_dir\n"
            f"settings = Settings(data_dir={str(tmp_path)!r}, _env_file=None)\n"
            "print([f(settings).name for f in (adapter_dir, scratch_dir, finetuned_dir)])\n"
            "training = ('models.train', 'models.train_adapter', 'models.finetune')\n"
            "print(sorted(n for n in sys.modules if n in training))")
    out = _printed_lines(code)
    assert out[:2] == ["['lite0_adapter', 'scratch_cnn', 'lite0_finetuned']", "[]"]
