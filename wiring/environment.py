"""docs/ENVIRONMENT.md, generated from the Settings model (`python app.py settings --markdown
--out docs/ENVIRONMENT.md`), so the reference cannot drift from what the code reads."""
from __future__ import annotations

import types
import typing
from pathlib import Path

from pydantic import SecretStr
from pydantic_core import PydanticUndefined

from settings import Settings

ENVIRONMENT_DOC = Path(__file__).resolve().parents[1] / "docs" / "ENVIRONMENT.md"
REGENERATE = "python app.py settings --markdown --out docs/ENVIRONMENT.md"

HEADER = f"""# Environment reference

Every variable the bot reads (from the environment or a `.env` file in the working directory),
generated from `settings.py`: do not edit by hand; regenerate with `{REGENERATE}`.
Secrets are `SecretStr`: never logged, never shown by `repr`. How configuration works (validation,
lists, `.env`) is in [CONFIGURATION.md](CONFIGURATION.md).

| variable | type | default | secret | description |
|---|---|---|---|---|
"""


def _type_name(annotation: object) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _type_name(args[0])
    if origin is typing.Annotated or origin is list:
        return "comma-separated list"
    return {str: "string", int: "integer", float: "number", bool: "boolean", SecretStr: "string",
            Path: "path"}.get(annotation, str(annotation))


def _default(field) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "(required)"
    else:
        value = field.default
    if value is None:
        return "(unset)"
    if isinstance(value, (list, str)) and not value:
        return "(empty)"
    if isinstance(value, list):
        return f"`{','.join(value)}`"
    if isinstance(value, Path):
        # The default depends on who runs it: show it the way a person would write it.
        home = Path.home()
        value = "~/" + str(value.relative_to(home)) if value.is_relative_to(home) else value
    return f"`{value}`"


def _is_secret(annotation: object) -> bool:
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


def environment_markdown() -> str:
    rows = []
    for name, field in Settings.model_fields.items():
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{name.upper()}` | {_type_name(field.annotation)} | {_default(field)} | "
                    f"{'yes' if _is_secret(field.annotation) else ''} | {description} |")
    return HEADER + "\n".join(rows) + "\n"
