# Prints the interpreter's version and the version of uv installed in the
# venv given as the first argument ("" when there is none), as JSON.
import glob, json, sys
import importlib.metadata as metadata

site = glob.glob(sys.argv[1] + "/lib/python*/site-packages")
uv = [d.version for d in metadata.distributions(path=site) if (d.metadata["Name"] or "").lower() == "uv"]
print(json.dumps({"python": "%d.%d.%d" % sys.version_info[:3], "uv": uv[0] if uv else ""}))
