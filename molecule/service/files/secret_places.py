# Reads a secret on standard input and reports, as JSON, where it is on this
# host: in the echo-api daemon's environment (it should be), in any process's
# command line or in the unit file (it should not); with the daemon's user and
# command line and the modes of its env file and directory.
import grp
import json
import os
import pwd
import stat
import subprocess
import sys

secret = sys.stdin.read().strip().encode()
pid = subprocess.check_output(["systemctl", "show", "--property", "MainPID", "--value", "echo-api"], text=True).strip()
with open(f"/proc/{pid}/environ", "rb") as handle:
    environment = handle.read().split(b"\0")
with open(f"/proc/{pid}/cmdline", "rb") as handle:
    args = handle.read().rstrip(b"\0").replace(b"\0", b" ").decode()
command_lines = []
for entry in os.listdir("/proc"):
    if entry.isdigit():
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                command_lines.append(handle.read())
        except OSError:
            pass  # the process ended meanwhile
with open("/etc/systemd/system/echo-api.service", "rb") as handle:
    unit = handle.read()


def owner_mode(path):
    info = os.stat(path)
    return f"{stat.S_IMODE(info.st_mode):o} {pwd.getpwuid(info.st_uid).pw_name} {grp.getgrgid(info.st_gid).gr_name}"


print(json.dumps({
    "user": pwd.getpwuid(os.stat(f"/proc/{pid}").st_uid).pw_name,
    "args": args,
    "in_environment": b"API_TOKEN=" + secret in environment,
    "in_a_command_line": any(secret in line for line in command_lines),
    "in_the_unit": secret in unit,
    "env_file": owner_mode("/etc/mlops-mlflow/env/echo-api.env"),
    "env_dir": owner_mode("/etc/mlops-mlflow/env"),
}))
