# Copyright: mlops.mlflow contributors
# Apache License 2.0 (see galaxy.yml)
"""The connection options that mlflow_user, mlflow_permission and
mlflow_auth_sync share (module_utils/mlflow_auth.py, CONNECTION_SPEC)."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  tracking_uri:
    description:
      - Base URL of the MLflow server, without a path. Best C(http://127.0.0.1:5000) on the MLflow host itself
        (run the task there), which bypasses the proxy in front of it.
    type: str
    default: http://127.0.0.1:5000
  admin_username:
    description: An MLflow admin, sent with HTTP basic auth on every request.
    type: str
    required: true
  admin_password:
    description: Password of I(admin_username).
    type: str
    required: true
  validate_certs:
    description: Check the server's TLS certificate (an C(https) I(tracking_uri)).
    type: bool
    default: true
  ca_path:
    description: CA bundle that signs the server's certificate, when not one the system trusts.
    type: path
  timeout:
    description: Seconds to wait for each answer of MLflow.
    type: int
    default: 30
  unix_socket:
    description:
      - Path of the Unix socket MLflow listens on (mlops.mlflow.server's C(server_socket)); requests go to it
        instead of the host and port of I(tracking_uri), whose host is still sent as the Host header (then best
        C(http://localhost)). Run the task on the MLflow host, as a user allowed into the socket's directory.
    type: path
"""
