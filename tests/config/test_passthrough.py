"""`signing = "passthrough"` parses, but check-config says it is not available yet."""

from __future__ import annotations

import pytest

from revocd.config import check_config, load_config
from revocd.errors import ConfigError
from tests.support.pki import make_ca


def test_passthrough_is_refused_by_check_config_with_the_way_out(tmp_path):
    make_ca("Upstream CA").write(tmp_path, "ca")
    config = tmp_path / "revocd.toml"
    config.write_text(
        '[[partner]]\nname = "acme"\n[[partner.issuer]]\nname = "acme-issuing"\n'
        'cert = "ca.pem"\nocsp = ["http://ocsp.acme.example/"]\nsigning = "passthrough"\n'
    )
    assert load_config(config).partners[0].issuers[0].signing.value == "passthrough"
    with pytest.raises(ConfigError) as error:
        check_config(config)
    message = str(error.value)
    assert "partner 'acme' issuer 'acme-issuing' signing" in message
    assert '"trusted" or "delegated"' in message
