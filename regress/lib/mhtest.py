"""Small shared bits for the Python script tests: TAP-style checks."""
import os
import sys

TOP = os.environ.get("MH_TOP") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "../.."))
BUILD = os.environ.get("MH_BUILD") or os.path.join(TOP, "obj")
_fails = 0


def check(cond, what, detail=None):
    """Print "ok - what" or "not ok - what" (and the detail on failure)."""
    global _fails
    print(("ok - " if cond else "not ok - ") + what, flush=True)
    if not cond:
        _fails += 1
        if detail is not None:
            print("#   " + str(detail).replace("\n", "\n#   "), flush=True)
    return cond


def done():
    sys.exit(1 if _fails else 0)


def skip(why):
    print("skip: " + why, flush=True)
    sys.exit(77)
