#!/usr/bin/env bash
# Checks the Slurm job array of docs/nas.md ("A Slurm job array") on this one machine: a one-node Slurm (installed
# with apt-get when missing, configured under $SLURM_CHECK_STATE, default /tmp/shrink-slurm-check, and started as
# root), then
#   1. a small random search in one process (the reference);
#   2. the same search as a 2-task job array on one shared journal, then the merge job (afterok on the array);
#      the merged journal, front, chart, result and retrained model must equal the single-process ones;
#   3. the array again, with worker task 1's shrink killed with SIGKILL mid-trial; the task is submitted again
#      (sbatch --array=1), resumes from the journal, and after the merge everything must again be identical.
# Daemons this script started are stopped at the end (also on failure); running ones with this config are reused.
# Needs root (Debian 12: slurm-wlm and munge from apt).
# Usage: Scripts/slurm-check.sh [SHRINK_BINARY] [WORK_DIR]
#        (defaults .build/release/shrink, out/slurm-check; env FINAL_EPOCHS (default 1; 0 skips the retraining and
#        the model comparison), TIMEOUT seconds per wait (default 600), SLURM_CHECK_STATE)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shrink="${1:-$root/.build/release/shrink}"
work="${2:-$root/out/slurm-check}"
final_epochs="${FINAL_EPOCHS:-1}"
timeout="${TIMEOUT:-600}"
state="${SLURM_CHECK_STATE:-/tmp/shrink-slurm-check}"
export PATH="$PATH:/usr/sbin:/sbin"

say() { echo "slurm-check: $*" >&2; }
fail() { echo "slurm-check: FAILED: $*" >&2; exit 1; }

[ -x "$shrink" ] || fail "no executable shrink at $shrink (build it, or pass its path)"
shrink="$(cd "$(dirname "$shrink")" && pwd)/$(basename "$shrink")"
[ "$(id -u)" = 0 ] || fail "run as root (it installs and starts munge and Slurm)"
case "$work" in /*) ;; *) work="$PWD/$work" ;; esac

# --- Slurm: install, configure, start ------------------------------------------------------------------------------
if ! command -v sbatch > /dev/null || ! command -v munged > /dev/null || ! command -v slurmctld > /dev/null \
   || ! command -v slurmd > /dev/null; then
  say "installing slurm-wlm and munge"
  apt-get update -q > /dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge > /dev/null
fi

host="$(hostname -s)"
conf="$state/etc/slurm.conf"
export SLURM_CONF="$conf"
# The node as slurmd sees it (CPUs, sockets, cores, threads, memory), so that it registers as configured.
node="$(slurmd -C | head -n 1)"
[[ "$node" == NodeName=* ]] || fail "slurmd -C printed no node line: $node"
new_conf="ClusterName=shrinkcheck
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation=$state/state
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ReturnToService=2
MinJobAge=3600
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP"

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2> /dev/null; }
started=()     # pid files of the daemons this script started, stopped in this order at the end
jobs_file=""   # the ids of the jobs this run submitted, once the work directory is fresh

cleanup() {
  local status=$?
  set +e
  # On failure, cancel the jobs this run submitted (their steps would outlive slurmd).
  if [ "$status" != 0 ] && [ -n "$jobs_file" ] && [ -s "$jobs_file" ]; then scancel $(cat "$jobs_file") 2> /dev/null; sleep 2; fi
  for pidfile in "${started[@]}"; do
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    kill -TERM "$pid" 2> /dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2> /dev/null && kill -KILL "$pid" 2> /dev/null
  done
  [ "${#started[@]}" -gt 0 ] && say "stopped the daemons it started (${#started[@]})"
  exit "$status"
}
trap cleanup EXIT

# munge: reuse a working munged, else start one.
if ! { munge -n 2> /dev/null | unmunge > /dev/null 2>&1; }; then
  if [ ! -f /etc/munge/munge.key ]; then mungekey -c -k /etc/munge/munge.key; fi
  chown munge:munge /etc/munge/munge.key && chmod 600 /etc/munge/munge.key
  mkdir -p /run/munge && chown munge:munge /run/munge
  su -s /bin/sh munge -c /usr/sbin/munged
  started=(/run/munge/munged.pid "${started[@]}")
  for _ in $(seq 50); do munge -n 2> /dev/null | unmunge > /dev/null 2>&1 && break; sleep 0.2; done
  munge -n | unmunge > /dev/null || fail "munged does not answer"
  say "started munged"
fi

# Slurm: reuse daemons of an earlier run with this very config, refuse to touch another Slurm, else start afresh.
if alive "$state/slurmctld.pid" && alive "$state/slurmd.pid"; then
  [ "$(cat "$conf" 2> /dev/null)" = "$new_conf" ] || fail "Slurm daemons run from $state with another config; stop them"
  say "reusing the running slurmctld and slurmd ($conf)"
  # Jobs left in this work directory by an earlier run that was killed would write into this one.
  stale="$(squeue -h -o '%A %Z' | awk -v w="$work" 'index($2, w) == 1 { print $1 }' | sort -u)" || fail "squeue failed"
  if [ -n "$stale" ]; then
    say "cancelling jobs of an earlier run in $work: $(paste -sd ' ' <<< "$stale")"
    scancel $stale
    t=0
    while [ -n "$(squeue -h -j "$(paste -sd, <<< "$stale")" 2> /dev/null)" ]; do
      [ "$t" -ge 60 ] && fail "jobs $stale still there after 60 s"
      sleep 1; t=$((t + 1))
    done
  fi
else
  for daemon in slurmctld slurmd; do
    if pgrep -x "$daemon" > /dev/null; then fail "a $daemon not started from $conf is running; stop it first"; fi
  done
  rm -rf "$state" && mkdir -p "$state"/{etc,state,spool,log}
  printf '%s\n' "$new_conf" > "$conf"
  : > "$state/etc/cgroup.conf"   # 22.05 knows no CgroupPlugin=disabled; an empty file works
  # (stderr to a log: slurmd notes that cgroup.conf is empty)
  slurmctld -f "$conf" 2>> "$state/log/start.log" || { cat "$state/log/start.log" >&2; fail "slurmctld did not start"; }
  started=("$state/slurmctld.pid" "${started[@]}")
  slurmd -f "$conf" 2>> "$state/log/start.log" || { cat "$state/log/start.log" >&2; fail "slurmd did not start"; }
  started=("$state/slurmd.pid" "${started[@]}")
  say "started slurmctld and slurmd ($conf)"
fi
waited=0
until [ "$(sinfo -h -n "$host" -o %t 2> /dev/null)" = idle ]; do
  if [ "$waited" -ge 60 ]; then
    sinfo >&2 || true
    for log in "$state"/log/*.log; do echo "--- $log" >&2; tail -n 40 "$log" >&2 || true; done
    fail "node $host not idle after 60 s"
  fi
  sleep 1; waited=$((waited + 1))
done
say "node $host idle after ${waited} s: $(sinfo -h -o '%P %D %t %c CPUs')"

# --- the searches ----------------------------------------------------------------------------------------------------
# Trials of a few seconds each (a tenth of the training part, 5,000 validation images); one thread everywhere, as
# trained bits depend on the thread count.
trials=6
workers=2
search=(search --space mobile-cnn --data fashion-mnist --strategy random --estimator low-fidelity --trials "$trials"
        --max-macs 1000000 --seed 7 --subset 0.1 --validation-samples 5000)
rm -rf "$work" && mkdir -p "$work"
jobs_file="$work/job-ids"

say "single process: ${search[*]} --threads 1 --final-epochs $final_epochs"
"$shrink" "${search[@]}" --threads 1 --final-epochs "$final_epochs" --out "$work/single" > "$work/single.log" 2>&1 \
  || { cat "$work/single.log" >&2; fail "the single-process search failed"; }

# The array script, shaped like the one in docs/nas.md.
write_sbatch() {  # DIR
  {
    echo '#!/bin/bash'
    echo '#SBATCH --job-name=shrink-search'
    echo "#SBATCH --array=0-$((workers - 1))"
    echo '#SBATCH --cpus-per-task=1'
    echo '#SBATCH --time=00:30:00'
    echo "# $workers workers on one shared journal directory; each runs trials i, i+$workers, …"
    printf '%q ' "$shrink" "${search[@]}"
    echo '--threads "$SLURM_CPUS_PER_TASK" \'
    printf '  --worker "$SLURM_ARRAY_TASK_ID/%d" --journal %q --out %q"$SLURM_ARRAY_TASK_ID"\n' \
      "$workers" "$1/journal" "$1/worker-"
  } > "$1/search.sbatch"
}

submit() {  # DIR SBATCH_ARGS… -> job id
  local id
  id="$(sbatch --parsable -D "$1" "${@:2}")" || fail "sbatch ${*:2} failed"
  id="${id%%;*}"
  echo "$id" >> "$work/job-ids"
  echo "$id"
}

# Prints the state of every task of JOB (one word per line).
states() { scontrol show job -o "$1" | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }

wait_job() {  # JOB DIR: waits for every task to end; fails unless all COMPLETED
  local t=0 s
  while :; do
    s="$(states "$1")" || fail "scontrol show job $1 failed"
    if ! grep -qvE '^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED)$' <<< "$s"; then
      break
    fi
    if scontrol show job -o "$1" | grep -q 'Reason=DependencyNeverSatisfied'; then fail "job $1: dependency never satisfied"; fi
    [ "$t" -ge "$timeout" ] && { scontrol show job "$1" >&2; fail "job $1 not done after $timeout s"; }
    sleep 1; t=$((t + 1))
  done
  if grep -qv '^COMPLETED$' <<< "$s"; then
    scontrol show job "$1" >&2
    for log in "$2"/slurm-"$1"*.out; do [ -f "$log" ] && { echo "--- $log" >&2; tail -n 20 "$log" >&2; }; done
    fail "job $1 ended $(tr '\n' ' ' <<< "$s")"
  fi
}

merge() {  # DIR AFTER_JOB -> waits for the merge job, as in docs/nas.md
  local wrap id
  wrap="$(printf '%q ' "$shrink" search --merge "${search[@]:1}" --threads 1 --final-epochs "$final_epochs" \
          --worker "0/$workers" --journal "$1/journal" --out "$1")"
  id="$(submit "$1" --dependency=afterok:"$2" --job-name=shrink-merge --wrap "$wrap")"
  say "merge job $id (afterok:$2)"
  wait_job "$id" "$1"
}

sha() { sha256sum < "$1" | cut -c1-16; }
same() {  # LABEL A B: A and B byte-identical
  cmp -s "$2" "$3" || { { diff "$2" "$3" | head -n 10 >&2; } || true; fail "$1 differs: $2 vs $3"; }
  say "  $1 identical (sha256 $(sha "$2"))"
}

# The journal: every worker's lines by index without the "worker" field (the single run records 0, worker I its I;
# keys are sorted, so it is the last one). Also checks that worker I holds exactly trials I, I+N, … with worker I.
journal_by_index() {  # JOURNAL_DIR N
  local i file
  for ((i = 0; i < $2; i++)); do
    file="$1/journal-$i-of-$2.jsonl"
    [ -f "$file" ] || fail "no $file"
    want="$(seq "$i" "$2" $((trials - 1)) | tr '\n' ' ')"
    got="$(sed -E 's/.*"index":([0-9]+).*/\1/' "$file" | tr '\n' ' ')"
    [ "$want" = "$got" ] || fail "$file holds trials $got, expected $want"
    grep -qv "\"worker\":$i}\$" "$file" && fail "$file has a line whose worker is not $i"
    true
  done
  cat "$1"/journal-*-of-"$2".jsonl | sed -E 's/^(.*"index":([0-9]+).*),"worker":[0-9]+\}$/\2\t\1}/' | sort -n -k1,1 | cut -f2-
}

# result.json without the CPU seconds of the search and of the final training (measured, not deterministic) and the
# model's path (another --out).
result_deterministic() { grep -vE '^  "(search_cpu_seconds|final_cpu_seconds|model)" :' "$1"; }
# search.json without "workers" (1 for the single run, N for the array: a setting that must differ).
settings_without_workers() { grep -v '^  "workers" :' "$1"; }
# A safetensors file: its tensor bytes, and its header with the provenance's "workers" setting masked.
st_header() { local n; n="$(od -An -tu8 -N8 "$1" | tr -d ' ')"; head -c "$((8 + n))" "$1" | tail -c "$n" \
  | sed -E 's/\\"workers\\":\\"[0-9]+\\"/\\"workers\\":\\"N\\"/'; }
st_data() { local n; n="$(od -An -tu8 -N8 "$1" | tr -d ' ')"; tail -c "+$((9 + n))" "$1"; }

compare_to_single() {  # DIR
  local s="$work/single" d="$1" tmp="$1/compare"
  mkdir -p "$tmp"
  say "comparing $d with the single-process search:"
  sed -E 's/,"worker":0\}$/}/' "$s/journal/journal-0-of-1.jsonl" > "$tmp/single.jsonl"
  journal_by_index "$d/journal" "$workers" > "$tmp/merged.jsonl"
  [ "$(wc -l < "$tmp/single.jsonl")" = "$trials" ] || fail "the single journal holds $(wc -l < "$tmp/single.jsonl") trials"
  same "journal (all workers' lines by index, without \"worker\"; $trials trials)" "$tmp/single.jsonl" "$tmp/merged.jsonl"
  settings_without_workers "$s/journal/search.json" > "$tmp/single-settings.json"
  settings_without_workers "$d/journal/search.json" > "$tmp/merged-settings.json"
  grep -q "^  \"workers\" : \"$workers\"" "$d/journal/search.json" || fail "$d/journal/search.json: workers is not $workers"
  same "journal/search.json (without \"workers\")" "$tmp/single-settings.json" "$tmp/merged-settings.json"
  same "front.json" "$s/front.json" "$d/front.json"
  same "front.svg" "$s/front.svg" "$d/front.svg"
  result_deterministic "$s/result.json" > "$tmp/single-result.json"
  result_deterministic "$d/result.json" > "$tmp/merged-result.json"
  same "result.json (without search_cpu_seconds, final_cpu_seconds, model)" "$tmp/single-result.json" "$tmp/merged-result.json"
  if [ "$final_epochs" -gt 0 ]; then
    st_data "$s/best.safetensors" > "$tmp/single.data"; st_data "$d/best.safetensors" > "$tmp/merged.data"
    same "best.safetensors tensors" "$tmp/single.data" "$tmp/merged.data"
    st_header "$s/best.safetensors" > "$tmp/single.header"; st_header "$d/best.safetensors" > "$tmp/merged.header"
    same "best.safetensors header (provenance's \"workers\" masked)" "$tmp/single.header" "$tmp/merged.header"
  fi
}

# --- 2: the array and the merge --------------------------------------------------------------------------------------
array="$work/array"
mkdir -p "$array" && write_sbatch "$array"
job="$(submit "$array" "$array/search.sbatch")"
say "array job $job: $workers tasks ($array/search.sbatch)"
wait_job "$job" "$array"
merge "$array" "$job"
compare_to_single "$array"

# --- 3: worker 1 killed mid-trial, submitted again, resumed ----------------------------------------------------------
fault="$work/fault"
mkdir -p "$fault" && write_sbatch "$fault"
job="$(submit "$fault" "$fault/search.sbatch")"
say "array job $job: killing task 1's shrink once it has finished a trial"
journal1="$fault/journal/journal-1-of-$workers.jsonl"
t=0
until [ -f "$journal1" ] && [ "$(wc -l < "$journal1")" -ge 1 ]; do
  [ "$t" -ge $((timeout * 5)) ] && fail "task 1 finished no trial in $timeout s"
  sleep 0.2; t=$((t + 1))
done
# pgrep -f takes an extended regex: the path's special characters escaped, anchored at the end of the command line.
pid="$(pgrep -f -- "$(sed -E 's/[]\\.*^$+?(){}|[]/\\&/g' <<< "--out $fault/worker-1")\$" || true)"
[ -n "$pid" ] && [ "$(wc -w <<< "$pid")" = 1 ] || fail "task 1's shrink process not found (pgrep: '$pid')"
kill -KILL "$pid"
say "killed pid $pid with $(wc -l < "$journal1") trial(s) of task 1 in the journal"
t=0
while [ "$(states "$job" | grep -cvE '^(COMPLETED|FAILED|CANCELLED)$')" != 0 ]; do
  [ "$t" -ge "$timeout" ] && fail "array job $job not done after $timeout s"
  sleep 1; t=$((t + 1))
done
task0="$(scontrol show job -o "${job}_0" | grep -o 'JobState=[A-Z_]*')"
task1="$(scontrol show job -o "${job}_1" | grep -o 'JobState=[A-Z_]*')"
[ "$task0 $task1" = "JobState=COMPLETED JobState=FAILED" ] || fail "expected task 0 COMPLETED, task 1 FAILED: $task0 $task1"
before="$(wc -l < "$journal1")" share="$(seq 1 "$workers" $((trials - 1)) | wc -l)"
[ "$before" -lt "$share" ] || fail "task 1 had finished all its trials before the kill"
say "task 0 completed, task 1 failed with $before of its $share trials in the journal; submitting task 1 again"
rerun="$(submit "$fault" --array=1 "$fault/search.sbatch")"
wait_job "$rerun" "$fault"
# The resubmitted task must run only the trials of task 1 the journal did not hold.
want="$(seq 1 "$workers" $((trials - 1)) | tail -n +$((before + 1)) | tr '\n' ' ')"
ran="$(grep -oE 'trial [0-9]+:' "$fault/slurm-${rerun}_1.out" | grep -oE '[0-9]+' | tr '\n' ' ' || true)"
[ "$ran" = "$want" ] || fail "the resubmitted task 1 ran trials '$ran', expected '$want'"
say "task 1 resumed as job ${rerun}_1: ran trials ${ran% }, skipped the $before in the journal"
merge "$fault" "$rerun"
compare_to_single "$fault"
same "fault run's journal-1-of-2.jsonl vs the clean array's" "$array/journal/journal-1-of-2.jsonl" "$journal1"
if [ "$final_epochs" -gt 0 ]; then
  same "fault run's best.safetensors vs the clean array's" "$array/best.safetensors" "$fault/best.safetensors"
fi

echo "slurm-check: passed ($trials trials, $workers workers: the array, and the array with task 1 killed (SIGKILL) and" \
     "resubmitted, each merged identical to the single-process search; ${SECONDS} s)"
