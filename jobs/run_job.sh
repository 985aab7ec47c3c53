#!/usr/bin/env bash
# run_job.sh CONFIG [dkmeans args...]: run `dkmeans run CONFIG [args...]` from cron.
#
#   0 2 * * *  /opt/dkmeans/jobs/run_job.sh /etc/dkmeans/segments.yaml --set model.n_clusters=12
#
# - One run per config at a time: a second run of the same config (same absolute path) while the
#   first is running exits 75 (EX_TEMPFAIL) at once, without starting dkmeans.
# - A time limit: DKMEANS_TIMEOUT (default 6h; coreutils `timeout` syntax: 90m, 2h, 0 = none).
#   dkmeans gets SIGTERM, then SIGKILL DKMEANS_KILL_AFTER later (default 2m); the exit code is
#   124 when the limit was reached (137 if SIGKILL was needed).
# - A log file per run: ${DKMEANS_LOG_DIR:-./logs}/<config name>-<UTC timestamp>.log holds
#   stdout and stderr of dkmeans, which also go to this script's stdout (cron mails it).
# - The exit code of dkmeans, unchanged: 0 done, 2 config or input error, 1 runtime failure.
#
# Environment: DKMEANS_BIN (default: dkmeans), DKMEANS_LOCK_DIR (default: /tmp),
# DKMEANS_LOG_DIR, DKMEANS_TIMEOUT, DKMEANS_KILL_AFTER. Exit codes of its own: 64 usage,
# 2 config file missing, 75 another run of this config holds the lock.
set -euo pipefail

me=$(basename -- "$0")
if [[ $# -lt 1 || $1 == -h || $1 == --help ]]; then
    echo "usage: $me CONFIG [dkmeans run options...]" >&2
    exit 64
fi
config=$1
shift
if [[ ! -f $config ]]; then
    echo "$me: config file not found: $config" >&2
    exit 2
fi

config_path=$(realpath -- "$config")
config_name=$(basename -- "$config_path")
config_name=${config_name%.*}
lock_dir=${DKMEANS_LOCK_DIR:-/tmp}
log_dir=${DKMEANS_LOG_DIR:-./logs}
time_limit=${DKMEANS_TIMEOUT:-6h}
kill_after=${DKMEANS_KILL_AFTER:-2m}
dkmeans_bin=${DKMEANS_BIN:-dkmeans}

# The lock file is named after the config's absolute path, so that two paths to one config
# share it. Lock files are never deleted (deleting a flock file races with its next user).
path_hash=$(printf '%s' "$config_path" | sha256sum | cut -c1-16)
lock_file="$lock_dir/dkmeans-$config_name-$path_hash.lock"
mkdir -p -- "$lock_dir" "$log_dir"
exec 9>>"$lock_file"
if ! flock --nonblock 9; then
    echo "$me: another run of $config_path is still running (lock $lock_file held);" \
        "not starting." >&2
    exit 75
fi
# fd 9 stays open in dkmeans (inherited): if this script is killed, the lock is held until
# dkmeans itself ends, so a new run can never overlap an orphaned one.

log_file="$log_dir/$config_name-$(date -u +%Y%m%dT%H%M%SZ).log"
started=$(date +%s)
echo "$me: $(date -u +%Y-%m-%dT%H:%M:%SZ) starting $dkmeans_bin run $config_path" \
    "($# more argument(s)) on $HOSTNAME, time limit $time_limit, pid $$" | tee -a -- "$log_file"

set +e
timeout --kill-after="$kill_after" "$time_limit" "$dkmeans_bin" run "$config_path" "$@" 2>&1 \
    | tee -a -- "$log_file"
status=${PIPESTATUS[0]}
set -e

case $status in
    124) note="time limit $time_limit reached" ;;
    137) note="killed (time limit $time_limit reached and SIGTERM ignored, or out of memory)" ;;
    *) note="" ;;
esac
echo "$me: $(date -u +%Y-%m-%dT%H:%M:%SZ) finished with exit code $status after" \
    "$(($(date +%s) - started)) s${note:+: $note}; log $log_file" | tee -a -- "$log_file"
exit "$status"
