"""The deployment guide's moving parts (operations issue, item 6): docs/ENVIRONMENT.md is what the
settings model generates, every setting says what it does, and the service files start `serve`."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from settings import Settings
from wiring.environment import ENVIRONMENT_DOC, REGENERATE, environment_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_environment_reference_matches_the_settings_model():
    written = ENVIRONMENT_DOC.read_text(encoding="utf-8") if ENVIRONMENT_DOC.exists() else ""
    assert written == environment_markdown(), (
        f"docs/ENVIRONMENT.md differs from the settings model: regenerate it with `{REGENERATE}`")


def test_every_setting_is_described_and_every_secret_marked():
    undescribed = [name for name, field in Settings.model_fields.items() if not (field.description or "").strip()]
    assert undescribed == [], f"settings without a description: {undescribed}"
    table = environment_markdown()
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "GORGIAS_API_KEY", "PSEUDONYM_SECRET", "METRICS_TOKEN"):
        row = next(line for line in table.splitlines() if line.startswith(f"| `{name}` |"))
        assert "| yes |" in row, row
    assert "| `PORT` | integer | `3000` |  |" in table


def test_the_cli_command_writes_the_file(tmp_path):
    out = tmp_path / "ENVIRONMENT.md"
    done = subprocess.run([sys.executable, "app.py", "settings", "--markdown", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8") == environment_markdown()


def test_service_files_start_serve():
    unit = (ROOT / "deploy" / "customer-intel-bot.service").read_text(encoding="utf-8")
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert exec_start.endswith("app.py serve --host 127.0.0.1") and "EnvironmentFile=" in unit
    procfile = (ROOT / "Procfile").read_text(encoding="utf-8").strip().splitlines()
    assert procfile == ["web: python app.py serve --host 0.0.0.0"]
    assert "[`deploy/customer-intel-bot.service`]" in (ROOT / "docs" / "DEPLOYMENT.md").read_text(encoding="utf-8")
