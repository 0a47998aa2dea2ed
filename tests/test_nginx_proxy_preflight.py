"""Bad input to mlops.mlflow.nginx_proxy fails in preflight, naming the variable
and the value, before anything is installed."""
import pytest

DEBIAN_FACTS = {
    "os_family": "Debian",
    "distribution": "Debian",
    "distribution_major_version": "12",
    "all_ipv6_addresses": [],
}
USERS = [{"name": "mlflow", "password": "a-long-enough-test-password"}]


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (
            {"nginx_proxy_tls_mode": "files"},
            "nginx_proxy_tls_mode=files needs both nginx_proxy_tls_cert_path and nginx_proxy_tls_key_path",
        ),
        (
            {"nginx_proxy_tls_mode": "files", "nginx_proxy_tls_cert_path": "/etc/ssl/certs/x.pem"},
            "got nginx_proxy_tls_cert_path='/etc/ssl/certs/x.pem' and nginx_proxy_tls_key_path=''",
        ),
        ({"nginx_proxy_tls_mode": "ftp"}, "value of nginx_proxy_tls_mode must be one of: off, self_signed, files, acme, got: ftp"),
        (
            {"nginx_proxy_tls_mode": "acme", "nginx_proxy_server_names": ["mlflow.example.com", "localhost"]},
            'nginx_proxy_tls_mode=acme needs nginx_proxy_server_names that are DNS names pointing at this host',
        ),
        ({"nginx_proxy_tls_mode": "acme", "nginx_proxy_server_names": ["*.example.com"]}, 'got nginx_proxy_server_names=["*.example.com"]'),
        ({"nginx_proxy_tls_mode": "acme", "nginx_proxy_server_names": ["mlflow"]}, 'got nginx_proxy_server_names=["mlflow"]'),
        (
            {"nginx_proxy_tls_mode": "acme", "nginx_proxy_server_names": ["mlflow.example.com"],
             "nginx_proxy_acme_directory_url": "http://acme.example/dir"},
            "nginx_proxy_acme_directory_url='http://acme.example/dir'",
        ),
        ({"nginx_proxy_users": [{"password": "no-name-given"}]}, "entry 0 of nginx_proxy_users needs a name"),
        ({"nginx_proxy_users": [{"name": "ali:ce"}]}, "got name='ali:ce'"),
        ({"nginx_proxy_users": [{"name": "alice", "state": "disabled"}]},
         "value of state must be one of: present, absent, got: disabled found in nginx_proxy_users"),
        (
            {"nginx_proxy_users": [{"name": "alice", "state": "absent"}]},
            "nginx_proxy_users must hold at least one user with state present",
        ),
        ({"nginx_proxy_users": []}, "nginx_proxy_users must hold at least one user with state present"),
        ({"nginx_proxy_server_names": ["mlflow example.com"]}, "nginx_proxy_server_names must be a non-empty list of host names"),
        ({"nginx_proxy_server_names": ["https://mlflow.example.com"]}, "got [\"https://mlflow.example.com\"]"),
        ({"nginx_proxy_upstream": "127.0.0.1:5000"}, "nginx_proxy_upstream must look like http://HOST:PORT"),
        ({"nginx_proxy_upstream": "http://127.0.0.1:5000/mlflow"}, "got 'http://127.0.0.1:5000/mlflow'"),
        ({"nginx_proxy_upstream": "unix:run/mlflow.sock"}, "or unix:/PATH (an absolute socket path)"),
        ({"nginx_proxy_rate_limit": "fast"}, "nginx_proxy_rate_limit must be an nginx rate"),
        ({"nginx_proxy_artifact_max_body_size": "5 GB"}, "nginx_proxy_artifact_max_body_size must be an nginx size"),
        ({"nginx_proxy_https_port": 70000}, "nginx_proxy_https_port must be a port number"),
        ({"nginx_proxy_blocked_locations": ["ajax-api/3.0/jobs"]}, "nginx_proxy_blocked_locations must be path prefixes"),
        ({"nginx_proxy_site_name": "../default"}, "got nginx_proxy_site_name='../default'"),
        ({"nginx_proxy_auth_realm": 'My "MLflow"'}, "nginx_proxy_auth_realm plain text"),
        ({"nginx_proxy_auth_realm": "My\\MLflow"}, "nginx_proxy_auth_realm plain text"),
        ({"nginx_proxy_acme_webroot": "/usr/share/nginx"}, "not a system directory (/, /etc, /usr"),
    ],
)
def test_bad_input_fails_in_preflight(run_role, variables, expected):
    result = run_role("nginx_proxy", dict({"nginx_proxy_users": USERS}, **variables), facts=DEBIAN_FACTS)
    assert result.rc != 0, result.output
    assert expected in result.output, result.output
    # Nothing past preflight ran.
    assert "Install nginx" not in result.output


@pytest.mark.parametrize(
    ("users", "expected"),
    [
        (
            [{"name": "alice", "password": "short-pass-15ch"}],
            "nginx_proxy_users: the password given for user 'alice' (entry 0) is shorter than 16 characters",
        ),
        (
            [{"name": "mlflow"}, {"name": "bob", "password": "b" * 60 + "-too-long-for-bcrypt"}],
            "nginx_proxy_users: the password given for user 'bob' (entry 1) is longer than 72 bytes",
        ),
        (
            [{"name": "alice", "password": "long-enough-password-1"}, {"name": "alice", "password": "long-enough-password-2"}],
            'each user may appear once in nginx_proxy_users; got ["alice"] more than once',
        ),
    ],
)
def test_bad_passwords_are_refused_without_showing_them(run_role, refused, users, expected):
    result = run_role("nginx_proxy", {"nginx_proxy_users": users}, facts=DEBIAN_FACTS)
    passwords = [u["password"] for u in users if "password" in u]
    refused(result, [expected], not_shown=["Install nginx", *passwords])


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"nginx_proxy_htpasswd_bcrypt_cost": 3}, "nginx_proxy_htpasswd_bcrypt_cost must be a bcrypt cost from 4 to 31"),
        ({"nginx_proxy_htpasswd_bcrypt_cost": 32}, "got nginx_proxy_htpasswd_bcrypt_cost=32"),
        ({"nginx_proxy_password_length": 100}, "nginx_proxy_password_length=100"),
        ({"nginx_proxy_cors_origins": ["*"]}, 'nginx_proxy_cors_origins must be a list of origins like https://app.example.com'),
        ({"nginx_proxy_cors_origins": ["https://app.example.com/ui"]}, 'got ["https://app.example.com/ui"]'),
    ],
)
def test_bad_hash_and_cors_settings_fail_in_preflight(run_role, refused, variables, expected):
    result = run_role("nginx_proxy", dict({"nginx_proxy_users": USERS}, **variables), facts=DEBIAN_FACTS)
    refused(result, [expected], not_shown=["Install nginx"])


def test_passwords_stay_out_of_failure_messages(run_role):
    users = [{"name": "alice", "password": "s3cret-in-a-bad-entry", "state": "gone"}]
    result = run_role("nginx_proxy", {"nginx_proxy_users": users}, facts=DEBIAN_FACTS)
    assert result.rc != 0, result.output
    assert "s3cret-in-a-bad-entry" not in result.output


def test_unsupported_os_family_fails_in_preflight(run_role):
    facts = dict(DEBIAN_FACTS, os_family="Plan9", distribution="Plan9")
    result = run_role("nginx_proxy", {"nginx_proxy_users": USERS}, facts=facts)
    assert result.rc != 0, result.output
    assert "ansible_facts['os_family']=Plan9" in result.output, result.output


@pytest.mark.parametrize(
    "tls",
    [
        {"nginx_proxy_tls_mode": "self_signed", "nginx_proxy_server_names": ["mlflow.example.com", "*.mlflow.example.com"]},
        {"nginx_proxy_tls_mode": "acme", "nginx_proxy_server_names": ["mlflow.example.com", "ml.example.org"],
         "nginx_proxy_acme_email": "ops@example.com", "nginx_proxy_acme_ca_bundle": "/etc/ssl/private-acme-ca.pem"},
    ],
    ids=["self_signed", "acme"],
)
def test_good_input_passes_preflight(run_role, tls):
    variables = dict({"nginx_proxy_users": USERS, "nginx_proxy_upstream": "http://127.0.0.1:5000"}, **tls)
    result = run_role("nginx_proxy", variables, facts=DEBIAN_FACTS)
    # The preflight only (run_role): it passed.
    assert result.rc == 0, result.output
