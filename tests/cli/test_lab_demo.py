import pytest

from causalphys.cli import lab_demo as demo


def test_demo_separates_association_from_causation(capsys):
    r = demo.main(["--n", "8000", "--seed", "1"])
    out = capsys.readouterr().out
    assert "Does the scanner cause the label?" in out and "Counterfactual" in out
    assert r["label_given_scanner_naive"] > 0.15  # the confounded association
    assert r["label_do_scanner"] == pytest.approx(0.0, abs=0.02)
    assert r["label_backdoor_lab"] == pytest.approx(0.0, abs=0.03)
    assert r["signal_naive"] > 1.5
    assert r["signal_backdoor"] == pytest.approx(1.0, abs=0.05)
    assert r["cf_signal_change_scanner1_to_0"] == pytest.approx(-1.0, abs=1e-9)
    assert r["cf_signal_change_spread"] < 1e-9
    assert r["cf_labels_unchanged"] == 1.0
