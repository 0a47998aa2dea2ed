#!/usr/bin/env bash
# Runs `molecule test` for each scenario given (default: all of them),
# MOLECULE_JOBS at a time (default 2: a scenario keeps about one core busy,
# and pytest runs beside them; on two cores a third scenario only stretches
# every wait and health check), keeps each scenario's full log in
# build/molecule/<scenario>.log, prints the tail of the log of any scenario
# that fails, and ends with one line "N passed, N failed". Exits non-zero
# when any scenario fails. A scenario also fails when the secret canary shows
# up anywhere in its output.
#
# Each scenario's line in the final table also gives the CPU-seconds it
# cost (the run is CPU-bound: fewer CPU-seconds, not more parallelism, make
# it shorter): the controller's (user + system of `molecule test` and all
# its children: ansible-playbook, its forks, their `docker exec` clients) and
# its containers' (their cgroups' CPU usage, sampled every 5 s by
# sample_containers below, the usage before each restart of a container
# counted too; CPU a container spends in its last seconds before a stop is
# not seen).
set -uo pipefail
cd "$(dirname "$0")/.."
logdir=build/molecule
mkdir -p "$logdir"
if [ "$#" -eq 0 ]; then
  mapfile -t scenarios < <(scripts/scenarios.sh)
else
  scenarios=("$@")
fi
jobs_max="${MOLECULE_JOBS:-2}"
# A random value the scenarios put inside their secrets: it must not appear
# anywhere in a scenario's output (converge runs with --diff).
export MOLECULE_SECRET_CANARY="${MOLECULE_SECRET_CANARY:-mlops-canary-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')}"

# The CPU time of one container (its cgroup, cgroup v2 or v1) in µs, into
# the variable usec; fails when the container has no cgroup (not running).
container_usec() {
  local id=$1 f
  for f in "/sys/fs/cgroup/system.slice/docker-$id.scope/cpu.stat" "/sys/fs/cgroup/docker/$id/cpu.stat"; do
    # cpu.stat's first line: usage_usec N
    if [ -r "$f" ] && read -r _ usec <"$f"; then return 0; fi
  done
  for f in "/sys/fs/cgroup/cpuacct/docker/$id/cpuacct.usage" "/sys/fs/cgroup/cpu,cpuacct/docker/$id/cpuacct.usage"; do
    if [ -r "$f" ] && read -r usec <"$f"; then usec=$((usec / 1000)); return 0; fi
  done
  return 1
}

# Samples the CPU time of the scenario's containers (those on its network,
# mlops-<scenario>: molecule/_shared/create.yml) every 5 s until killed, and
# keeps the sum in whole seconds in $2. A restarted container (a reboot test,
# a database stopped and started) starts a new cgroup from zero: the last
# reading before that is kept. The container list is asked of Docker every
# 30 s only; the cgroup files are read with the shell's builtins.
sample_containers() {
  local s=$1 out=$2 n=0 id total usec ids=()
  local -A last=() ended=()
  while :; do
    if [ "${#ids[@]}" -eq 0 ] || [ $((n % 6)) -eq 0 ]; then
      mapfile -t ids < <(docker ps -q --no-trunc --filter "network=mlops-$s" 2>/dev/null)
    fi
    n=$((n + 1))
    for id in "${ids[@]}"; do
      container_usec "$id" || continue
      if [ "$usec" -lt "${last[$id]:-0}" ]; then ended[$id]=$((${ended[$id]:-0} + ${last[$id]})); fi
      last[$id]=$usec
    done
    total=0
    for id in "${!last[@]}"; do total=$((total + last[$id] + ${ended[$id]:-0})); done
    echo "$((total / 1000000))" >"$out"
    sleep 5
  done
}

run_one() {
  local s=$1 start result rc sampler TIMEFORMAT='%U %S'
  start=$(date +%s)
  echo 0 >"$logdir/$s.cpu-containers"
  sample_containers "$s" "$logdir/$s.cpu-containers" &
  sampler=$!
  # bash's `time`: user and system CPU of the command and all its children.
  # Each ansible-playbook also writes its output, every line timed, to
  # $s.ansible.log: the steps' times at the end (playbook_times).
  rm -f "$logdir/$s.ansible.log"
  { time ANSIBLE_LOG_PATH="$PWD/$logdir/$s.ansible.log" molecule test -s "$s" >"$logdir/$s.log" 2>&1; } \
    2>"$logdir/$s.cpu-controller"
  rc=$?
  kill "$sampler" 2>/dev/null
  wait "$sampler" 2>/dev/null
  if [ "$rc" -eq 0 ]; then result=PASSED; else result=FAILED; fi
  if grep -q -- "$MOLECULE_SECRET_CANARY" "$logdir/$s.log" "$logdir/$s.ansible.log" 2>/dev/null; then
    {
      echo "$s: a secret (the canary value) appears in the scenario's output:"
      grep -n -- "$MOLECULE_SECRET_CANARY" "$logdir/$s.log" "$logdir/$s.ansible.log" 2>/dev/null | sed "s/$MOLECULE_SECRET_CANARY/<canary>/g" | head -n 20
    } >"$logdir/$s.leak"
    result=FAILED
  fi
  echo "$result $(($(date +%s) - start))" >"$logdir/$s.result"
}

# The run's AnsiballZ payload cache (scripts/ansiballz_payload): each module's
# payload is built once per run instead of once per ansible-playbook. Under
# scripts/test-all.sh it is the one pytest uses too.
if [ -z "${ANSIBALLZ_PAYLOAD_DIR:-}" ]; then
  rm -rf build/ansiballz-payload-molecule
  mkdir -m 0700 build/ansiballz-payload-molecule
  export ANSIBALLZ_PAYLOAD_DIR="$PWD/build/ansiballz-payload-molecule"
fi
export PYTHONPATH="$PWD/scripts/ansiballz_payload${PYTHONPATH:+:$PYTHONPATH}"
# Seconds per ansible-playbook run of a scenario (one per Molecule step:
# destroy, create, prepare, converge, idempotence, side_effect, verify,
# destroy), in order, each named by its first play, from the times ansible
# writes to its log (ANSIBLE_LOG_PATH; a run lasts from its first line to its
# last).
playbook_times() {
  [ -f "$1" ] || return 0
  awk '/^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9],[0-9]+ p=[0-9]+ / {
         split($2, t, /[:,]/); now = t[1] * 3600 + t[2] * 60 + t[3]; pid = $3
         if (!(pid in first)) { order[n++] = pid; first[pid] = now; name[pid] = "" }
         last[pid] = now
         if (name[pid] == "" && match($0, /PLAY \[[^]]*\]/)) name[pid] = substr($0, RSTART + 6, RLENGTH - 7)
       }
       END {
         for (i = 0; i < n; i++) {
           pid = order[i]; if (name[pid] == "") continue
           d = last[pid] - first[pid]; if (d < 0) d += 86400
           printf " | %s %d", substr(name[pid], 1, 24), d
         }
         print ""
       }' "$1"
}

# The failure that ended a scenario, on one line (at most 600 characters):
# the task and the first lines of its "fatal:" message, from the last
# ansible-playbook run whose recap counts a failed host (failures that a task
# expects, ignored or rescued, do not count there). The table's end shows it,
# so that a run's last lines say why a scenario failed.
failure_reason() {
  local reason
  # Without colours and without Molecule's frame ("  │ ") where a terminal had them.
  reason=$(sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^ *│ \{0,1\}//' "$1" | awk '
    # The message first: the assertion and the other fields come after it.
    function show(   i) { i = index(body, " msg: "); print head (i ? substr(body, i) : body) }
    /^TASK \[/ { task = $0; sub(/ \**$/, "", task) }
    /^(fatal|failed): \[/ { head = task " " $0; body = ""; grab = 12; next }
    grab > 0 && /^[ \t]/ { line = $0; gsub(/^[ \t]+/, "", line); body = body " " line; grab--; next }
    { grab = 0 }
    /^[^ ]+ +: ok=[0-9]+ .* failed=[1-9]/ && head != "" { show(); found = 1; exit }
    END { if (!found && head != "") show() }
  ')
  # No task failed (a step of Molecule's own): its last error line.
  [ -n "$reason" ] || reason=$(sed -e 's/\x1b\[[0-9;]*m//g' "$1" | grep -a -E 'CRITICAL|ERROR' | tail -n 1)
  printf '%s\n' "${reason:-see $1}" | sed "s/$MOLECULE_SECRET_CANARY/<canary>/g" | cut -c1-600
}

for s in "${scenarios[@]}"; do rm -f "$logdir/$s.ansible.log" "$logdir/$s.result" "$logdir/$s.leak" "$logdir/$s".cpu-*; done
# The containers share apt's package lists (molecule/_shared/create.yml):
# fetch them once, before any scenario starts.
scripts/apt-lists.sh
running=0
for s in "${scenarios[@]}"; do
  if [ "$running" -ge "$jobs_max" ]; then
    wait -n
    running=$((running - 1))
  fi
  echo "molecule $s: started"
  run_one "$s" &
  running=$((running + 1))
done
wait

passed=0
failed=0
failed_names=()
for s in "${scenarios[@]}"; do
  read -r result seconds <"$logdir/$s.result" || { result=FAILED; seconds=0; }
  if [ "$result" = PASSED ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failed_names+=("$s")
    [ -f "$logdir/$s.leak" ] && cat "$logdir/$s.leak"
    echo "---- last 120 lines of $logdir/$s.log ----"
    tail -n 120 "$logdir/$s.log" | sed "s/$MOLECULE_SECRET_CANARY/<canary>/g"
    echo "---- end of $s ----"
  fi
done
cpu_controller_all=0
cpu_containers_all=0
for s in "${scenarios[@]}"; do
  read -r result seconds <"$logdir/$s.result" || { result=FAILED; seconds=0; }
  # TIMEFORMAT's "user system" (the last line: bash writes only that there).
  cpu_controller=$(awk 'END { printf "%d", $1 + $2 }' "$logdir/$s.cpu-controller" 2>/dev/null)
  read -r cpu_containers 2>/dev/null <"$logdir/$s.cpu-containers" || cpu_containers=0
  cpu_controller_all=$((cpu_controller_all + ${cpu_controller:-0}))
  cpu_containers_all=$((cpu_containers_all + cpu_containers))
  printf 'molecule %-24s %s in %ss  CPU-s: controller %s, containers %s\n' "$s" "$result" "$seconds" \
    "${cpu_controller:-0}" "$cpu_containers"
  printf '  playbooks (s)%s\n' "$(playbook_times "$logdir/$s.ansible.log")"
done
printf 'molecule CPU-s, all scenarios: controller %s, containers %s\n' "$cpu_controller_all" "$cpu_containers_all"
if [ "$failed" -gt 0 ]; then
  for s in "${failed_names[@]}"; do
    if [ -f "$logdir/$s.leak" ]; then
      echo "failed scenario $s: a secret (the canary value) appears in its output"
    else
      echo "failed scenario $s: $(failure_reason "$logdir/$s.log")"
    fi
  done
  echo "failed scenarios: ${failed_names[*]}"
fi
echo "molecule: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
