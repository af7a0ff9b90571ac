#!/usr/bin/env bash
# Start a disposable one-node SLURM cluster (munge + slurmctld + slurmd) for the workflow tests.
# Debian, run as root, no systemd: daemons are started by hand and stopped by PID (slurm-down.sh).
# No accounting database: the Snakemake profile must poll job status with squeue (MinJobAge keeps finished
# jobs visible to it).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need=()
for pkg in munge slurmctld slurmd slurm-client; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if ((${#need[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# munge authenticates the daemons and the clients to each other
[[ -s /etc/munge/munge.key ]] || mungekey --create --keyfile /etc/munge/munge.key
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
install -d -o munge -g munge -m 755 /run/munge
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
munge -n | unmunge >/dev/null

cpus=$(nproc)
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10 ))
install -d /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm /etc/slurm
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=genomamba-ci
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
MinJobAge=600
KillWait=5
NodeName=localhost NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF

running() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
if ! running /run/slurmctld.pid; then
  rm -rf /var/lib/slurm/slurmctld/*   # no stale job state from an earlier cluster
  /usr/sbin/slurmctld
fi
running /run/slurmd.pid || /usr/sbin/slurmd -N localhost
for _ in $(seq 30); do [[ "$(sinfo -h -o %t 2>/dev/null)" == idle ]] && break; sleep 1; done
srun -N1 -n1 true
echo "slurm-up: cluster ready ($(sinfo -h -o '%P %D %t'))"
