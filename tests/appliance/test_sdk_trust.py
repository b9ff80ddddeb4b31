"""The SDK's client verifies coderd with the CA bundle it is given, whatever the environment
says: requests lets REQUESTS_CA_BUNDLE override a session's own ``verify`` (psf/requests#3829),
and machines that set it for their own tools would have the client ignore the appliance CA
(a cluster test's writer failed so: "unable to get local issuer certificate")."""
from __future__ import annotations

from appliance.sdk.client import Client


def test_a_given_ca_bundle_wins_over_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    bundle = str(tmp_path / "appliance-ca.pem")
    client = Client("https://coder.example.internal", verify=bundle)
    settings = client.http.merge_environment_settings(client.url, {}, None, None, None)
    assert settings["verify"] == bundle
    # With no bundle given, the environment's choice stands (the system store's, or certifi).
    default = Client("https://coder.example.internal")
    assert default.http.merge_environment_settings(default.url, {}, None, None, None)["verify"] \
        == "/etc/ssl/certs/ca-certificates.crt"
