"""Run on a client as root (the system's python3):

    client_check.py '{"users": [{"user": "ana", "env_manager": "local", "sets": [...]}, ...],
                      "no_credentials_user": "carol", "experiment": "...",
                      "tensorboard": {"logdir": "/srv/tensorboard", "tag": "loss", "values": [...]}}'

Everything a client host must show, in one process, for each OS user of
"users" (at the same time, one thread each): the user's login shell has the
tracking settings (and no password in its environment, no insecure flag);
the user's ~/.mlflow/credentials is 0600 and theirs; the driver
(examples/run_many.py, mlflow.projects.run with synchronous=False, the
user's env_manager) run as that user from a login shell finishes every run.
With "tensorboard": the user writes a TensorBoard event file with one scalar
per step into a new run directory of the shared log disk (before the
driver, so that TensorBoard finds it meanwhile), and after the driver
TensorBoard on the server answers, through nginx, 401 without credentials
and the values written with the user's credentials. Once per host: the user
without credentials gets 401 and has no credentials file. Prints one JSON
object: {"users": {user: {...}}, "no_credentials_file", "no_credentials_probe"}."""
import base64
import configparser
import json
import os
import pwd
import shlex
import socket
import ssl
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

DRIVER = "/opt/mlops-examples/run_many.py"
PROBE = """
from mlflow.tracking import MlflowClient
try:
    MlflowClient().search_experiments(max_results=1)
    print("ANSWERED")
except Exception as error:
    print(type(error).__name__, str(error)[:300])
"""

# A TensorBoard event file written with the standard library only (the
# clients have no TensorBoard, and training code would use its own writer):
# TFRecord framing (length, masked CRC-32C of it, data, masked CRC-32C of the
# data) around Event protobufs, the first a file_version, then one per step
# with a Summary.Value simple_value. TensorBoard on the server is the oracle:
# it shows the values only if it parsed the file.
#     python -c WRITER RUN_DIR TAG VALUE...
WRITER = """
import os, socket, struct, sys, time
TABLE = []
for n in range(256):
    for _ in range(8):
        n = (n >> 1) ^ 0x82F63B78 if n & 1 else n >> 1
    TABLE.append(n)
def masked_crc(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc = TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)
def varint(n):
    out = b""
    while n > 0x7F:
        out, n = out + bytes([n & 0x7F | 0x80]), n >> 7
    return out + bytes([n])
def field(number, payload):
    return varint(number << 3 | 2) + varint(len(payload)) + payload
def record(data):
    header = struct.pack("<Q", len(data))
    return header + masked_crc(header) + data + masked_crc(data)
def event(step, wall_time, what):
    return b"\\x09" + struct.pack("<d", wall_time) + b"\\x10" + varint(step) + what
run_dir, tag, values = sys.argv[1], sys.argv[2], [float(v) for v in sys.argv[3:]]
os.makedirs(run_dir)
now = time.time()
path = os.path.join(run_dir, "events.out.tfevents.%d.%s" % (now, socket.gethostname()))
with open(path, "wb") as stream:
    stream.write(record(event(0, now, field(3, b"brain.Event:2"))))
    for step, value in enumerate(values):
        value_proto = field(1, tag.encode()) + b"\\x15" + struct.pack("<f", value)
        stream.write(record(event(step, now + step, field(5, field(1, value_proto)))))
print(path)
"""


def login_shell(user, command, timeout=600):
    """The user's login shell: /etc/profile.d and /etc/environment's settings only."""
    return subprocess.run(["runuser", "-l", user, "-c", command], capture_output=True, text=True,
                          timeout=timeout, check=False)


def file_state(path):
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return {"mode": oct(stat.S_IMODE(info.st_mode)), "owner": pwd.getpwuid(info.st_uid).pw_name}


def user_check(user, config):
    """One OS user's settings, credentials file, TensorBoard event file, driver runs and TensorBoard answers."""
    out = {}
    env = login_shell(user["user"], "env")
    settings = dict(line.split("=", 1) for line in env.stdout.splitlines() if "=" in line)
    out["env"] = {k: v for k, v in settings.items() if k.startswith("MLFLOW_")}
    home = pwd.getpwnam(user["user"]).pw_dir
    out["mlflow_dir"] = file_state(home + "/.mlflow")
    out["credentials"] = file_state(home + "/.mlflow/credentials")
    tensorboard = dict(config["tensorboard"]) if config.get("tensorboard") else None
    if tensorboard:
        # A new run directory per check: a second verify finds only its own.
        tensorboard["run"] = f"{socket.gethostname()}-{user['user']}-{int(time.time())}"
        written = login_shell(user["user"], "python -c " + shlex.quote(WRITER) + " " + " ".join(
            shlex.quote(str(a)) for a in [tensorboard["logdir"] + "/" + tensorboard["run"], tensorboard["tag"],
                                          *tensorboard["values"]]))
        tensorboard["written"] = (written.stdout + written.stderr).strip()[-400:]
    sets = " ".join("--set " + ",".join(f"{k}={v}" for k, v in params.items()) for params in user["sets"])
    # env_manager uv: MLflow builds the project's environment with the uv of
    # the user's PATH (the role's wrapper) on the first run, from the index.
    env_manager = user.get("env_manager", "local")
    out["uv_command"] = login_shell(user["user"], "command -v uv").stdout.strip()
    driver = login_shell(user["user"], f"python {DRIVER} --experiment {config['experiment']} "
                                       f"--env-manager {env_manager} {sets}", timeout=1500)
    envs = os.path.join(home, ".mlflow", "envs")
    out["envs"] = sorted(os.listdir(envs)) if os.path.isdir(envs) else []
    out["driver_rc"] = driver.returncode
    # The driver's lines (the runs' own output goes to the same stdout).
    out["runs"] = [json.loads(line) for line in driver.stdout.splitlines() if line.startswith('{"run_id"')]
    if driver.returncode != 0:
        out["driver_stderr"] = driver.stderr[-3000:]
    if tensorboard:
        out["tensorboard"] = tensorboard_check(tensorboard, home, settings)
    return out


def main():
    config = json.loads(sys.argv[1])
    nocred = config["no_credentials_user"]
    out = {}
    # The users' drivers at the same time, as on a shared training machine.
    with ThreadPoolExecutor(max_workers=len(config["users"])) as pool:
        results = list(pool.map(lambda user: user_check(user, config), config["users"]))
    out["users"] = {user["user"]: result for user, result in zip(config["users"], results)}
    out["no_credentials_file"] = file_state(pwd.getpwnam(nocred).pw_dir + "/.mlflow/credentials")
    probe = login_shell(nocred, "python -c " + shlex.quote(PROBE))
    out["no_credentials_probe"] = (probe.stdout + probe.stderr).strip()[-400:]
    print(json.dumps(out))


def get(url, context, auth=None):
    """(status, body) of a GET, errors included."""
    request = urllib.request.Request(url, headers={"Authorization": auth} if auth else {})
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as answer:
            return answer.status, answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")[:300]


def tensorboard_check(config, home, settings):
    """Through nginx, as the server's users reach TensorBoard: 401 without
    credentials; the written values with the user's (polled: TensorBoard
    scans the log directory every few seconds)."""
    out = {"written": config["written"], "run": config["run"]}
    base = settings["MLFLOW_TRACKING_URI"].rstrip("/") + "/tensorboard"
    context = ssl.create_default_context(cafile=settings.get("MLFLOW_TRACKING_SERVER_CERT_PATH"))
    out["no_credentials"] = get(base + "/", context)[0]
    parser = configparser.ConfigParser()
    parser.read(home + "/.mlflow/credentials")
    section = parser["mlflow"]
    token = base64.b64encode(f"{section['mlflow_tracking_username']}:{section['mlflow_tracking_password']}".encode()).decode()
    query = urllib.parse.urlencode({"run": config["run"], "tag": config["tag"]})
    deadline = time.monotonic() + 90
    while True:
        status, body = get(f"{base}/data/plugin/scalars/scalars?{query}", context, "Basic " + token)
        try:
            points = json.loads(body) if status == 200 else None
        except ValueError:
            points = None
        if points or time.monotonic() > deadline:
            break
        time.sleep(1)
    out["status"] = status
    out["steps"] = [point[1] for point in points] if points else []
    out["values"] = [point[2] for point in points] if points else []
    if not points:
        out["body"] = body[:300]
    return out


if __name__ == "__main__":
    main()
