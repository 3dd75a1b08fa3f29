#!/usr/bin/env bash
# Exploratory API fuzzing: schemathesis against a throwaway development server on loopback.
#
#   tools/fuzz_api.sh [SECONDS_PER_ROLE] [EXAMPLES_PER_OPERATION]     (defaults: 240, 20)
#
# Starts `manage.py runserver` on 127.0.0.1 with DEBUG off (so errors are the API's own, not
# Django's debug pages) and a fresh VAR_DIR, migrates, creates the demo accounts, turns on
# alice's camera-roll consent and uploads a few photos through the API, opens a support case
# for sam on alice, then runs schemathesis once per role over that role's operations (holder:
# everything but audit and support; auditor: audit; support: support), each bounded by time
# and examples. Reports land in the VAR_DIR it prints. The server is stopped at the end.
# The suite's bounded, deterministic version of this is tests/test_api_schema_fuzz.py.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-240}"
examples="${2:-20}"
port="${FUZZ_PORT:-8765}"
base="http://127.0.0.1:${port}"
api="${base}/api/v1"

VAR_DIR="$(mktemp -d)"
export VAR_DIR DJANGO_ENV=development DEBUG=0
unset DATABASE_URL
py=.venv/bin/python
schemathesis="$PWD/.venv/bin/schemathesis"
$py manage.py migrate --noinput >/dev/null
$py manage.py seed_demo >/dev/null
if curl -s -o /dev/null "${base}/"; then echo "something already answers on ${base}; set FUZZ_PORT" >&2; exit 1; fi
$py manage.py runserver "127.0.0.1:${port}" --noreload >"$VAR_DIR/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 30); do curl -fs -o /dev/null "${base}/api/schema/" && break; sleep 1; done
kill -0 "$server" 2>/dev/null || { echo "the server did not start (port ${port} taken?):" >&2; cat "$VAR_DIR/server.log" >&2; exit 1; }

token() {
  curl -fs -X POST "${api}/auth/token/" -H 'Content-Type: application/json' \
    -d "{\"username\": \"$1\", \"password\": \"$1-demo-pass-2026\"}" | $py -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}
alice="$(token alice)"; audrey="$(token audrey)"; sam="$(token sam)"
version="$(curl -fs "${api}/consent/notices/camera_roll_cloud_processing/" -H "Authorization: Token ${alice}" \
  | $py -c 'import json,sys; print(json.load(sys.stdin)["version"])')"
curl -fs -o /dev/null -X PUT "${api}/consent/camera_roll_cloud_processing/" -H "Authorization: Token ${alice}" \
  -H 'Content-Type: application/json' -d "{\"granted\": true, \"notice_version\": \"${version}\"}"
find tests/fixtures/photos -name '*.jpg' | head -4 | while read -r photo; do
  curl -fs -o /dev/null -X POST "${api}/media/" -H "Authorization: Token ${alice}" -F "file=@${photo}"
done
alice_id="$($py manage.py shell -v 0 -c 'from accounts.models import User; print(User.objects.get(username="alice").pk)')"
curl -fs -o /dev/null -X POST "${api}/support/cases/" -H "Authorization: Token ${sam}" \
  -H 'Content-Type: application/json' -d "{\"subject\": ${alice_id}, \"reason\": \"fuzzing\", \"ticket\": \"F-1\"}"

status=0
run() {  # run NAME TOKEN FILTER...
  local name="$1" key="$2"; shift 2
  echo "== schemathesis as ${name} (at most ${seconds}s, ${examples} examples per operation)"
  # Run from VAR_DIR: schemathesis keeps its state (.schemathesis/) in the working directory.
  (cd "$VAR_DIR" && "$schemathesis" run "${base}/api/schema/" -H "Authorization: Token ${key}" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --phases examples,coverage,fuzzing --max-examples "$examples" --max-time "$seconds" --seed 1 --workers 1 \
    --continue-on-failure --no-color --report json --report-dir "$VAR_DIR/report-${name}" "$@" \
    >"$VAR_DIR/${name}.txt" 2>&1) || status=1
  sed -n '/^=* SUMMARY/,$p' "$VAR_DIR/${name}.txt" | grep -E 'Failures|❌|Errors|🚫|Test cases|generated|passed|failed' || true
}
run holder "$alice" --exclude-path-regex '^/api/v1/(audit|support)/'
run auditor "$audrey" --include-path-regex '^/api/v1/audit/'
run support "$sam" --include-path-regex '^/api/v1/support/'
echo "full output and reports: ${VAR_DIR}"
exit "$status"
