"""The mutation score per module, from ``mutmut results --all true`` on standard input."""

import collections
import sys


def module_of(mutant: str) -> str:
    """``engine.optim.xǁSGDǁupdate__mutmut_3`` and ``engine.optim.x_make_optimizer__mutmut_1``
    both belong to ``engine.optim``."""
    return mutant.split(".x_")[0].split(".xǁ")[0]


def main() -> None:
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for line in sys.stdin:
        name, _, status = line.strip().rpartition(": ")
        if name:
            counts[module_of(name)][status] += 1
    header = ("module", "mutants", "killed", "survived", "no tests", "score")
    print("{:28} {:>7} {:>7} {:>8} {:>8} {:>6}".format(*header))
    total: collections.Counter = collections.Counter()
    rows = [(m, c) for m, c in sorted(counts.items()) if c["not checked"] < sum(c.values())]
    for module, c in [*rows, ("all", None)]:
        if c is None:
            c = total
        else:
            total.update(c)
        n, killed = sum(c.values()), c["killed"] + c["timeout"]
        score = f"{killed / n:.1%}" if n else "-"
        print(f"{module:28} {n:7} {killed:7} {c['survived']:8} {c['no tests']:8} {score:>6}")


if __name__ == "__main__":
    main()
