# Prints, as JSON, the interpreter's version, the version of uv installed in
# the venv given as the first argument ("" when there is none) and which of
# the Debian packages named after it are not installed (dpkg's database: no
# package cache is read, so a re-run skips apt when nothing is missing).
import glob, json, subprocess, sys
import importlib.metadata as metadata

site = glob.glob(sys.argv[1] + "/lib/python*/site-packages")
uv = [d.version for d in metadata.distributions(path=site) if (d.metadata["Name"] or "").lower() == "uv"]
missing = []
for package in sys.argv[2:]:
    status = subprocess.run(["dpkg-query", "--show", "--showformat=${db:Status-Status}", package],
                            capture_output=True, text=True, check=False)
    if status.returncode != 0 or status.stdout.strip() != "installed":
        missing.append(package)
print(json.dumps({"python": "%d.%d.%d" % sys.version_info[:3], "uv": uv[0] if uv else "", "missing": missing}))
