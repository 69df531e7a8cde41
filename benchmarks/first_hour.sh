#!/usr/bin/env bash
# A new user's first hour, replayed on a fresh clone (issue 19): quickstart twice, the README's Python,
# `encoders show`, publish the pair run, pull it by tag, convert a photo, Ctrl-C during the first step
# then --resume. Fails on any traceback, any misleading line, a dirty `git status`, or a quickstart
# over 300 MB. Prints what each step took.
#
#   benchmarks/first_hour.sh [WORKDIR]
#
# Environment:
#   FIRST_HOUR_VENV=1        make a new virtualenv and `pip install -e .` in it (what a new user does;
#                            ~80 s and 2.3 GB); default: use the current Python with PYTHONPATH=clone
#   QUICKSTART_ARGS="..."    extra quickstart flags for a shorter replay, e.g.
#                            "--encoder mobilenet-face --repo facezoo/effnet-face-v2 --pretrain-steps 4 --steps 6"
#                            (default: none, the real 10-minute quickstart)
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-$(mktemp -d -t facezoo-first-hour-XXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
LOGS="$WORK/logs"
mkdir -p "$LOGS"
export FACEZOO_HOME="$WORK/home" HF_HOME="$WORK/hf" KERAS_HOME="$WORK/keras"  # never the user's own
unset FACEZOO_HUB
failures=0

say() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

rm -rf "$WORK/facezoo"
git clone -q "$REPO" "$WORK/facezoo" || { echo "cannot clone $REPO"; exit 1; }
# Uncommitted work in the checkout this script belongs to is replayed too (a developer's pre-commit run).
(cd "$REPO" && git diff HEAD) | (cd "$WORK/facezoo" && git apply --allow-empty 2>/dev/null || true)
cd "$WORK/facezoo"

if [ -n "${FIRST_HOUR_VENV:-}" ]; then
    say "new virtualenv + pip install -e ."
    python -m venv "$WORK/venv" && . "$WORK/venv/bin/activate"
    start=$(date +%s)
    pip install -q -e . > "$LOGS/install.txt" 2>&1 || { tail "$LOGS/install.txt"; exit 1; }
    echo "installed in $(( $(date +%s) - start )) s"
    FACEZOO=(facezoo)
else
    export PYTHONPATH="$WORK/facezoo"
    FACEZOO=(python -m recipes.cli)
fi

# step NAME EXPECTED_RC COMMAND...: run, log, time, check the exit status
step() {
    local name=$1 want=$2; shift 2
    say "$name: $*"
    local start; start=$(date +%s)
    "$@" > "$LOGS/$name.txt" 2>&1
    local rc=$?
    tail -n 12 "$LOGS/$name.txt"
    echo "-> exit $rc in $(( $(date +%s) - start )) s"
    [ "$rc" = "$want" ] || fail "$name exited $rc, expected $want (log: $LOGS/$name.txt)"
}

# shellcheck disable=SC2086
step quickstart-1 0 "${FACEZOO[@]}" quickstart ${QUICKSTART_ARGS:-}
# shellcheck disable=SC2086
step quickstart-2 0 "${FACEZOO[@]}" quickstart ${QUICKSTART_ARGS:-}
grep -q "resuming" "$LOGS/quickstart-2.txt" || fail "the second quickstart did not resume"

used=$(du -sm facezoo-quickstart | cut -f1)
echo "quickstart folder: ${used} MB (du)"
[ "$used" -lt 300 ] || fail "the quickstart wrote ${used} MB (target: under 300 MB)"
grep -q "disk used" "$LOGS/quickstart-1.txt" || fail "the quickstart does not print its disk use"

say "README python blocks, pasted as written"
python - "$LOGS" <<'EOF'
import pathlib, re, sys
text = pathlib.Path("README.md").read_text()
for k, block in enumerate(re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M), 1):
    pathlib.Path(sys.argv[1], f"readme-{k}.py").write_text(block)
EOF
for block in "$LOGS"/readme-*.py; do
    step "$(basename "$block" .py)" 0 python "$block"
done

step encoders-show 0 "${FACEZOO[@]}" encoders show effnet-face-v2
grep -q "tag v1" "$LOGS/encoders-show.txt" || fail "encoders show does not list the v1 release"

step publish-run 0 "${FACEZOO[@]}" publish facezoo-quickstart/pair me/my-swap-encoder --tag v1
step publish-model-file 2 "${FACEZOO[@]}" publish facezoo-quickstart/pair/model.keras me/wrong --tag v1
step pull-by-tag 0 "${FACEZOO[@]}" pull me/my-swap-encoder@v1

photo=$(ls facezoo-quickstart/corpus/*/*.png | head -n 1)
step convert-photo 0 "${FACEZOO[@]}" convert --run facezoo-quickstart/pair --to b "$photo" -o runs/converted

faces_a=$(ls -d facezoo-quickstart/faces/* | tail -n 2 | head -n 1)
faces_b=$(ls -d facezoo-quickstart/faces/* | tail -n 1)
say "ctrl-c during the first step, then --resume"
start=$(date +%s)
"${FACEZOO[@]}" train --a "$faces_a" --b "$faces_b" --run runs/ctrl-c --steps 12 --size 64 --batch-size 4 \
    > "$LOGS/ctrl-c.txt" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
    grep -q "first step compiles" "$LOGS/ctrl-c.txt" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
done
kill -INT "$pid" 2>/dev/null
wait "$pid"
rc=$?
tail -n 6 "$LOGS/ctrl-c.txt"
echo "-> exit $rc in $(( $(date +%s) - start )) s"
[ "$rc" = 130 ] || fail "Ctrl-C during the first step exited $rc, expected 130"
grep -q "Resume with: facezoo train --run runs/ctrl-c --resume --steps 12" "$LOGS/ctrl-c.txt" || fail "no resume command after Ctrl-C"
step resume 0 "${FACEZOO[@]}" train --run runs/ctrl-c --resume --steps 12 --quiet

say "checks over every log"
if grep -l "Traceback" "$LOGS"/*.txt; then fail "a traceback reached the user (files above)"; fi
for pattern in "not yet published" "revision         None" "releases on hub: \[\]" "does not exist" \
               "absl::InitializeLog" "oneDNN custom operations" "remapper failed" "cuInit" \
               "GeneratorDataset iterator" "stage changes    none"; do
    if grep -l -- "$pattern" "$LOGS"/*.txt; then fail "misleading line '$pattern' (files above)"; fi
done
dirty=$(git status --porcelain)
[ -z "$dirty" ] || fail "git status is not clean after the first hour: $dirty"

say "done: $failures failure(s); logs in $LOGS"
[ "$failures" = 0 ]
