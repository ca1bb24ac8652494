#!/usr/bin/env python3
"""Runs the real pygrub (Xen 4.17, Debian xen-utils-4.17) on one config file
and prints what it makes of it as JSON: its entries and the entry, kernel,
ramdisk and args it would boot.

pygrub's own code does the work: the script is loaded as a module, and its
Grub class and run_grub function are called with a stand-in filesystem that
holds the config at the path pygrub looks for it. Nothing of pygrub is
copied here.

usage: pygrub_menu.py PYGRUB FORMAT CONFIG [ENTRY]
  FORMAT: grub (menu.lst), grub2 (grub.cfg) or extlinux
"""
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys

pygrub_path, fmt, config = sys.argv[1:4]
entry = sys.argv[4] if len(sys.argv) > 4 else None
libdir = os.path.join(os.path.dirname(os.path.dirname(pygrub_path)), "lib", "python")
sys.path.insert(0, libdir)
logging.disable(logging.CRITICAL)

loader = importlib.machinery.SourceFileLoader("pygrub_under_test", pygrub_path)
spec = importlib.util.spec_from_loader("pygrub_under_test", loader)
pygrub = importlib.util.module_from_spec(spec)
loader.exec_module(pygrub)

where = {"grub": "/boot/grub/menu.lst", "grub2": "/boot/grub/grub.cfg",
         "extlinux": "/boot/extlinux/extlinux.conf"}[fmt]
with open(config, "rb") as f:
    data = f.read()


class File:
    def __init__(self, data):
        self.data = data

    def read(self, size, offset=0):
        return self.data[offset:offset + size]


class FakeFs:
    """What pygrub asks of xenfsimage: file_exists and open_file."""

    def file_exists(self, path):
        return path == where

    def open_file(self, path):
        if path != where:
            raise IOError("no such file")
        return File(data)


fs = FakeFs()
# run_grub reads these module globals (set by pygrub's __main__ normally).
pygrub.list_entries = False
pygrub.interactive = False
sys.stderr = open(os.devnull, "w")
try:
    g = pygrub.Grub(config, fs)
except BaseException as e:  # pygrub's parser raised: it would try the next partition
    sys.stdout.write(json.dumps({"parse_error": "%s: %s" % (type(e).__name__, e)}))
    sys.exit(0)
images = []
for img in g.cf.images:
    images.append({
        "title": img.title,
        "kernel": img.kernel[1] if img.kernel else None,
        "args": img.args,
        "initrd": img.initrd[1] if img.initrd else None,
    })
out = {"images": images}
try:
    chosen = pygrub.run_grub(config, entry, fs, "")
    sel = pygrub.sel
    out["selected"] = {"index": sel, "kernel": chosen["kernel"], "ramdisk": chosen["ramdisk"], "args": chosen["args"]}
except BaseException as e:  # pygrub raises or exits on bad configs
    out["error"] = "%s: %s" % (type(e).__name__, e)
sys.stdout.write(json.dumps(out))
