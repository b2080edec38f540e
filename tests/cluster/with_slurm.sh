#!/usr/bin/env bash
# Run a command against a private single-node Slurm (with accounting) on this machine, then stop it.
#
#     tests/cluster/with_slurm.sh COMMAND [ARG ...]      # e.g. .venv/bin/python -m pytest -m cluster tests/cluster
#
# As root on Debian 12 (CI): installs slurm-wlm, munge, slurmdbd and mariadb-server with apt-get if they are missing,
# then starts, everything in a temporary folder and on private sockets/ports so that nothing already running on
# the machine is touched: munged, a MariaDB bound to 127.0.0.1, slurmdbd, slurmctld and slurmd. It waits until the
# node is idle, runs COMMAND with SLURM_CONF pointing at the private cluster, and on exit — pass, fail or signal —
# cancels the jobs left on that cluster and stops, by pid, every daemon it started. It exits with COMMAND's status.
# Accounting is there so that a job that dies without a result is reported as failed (submitit reads its state
# from sacct) instead of being waited on forever. `with_slurm.sh bash` gives a shell on that Slurm;
# KEEP_SLURM_STATE=1 keeps the temporary folder (configs, logs); CAUSALPHYS_{SLURMCTLD,SLURMD,SLURMDBD,MARIADB}_PORT
# move the ports. Takes about 10 s to start once the packages are installed (about 30 s of apt-get on CI).
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARG ...]" >&2
    exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "$0: must run as root (it installs Debian packages and starts the Slurm daemons)" >&2
    exit 1
fi

# Private ports: a Slurm or MariaDB already on the machine keeps its own.
CTLD_PORT=${CAUSALPHYS_SLURMCTLD_PORT:-16817}
SLURMD_PORT=${CAUSALPHYS_SLURMD_PORT:-16818}
DBD_PORT=${CAUSALPHYS_SLURMDBD_PORT:-16819}
DB_PORT=${CAUSALPHYS_MARIADB_PORT:-13306}
CLUSTER=causalphys
HOST=$(hostname -s)

need=()
for pair in sbatch:slurm-wlm slurmctld:slurm-wlm slurmd:slurm-wlm munged:munge slurmdbd:slurmdbd \
    mariadbd:mariadb-server mariadb-install-db:mariadb-server; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] || need+=("${pair#*:}")
done
if [ "${#need[@]}" -gt 0 ]; then
    mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
    echo "with_slurm: installing ${need[*]}" >&2
    started=$SECONDS
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    echo "with_slurm: installed in $((SECONDS - started)) s" >&2
fi
export PATH="/usr/sbin:/sbin:$PATH"

STATE=$(mktemp -d /tmp/causalphys-slurm.XXXXXX)
chmod 755 "$STATE"
CTLD_UP=   # set once slurmctld is started
PIDS=()   # daemons we started, in start order
NAMES=()

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    if [ -n "$CTLD_UP" ]; then
        # the jobs on this private cluster are ours: cancel them, so that no job or slurmstepd outlives slurmd
        local jobs deadline=$((SECONDS + 20))
        jobs=$(timeout 10 squeue -h -o %i 2>/dev/null)
        if [ -n "$jobs" ]; then
            echo "with_slurm: cancelling jobs left on the cluster:" $jobs >&2
            timeout 10 scancel $jobs
            while [ "$SECONDS" -lt "$deadline" ] && [ -n "$(timeout 5 squeue -h -o %i 2>/dev/null)" ]; do
                sleep 0.5
            done
        fi
    fi
    local i pid
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        pid=${PIDS[$i]}
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "with_slurm: ${NAMES[$i]} ($pid) did not stop on TERM, killed" >&2
            kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
    done
    if [ "$rc" -ne 0 ] && [ -d "$STATE/log" ]; then # the daemons' last words, for a failed CI run
        for f in "$STATE"/log/*.log "$STATE/munge/munged.log"; do
            [ -s "$f" ] || continue
            echo "---- $f (last 10 lines)" >&2
            tail -n 10 "$f" >&2
        done
    fi
    if [ -n "${KEEP_SLURM_STATE:-}" ]; then
        echo "with_slurm: state kept in $STATE" >&2
    else
        rm -rf "$STATE"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start() { # NAME COMMAND...: start a daemon in the foreground of a background job, remember its pid
    local name=$1
    shift
    "$@" >>"$STATE/log/$name.log" 2>&1 &
    PIDS+=("$!")
    NAMES+=("$name")
}

wait_for() { # SECONDS WHAT COMMAND...: poll COMMAND (5 s at most a try) until it succeeds
    local limit=$1 what=$2 deadline=$((SECONDS + $1)) j
    shift 2
    while [ "$SECONDS" -lt "$deadline" ]; do
        if timeout 5 "$@" >/dev/null 2>&1; then return 0; fi
        for j in "${!PIDS[@]}"; do
            if ! kill -0 "${PIDS[$j]}" 2>/dev/null; then
                echo "with_slurm: ${NAMES[$j]} exited while waiting for $what" >&2
                return 1
            fi
        done
        sleep 0.2
    done
    echo "with_slurm: no $what after $limit s" >&2
    return 1
}

mkdir -p "$STATE"/{log,munge,mysql,ctld,slurmd}
chmod 777 "$STATE/log"
began=$SECONDS

# munge: its own key copy, socket and state, run as the munge user
chown munge:munge "$STATE/munge"
chmod 755 "$STATE/munge"  # munged wants its socket folder executable by all
if [ ! -s /etc/munge/munge.key ]; then
    echo "with_slurm: /etc/munge/munge.key is missing (the munge package creates it)" >&2
    exit 1
fi
install -o munge -g munge -m 600 /etc/munge/munge.key "$STATE/munge/munge.key"
MUNGE_SOCKET="$STATE/munge/munge.socket"
start munged setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --foreground \
    --key-file="$STATE/munge/munge.key" --socket="$MUNGE_SOCKET" --pid-file="$STATE/munge/munged.pid" \
    --seed-file="$STATE/munge/munged.seed" --log-file="$STATE/munge/munged.log"
wait_for 15 "munge socket" test -S "$MUNGE_SOCKET"

# MariaDB for slurmdbd, on 127.0.0.1 only
mariadb-install-db --user=root --datadir="$STATE/mysql" --auth-root-authentication-method=socket \
    --skip-test-db >"$STATE/log/mariadb-install.log" 2>&1
DB_SOCKET="$STATE/mysql.sock"
start mariadbd /usr/sbin/mariadbd --no-defaults --user=root --datadir="$STATE/mysql" --socket="$DB_SOCKET" \
    --bind-address=127.0.0.1 --port="$DB_PORT" --pid-file="$STATE/mariadbd.pid" --skip-log-bin \
    --innodb-buffer-pool-size=32M
wait_for 30 "MariaDB" mariadb --no-defaults -S "$DB_SOCKET" -u root -e "SELECT 1"
DB_PASS=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
mariadb --no-defaults -S "$DB_SOCKET" -u root -e "
    CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"

# slurmdbd.conf and slurm.conf side by side (slurmdbd finds its file next to SLURM_CONF)
MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
CPUS=$(nproc)
cat >"$STATE/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$STATE/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=$DB_PASS
EOF
chmod 600 "$STATE/slurmdbd.conf"
cat >"$STATE/slurm.conf" <<EOF
ClusterName=$CLUSTER
SlurmctldHost=$HOST
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
AccountingStoragePass=$MUNGE_SOCKET
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
MinJobAge=300
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$STATE/slurm.conf"

start slurmdbd /usr/sbin/slurmdbd -D
wait_for 30 "slurmdbd" sacctmgr -n list cluster
sacctmgr -i add cluster "$CLUSTER" >/dev/null
start slurmctld /usr/sbin/slurmctld -D -i
CTLD_UP=1
start slurmd /usr/sbin/slurmd -D
wait_for 60 "idle node" bash -c '[ "$(sinfo -h -o %T)" = idle ]'
echo "with_slurm: Slurm up in $((SECONDS - began)) s (cluster $CLUSTER, node $HOST, $CPUS CPUs," \
    "SLURM_CONF=$SLURM_CONF)" >&2

set +e
"$@"
rc=$?
set -e
exit "$rc"
