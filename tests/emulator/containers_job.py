"""The job of the emulator's Container Service tests (run as the "container" process).

Prints its environment, checks that XNAT_USER/XNAT_PASS log in to XNAT_HOST, lists the input
mount, tries to write into it, writes a report into the output mount and exits with the code
it is given.
"""

import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.request

parser = argparse.ArgumentParser()
parser.add_argument("--out", required=True)
parser.add_argument("--input", default="")
parser.add_argument("--flag", default="")
parser.add_argument("--message", default="")
parser.add_argument("--upload", default="")
parser.add_argument("--exit", type=int, default=0)
args, extra = parser.parse_known_args()

env = {k: v for k, v in os.environ.items()
       if k.startswith(("XNAT_", "MY_", "REMOTE_"))}
request = urllib.request.Request(os.environ["XNAT_HOST"] + "/data/auth")
creds = f"{os.environ['XNAT_USER']}:{os.environ['XNAT_PASS']}".encode()
request.add_header("Authorization", "Basic " + base64.b64encode(creds).decode())
try:
    with urllib.request.urlopen(request, timeout=10) as response:
        auth = [response.status, response.read().decode()]
except urllib.error.HTTPError as exc:
    auth = [exc.code, ""]
inputs = []
if args.input:
    for root, _, names in os.walk(args.input):
        inputs += sorted(os.path.relpath(os.path.join(root, n), args.input) for n in names)
    try:
        with open(os.path.join(args.input, "written-by-job"), "w") as f:
            f.write("x")
        input_writable = True
    except OSError:
        input_writable = False
else:
    input_writable = None
report = {"env": env, "auth": auth, "argv": sys.argv[1:], "flag": args.flag,
          "message": args.message, "inputs": inputs, "input_writable": input_writable,
          "upload": args.upload, "extra": extra, "cwd": os.getcwd()}
if args.upload:
    report["upload_bytes"] = open(args.upload, "rb").read().decode()
os.makedirs(os.path.join(args.out, "report"), exist_ok=True)
with open(os.path.join(args.out, "report", "job.json"), "w") as f:
    json.dump(report, f)
print(json.dumps(report))
print("job stderr line", file=sys.stderr)
sys.exit(args.exit)
