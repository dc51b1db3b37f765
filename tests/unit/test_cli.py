from pathlib import Path

from typer.testing import CliRunner

from slabdb.cli.main import app


def test_demo_ingests_and_queries(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    result = CliRunner().invoke(
        app, ["demo", "--embedded", "--data", str(data), "--records", "2000", "--dimension", "16"]
    )
    assert result.exit_code == 0, result.output
    assert "records: 2,000" in result.output
    listed = CliRunner().invoke(app, ["indexes", "--data", str(data)])
    assert listed.exit_code == 0 and "demo" in listed.output and "2,000" in listed.output
    compacted = CliRunner().invoke(app, ["compact", "demo", "--data", str(data)])
    assert compacted.exit_code == 0, compacted.output
