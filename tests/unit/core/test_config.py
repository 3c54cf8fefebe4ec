from pathlib import Path

import pytest

from elms.core.config import Settings


def test_services_are_reached_on_their_configured_ports_unless_a_url_is_given(tmp_path: Path):
    settings = Settings(data_dir=tmp_path, customer_port=9181, loan_url="http://loans.internal")
    urls = settings.service_urls()
    assert urls["customer"] == "http://127.0.0.1:9181"
    assert urls["loan"] == "http://loans.internal"
    assert urls["gateway"] == "http://127.0.0.1:8080"


def test_settings_come_from_elms_prefixed_environment_variables(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("ELMS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ELMS_PAYMENT_HORIZON_MONTHS", "5")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.payment_horizon_months == 5


def test_a_setting_that_loan_products_replaced_is_refused_not_ignored(monkeypatch, tmp_path):
    monkeypatch.setenv("ELMS_PAYMENT_PROCESSING_FEES", '{"CREDIT_CARD": "2.50"}')
    with pytest.raises(ValueError, match="ELMS_PAYMENT_PROCESSING_FEES: loan terms"):
        Settings(data_dir=tmp_path)
