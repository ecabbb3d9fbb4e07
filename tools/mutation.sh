#!/usr/bin/env bash
# Mutation testing of the engine and the GUI's Qt-free drawing math: every mutant mutmut makes
# of the modules listed under [tool.mutmut] in pyproject.toml is run against the tests that
# cover it (of tests/engine/ and tests/gui/test_geometry.py). Not part of CI: a full run takes
# about 45 minutes on one core of a busy machine. Needs mutmut 3: pip install "mutmut>=3.8,<4".
#
#   tools/mutation.sh                    # everything, then the score per module
#   tools/mutation.sh 'gui.geometry*'    # only the mutants whose names match
#   MUTATION_JOBS=2 tools/mutation.sh    # mutants tested in parallel (default 1)
#   mutmut results; mutmut show NAME     # afterwards: the survivors, and what each changed
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf mutants  # a fresh start: mutmut would otherwise keep verdicts from an earlier run
nice -n 10 mutmut run --max-children "${MUTATION_JOBS:-1}" "$@" >/dev/null
mutmut results --all true | python3 tools/mutation_score.py
