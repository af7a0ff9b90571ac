#!/usr/bin/env bash
# Stop the cluster started by slurm-up.sh, by PID file, in reverse order, and remove its config: with the
# Snakemake SLURM plugin installed, a slurm.conf without a running controller slows every snakemake start.
set -u
stop() {
  local pidfile=$1 pid
  [[ -f $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  rm -f "$pidfile"
}
stop /run/slurmd.pid
stop /run/slurmctld.pid
stop /run/munge/munged.pid
rm -f /etc/slurm/slurm.conf
echo "slurm-down: stopped"
