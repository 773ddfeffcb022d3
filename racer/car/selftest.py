"""``python3 -m racer.car.selftest BUNDLE``: verify a bundle and run its golden self-test.

Meant for the car after a copy (``racer deploy`` runs it over ssh): checks the checksums and the
metadata with :func:`racer.car.bundle.load_bundle`, then runs ``golden.npz`` on every engine
installed (or the ones named with ``--backend``). Prints one summary line per engine; a failure
prints one ``racer: error:`` line and exits with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from racer.car.backends import BACKENDS, available_backends
from racer.car.bundle import load_bundle
from racer.errors import RacerError


def main(argv: list[str] | None = None) -> int:
    """Run the self-test; returns the exit status (0 ok, 2 failed)."""
    parser = argparse.ArgumentParser(
        prog="python3 -m racer.car.selftest", description="Verify a racer bundle on this machine."
    )
    parser.add_argument("bundle", help="bundle folder or .tar.gz")
    parser.add_argument(
        "--backend",
        action="append",
        choices=BACKENDS,
        help="engine to test (repeat for several; default: every installed engine)",
    )
    args = parser.parse_args(argv)
    try:
        with load_bundle(args.bundle) as bundle:
            names = args.backend or available_backends()
            if not args.backend and bundle.has_int8 and "openvino" in names:
                names.append("openvino_int8")
            if not names:
                raise RacerError(
                    "no inference engine installed; install one with: pip install onnxruntime"
                )
            print(f"bundle {args.bundle}: checksums ok ({len(bundle.metadata['files'])} files)")
            for name in names:
                print(bundle.self_test(name).summary())
    except RacerError as exc:
        if os.environ.get("RACER_DEBUG") == "1":
            raise
        print(f"racer: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
