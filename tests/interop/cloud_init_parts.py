"""Runs Debian's cloud-init UserDataProcessor over user-data files.

Usage: python3 cloud_init_parts.py FILE...  (with PYTHONPATH at the
unpacked package's dist-packages). Prints one JSON line per file: the parts
cloud-init attaches, each {"content_type", "filename", "payload" (base64)},
walked as cloudinit.handlers.walk walks them, or {"error": ...} when
processing raises.
"""
import base64
import json
import sys
import tempfile

from cloudinit import handlers, helpers, util
from cloudinit.user_data import UserDataProcessor

paths = helpers.Paths({"cloud_dir": tempfile.mkdtemp()})
for fn in sys.argv[1:]:
    with open(fn, "rb") as f:
        blob = f.read()
    try:
        msg = UserDataProcessor(paths).process(blob)
    except Exception as e:  # what cloud-init's init stage would die of
        print(json.dumps({"file": fn, "error": type(e).__name__}))
        continue
    parts = []
    for part in msg.walk():
        if part.get_content_maintype() == "multipart":
            continue
        payload = util.fully_decoded_payload(part)
        if isinstance(payload, str):
            payload = payload.encode("utf-8", "surrogateescape")
        parts.append({
            "content_type": part.get_content_type(),
            "filename": part.get_filename(),
            "payload": base64.b64encode(payload or b"").decode(),
        })
    print(json.dumps({"file": fn, "parts": parts}))
