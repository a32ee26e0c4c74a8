"""`callvault/cli.py` registers every command group; no module of callvault imports it back (no import cycles)."""
import ast
from pathlib import Path

import callvault

PACKAGE = Path(callvault.__file__).resolve().parent


def _imported_modules(path: Path):
    """Dotted names of the callvault modules a file imports, relative imports resolved."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1]) if node.level else ""
            name = ".".join(part for part in (base, node.module) if part)
            yield name
            yield from (f"{name}.{alias.name}" for alias in node.names)


def test_no_module_imports_the_cli_registry():
    offenders = [str(path.relative_to(PACKAGE.parent)) for path in sorted(PACKAGE.rglob("*.py"))
                 if path.name != "__init__.py" or path.parent != PACKAGE
                 if "callvault.cli" in set(_imported_modules(path))]
    assert offenders == []


def test_cli_support_imports_no_feature():
    imported = {name for name in _imported_modules(PACKAGE / "cli_support.py") if name.startswith("callvault")}
    assert imported == set()


def test_every_command_group_is_registered(app):
    assert {"users", "keys", "demo", "exports", "transcripts", "webhooks", "fathom", "search", "calendars",
            "watch-channels", "bots"} <= set(app.cli.commands)
