"""`python -m bench [name ...]`: run benchmarks, each printing its figures beside a baseline."""

from __future__ import annotations

import argparse

from bench import api, app, hostile, ledger, payments, policy, pricebook, quotes, simulator, startup, typos

BENCHMARKS = {
    "pricebook": pricebook.run,
    "hostile": hostile.run,
    "quotes": quotes.run,
    "policy": policy.run,
    "ledger": ledger.run,
    "payments": payments.run,
    "simulator": simulator.run,
    "startup": startup.run,
    "app": app.run,
    "typos": typos.run,
    "api": api.run,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, []], help="benchmarks to run (default: all)")
    args = parser.parse_args()
    for name in args.names or BENCHMARKS:
        BENCHMARKS[name]()
        print()


if __name__ == "__main__":
    main()
