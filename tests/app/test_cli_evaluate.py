"""photo2cad evaluate's argument checks (the runs themselves are tested in tests/evaluation)."""

from app.cli import main


def test_unknown_sets_are_refused_with_one_line(capsys):
    assert main(["evaluate", "--sets", "synthetic,photos"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--sets takes synthetic and/or real" in err[0]
