#!/usr/bin/env bash
# GPU Watchdog pod entry point. From the pod's environment (the contract in pod_image/README.md) it
# writes the munge key, the Slurm configuration (head), starts the services of its role and supervises
# them:
#   head:   munged, slurmctld, slurmd, GPU exporter (9400), Slurm exporter (9341), log server (8002),
#           vLLM (8000, when MODEL_NAME is set)
#   worker: munged, slurmd (joins the head over RunPod's private network), GPU exporter, log server
# Each service logs to $GPUWATCH_LOG_DIR/<name>.log, which the log server serves. If munged, slurmctld
# or slurmd dies the pod stops (exit 1); the exporters and the log server are restarted a few times;
# vLLM is left stopped so its log can still be read. SIGTERM/SIGINT stop everything (exit 0).
# Secrets are never printed, never put on a command line, and each goes only to the process that needs it.
set -euo pipefail

# Paths are overridable for tests. On real pods keep the defaults: a worker fetches the head's
# slurm.conf (configless), so paths must be the same on every pod, and slurmd fetches it through the
# default munge socket, /run/munge/munge.socket.2.
ETC=${GPUWATCH_ETC:-/etc}
LOG_DIR=${GPUWATCH_LOG_DIR:-/var/log/gpuwatch}
RUN_DIR=${GPUWATCH_RUN_DIR:-/run}
STATE_DIR=${GPUWATCH_STATE_DIR:-/var/spool/gpuwatch}
SLURMCTLD_PORT=${GPUWATCH_SLURMCTLD_PORT:-6817}
SLURMD_PORT=${GPUWATCH_SLURMD_PORT:-6818}
ME=$(id -un)
MUNGE_USER=${GPUWATCH_MUNGE_USER:-munge}
SLURM_USER=${GPUWATCH_SLURM_USER:-slurm}
RESTART_DELAY_S=${GPUWATCH_RESTART_DELAY_S:-5}
MAX_RESTARTS=${GPUWATCH_MAX_RESTARTS:-5}
STOP_TIMEOUT_S=${GPUWATCH_STOP_TIMEOUT_S:-30}
GPU_EXPORTER_PORT=9400
SLURM_EXPORTER_PORT=9341
VLLM_PORT=8000
LOG_SERVER_PORT=8002

SLURM_CONF="$ETC/slurm/slurm.conf"
MUNGE_KEY="$ETC/munge/munge.key"
MUNGE_SOCKET="$RUN_DIR/munge/munge.socket.2"
export SLURM_CONF  # sinfo/squeue (the Slurm exporter) and slurmd read it

declare -A PID_OF=() NAME_OF=() KIND_OF=() LAUNCHER_OF=() RESTARTS_OF=()

log() {
    printf '%s start.sh: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" | tee -a "$LOG_DIR/start.log" >&2
}

is_count() {  # a whole number 0..99999
    [[ $1 =~ ^[0-9]{1,5}$ ]]
}

# -- the environment -----------------------------------------------------------------------------

check_common() {  # appends to the caller's PROBLEMS
    [[ ${GPUWATCH_ROLE:-} == head || ${GPUWATCH_ROLE:-} == worker ]] ||
        PROBLEMS+=("GPUWATCH_ROLE must be 'head' or 'worker'")
    [ -n "${GPUWATCH_POD_TOKEN:-}" ] || PROBLEMS+=("GPUWATCH_POD_TOKEN is missing (the bearer token of the pod's services)")
    if [ -z "${GPUWATCH_MUNGE_KEY:-}" ]; then
        PROBLEMS+=("GPUWATCH_MUNGE_KEY is missing (the same munge key on every pod)")
    elif [ "${#GPUWATCH_MUNGE_KEY}" -lt 32 ]; then
        PROBLEMS+=("GPUWATCH_MUNGE_KEY must have at least 32 characters")
    fi
    [[ ${GPUWATCH_CLUSTER:-gpuwatch} =~ ^[A-Za-z][A-Za-z0-9_-]{0,39}$ ]] ||
        PROBLEMS+=("GPUWATCH_CLUSTER must be a name of letters, digits, - and _")
    is_count "${GPUWATCH_WORKERS:-0}" || PROBLEMS+=("GPUWATCH_WORKERS must be a whole number")
    local var
    for var in GPUWATCH_GPUS_PER_NODE GPUWATCH_CPUS_PER_NODE; do
        [ -z "${!var:-}" ] || is_count "${!var}" || PROBLEMS+=("$var must be a whole number")
    done
    [ -z "${GPUWATCH_HEAD_HOST:-}" ] || [[ $GPUWATCH_HEAD_HOST =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]] ||
        PROBLEMS+=("GPUWATCH_HEAD_HOST must be a host name or address")
}

check_worker() {
    [ -n "${GPUWATCH_HEAD_HOST:-}" ] || PROBLEMS+=("GPUWATCH_HEAD_HOST is missing (the head's private address)")
    if ! is_count "${GPUWATCH_WORKER_INDEX:-}" || ! is_count "${GPUWATCH_WORKERS:-0}" ||
        [ "$((10#$GPUWATCH_WORKER_INDEX))" -lt 1 ] ||
        [ "$((10#$GPUWATCH_WORKER_INDEX))" -gt "$((10#${GPUWATCH_WORKERS:-0}))" ]; then
        PROBLEMS+=("GPUWATCH_WORKER_INDEX must be a number from 1 to GPUWATCH_WORKERS")
    fi
}

check_head() {
    [ -n "${MODEL_NAME:-}" ] || return 0
    [[ ${TOOL_CALL_PARSER:-} =~ ^[A-Za-z0-9_.-]+$ ]] ||
        PROBLEMS+=("TOOL_CALL_PARSER is missing (vLLM's --tool-call-parser for MODEL_NAME, e.g. hermes)")
    [ -z "${MAX_MODEL_LEN:-}" ] || [[ $MAX_MODEL_LEN =~ ^[1-9][0-9]{0,8}$ ]] ||
        PROBLEMS+=("MAX_MODEL_LEN must be a whole number of tokens")
}

check_env() {  # every problem at once, never a secret's value; exit 1 when there is one
    PROBLEMS=()
    check_common
    case ${GPUWATCH_ROLE:-} in
        worker) check_worker ;;
        head) check_head ;;
    esac
    if [ "${#PROBLEMS[@]}" -gt 0 ]; then
        printf 'start.sh: error: %s\n' "${PROBLEMS[@]}" >&2
        printf 'start.sh: the environment a pod needs is in pod_image/README.md\n' >&2
        exit 1
    fi
}

gpu_count() {  # GPUWATCH_GPUS_PER_NODE, else the GPUs nvidia-smi lists, else 0
    local listed=""
    if command -v nvidia-smi >/dev/null 2>&1; then
        listed=$(timeout 30 nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)  # a sick driver can hang it
    fi
    if [ -n "${GPUWATCH_GPUS_PER_NODE:-}" ]; then
        if [ -n "$listed" ] && [ "$listed" != "$GPUWATCH_GPUS_PER_NODE" ]; then
            log "warning: GPUWATCH_GPUS_PER_NODE is $GPUWATCH_GPUS_PER_NODE but nvidia-smi lists $listed GPUs"
        fi
        echo "$GPUWATCH_GPUS_PER_NODE"
    else
        echo "${listed:-0}"
    fi
}

node_list() {  # head,worker-[1-N] in Slurm's hostlist syntax
    case $WORKERS in
        0) echo head ;;
        1) echo head,worker-1 ;;
        *) echo "head,worker-[1-$WORKERS]" ;;
    esac
}

# -- files ---------------------------------------------------------------------------------------

owned_by() {  # owned_by USER PATH...: chown when we run as someone else (root dropping privileges)
    local user=$1
    shift
    [ "$user" = "$ME" ] || chown "$user:" "$@"
}

write_munge_key() {
    mkdir -p "$ETC/munge" "$RUN_DIR/munge" "$STATE_DIR/munge"
    chmod 0700 "$ETC/munge"
    (umask 077 && printf '%s' "$GPUWATCH_MUNGE_KEY" >"$MUNGE_KEY.new")  # printf is a builtin: no argv
    chmod 0400 "$MUNGE_KEY.new"
    mv -f "$MUNGE_KEY.new" "$MUNGE_KEY"
    owned_by "$MUNGE_USER" "$ETC/munge" "$MUNGE_KEY" "$RUN_DIR/munge" "$STATE_DIR/munge"
    unset GPUWATCH_MUNGE_KEY  # no process started from here on sees it
}

write_slurm_conf() {  # head only: workers fetch it from slurmctld (configless)
    local cpus=${GPUWATCH_CPUS_PER_NODE:-$(nproc)} gres="" head_name head_addr
    head_name=$(uname -n)
    head_name=${head_name%%.*}
    head_addr=${GPUWATCH_HEAD_HOST:-${RUNPOD_POD_ID:+$RUNPOD_POD_ID.runpod.internal}}
    head_addr=${head_addr:-$head_name}
    [ "$GPUS" -eq 0 ] || gres=" Gres=gpu:$GPUS"
    mkdir -p "$ETC/slurm" "$STATE_DIR/slurmctld" "$STATE_DIR/slurmd"
    owned_by "$SLURM_USER" "$STATE_DIR/slurmctld"
    cat >"$SLURM_CONF.new" <<EOF
# Written by start.sh from the pod's environment at every start; edits are lost.
ClusterName=$CLUSTER
# slurmctld only runs where SlurmctldHost names "hostname -s"; workers reach it at the address.
SlurmctldHost=$head_name($head_addr)
SlurmctldPort=$SLURMCTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=$SLURM_USER
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
StateSaveLocation=$STATE_DIR/slurmctld
SlurmdSpoolDir=$STATE_DIR/slurmd
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
# Containers: no cgroups or systemd to lean on.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
ReturnToService=2
SlurmdTimeout=120
# Worker pods' addresses are not known when the head starts: workers are cloud nodes (State=CLOUD)
# whose NodeAddr/NodeHostname slurmctld takes from their slurmd's registration (cloud_reg_addrs,
# Slurm 20.11+). They run configless: slurmd --conf-server fetches this file and gres.conf from
# slurmctld (enable_configless). TreeWidth: no fan-out through nodes that cannot resolve each other.
# Dynamic nodes (slurmd -Z, 22.05+) would also work but are not in Ubuntu 22.04's Slurm 21.08.
SlurmctldParameters=enable_configless,cloud_reg_addrs
TreeWidth=65533
PrivateData=cloud
# Pods of one cluster share a GPU type but may differ in CPUs: a node with fewer is not drained.
SlurmdParameters=config_overrides
NodeName=head NodeHostname=$head_name NodeAddr=$head_addr CPUs=$cpus$gres State=UNKNOWN
EOF
    if [ "$WORKERS" -gt 0 ]; then
        printf 'NodeName=%s CPUs=%s%s State=CLOUD\n' "$(node_list | cut -d, -f2)" "$cpus" "$gres" >>"$SLURM_CONF.new"
    fi
    printf 'PartitionName=gpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n' >>"$SLURM_CONF.new"
    chmod 0644 "$SLURM_CONF.new"
    mv -f "$SLURM_CONF.new" "$SLURM_CONF"
    write_gres_conf
}

write_gres_conf() {
    local file="$ETC/slurm/gres.conf" devices=/dev/nvidia0
    [ "$GPUS" -le 1 ] || devices="/dev/nvidia[0-$((GPUS - 1))]"
    {
        echo "# Written by start.sh: GPUWATCH_GPUS_PER_NODE GPUs on every node."
        [ "$GPUS" -eq 0 ] || echo "NodeName=$(node_list) Name=gpu File=$devices"
    } >"$file"
    chmod 0644 "$file"
}

# -- services ------------------------------------------------------------------------------------
# Each launcher runs in the background subshell start_service makes: it drops the secrets its program
# does not need, then execs it, so the recorded PID is the program's own.

without_secrets() {
    unset GPUWATCH_POD_TOKEN HF_TOKEN HUGGING_FACE_HUB_TOKEN
}

launch_munged() {
    without_secrets
    local cmd=(munged --foreground --key-file="$MUNGE_KEY" --socket="$MUNGE_SOCKET"
        --pid-file="$RUN_DIR/munge/munged.pid" --seed-file="$STATE_DIR/munge/munged.seed"
        --log-file="$LOG_DIR/munged.log")
    if [ "$MUNGE_USER" = "$ME" ]; then exec "${cmd[@]}"; fi
    exec runuser -u "$MUNGE_USER" -- "${cmd[@]}"
}

launch_slurmctld() {
    without_secrets
    exec slurmctld -D -i -f "$SLURM_CONF"
}

launch_slurmd() {
    without_secrets
    if [ "$ROLE" = head ]; then exec slurmd -D -N head -f "$SLURM_CONF"; fi
    exec slurmd -D -N "$NODE_NAME" --conf-server "$GPUWATCH_HEAD_HOST:$SLURMCTLD_PORT"
}

launch_gpu_exporter() {
    unset HF_TOKEN HUGGING_FACE_HUB_TOKEN
    exec gpuwatch-pod gpu-exporter --backend "${GPUWATCH_GPU_BACKEND:-nvml}" --port "$GPU_EXPORTER_PORT" \
        --hostname "$NODE_NAME"
}

launch_slurm_exporter() {
    unset HF_TOKEN HUGGING_FACE_HUB_TOKEN
    exec gpuwatch-pod slurm-exporter --port "$SLURM_EXPORTER_PORT"
}

launch_log_server() {
    unset HF_TOKEN HUGGING_FACE_HUB_TOKEN
    local args=() name
    for name in "${LOGS[@]}"; do args+=(--log "$name=$LOG_DIR/$name.log"); done
    exec gpuwatch-pod log-server --port "$LOG_SERVER_PORT" "${args[@]}"
}

launch_vllm() {
    # vLLM reads its API key from VLLM_API_KEY: the token never shows in the process list.
    export VLLM_API_KEY=$GPUWATCH_POD_TOKEN
    unset GPUWATCH_POD_TOKEN
    local args=(serve "$MODEL_NAME" --host 0.0.0.0 --port "$VLLM_PORT"
        --enable-auto-tool-choice --tool-call-parser "$TOOL_CALL_PARSER")
    [ -z "${MAX_MODEL_LEN:-}" ] || args+=(--max-model-len "$MAX_MODEL_LEN")
    [ "$GPUS" -le 1 ] || args+=(--tensor-parallel-size "$GPUS")
    local extra=()
    read -r -a extra <<<"${GPUWATCH_VLLM_ARGS:-}"
    exec vllm "${args[@]}" "${extra[@]}"
}

start_service() {  # start_service NAME KIND LAUNCHER; KIND: core | restart | once
    local name=$1
    KIND_OF[$name]=$2
    LAUNCHER_OF[$name]=$3
    "$3" </dev/null >>"$LOG_DIR/$name.log" 2>&1 &
    PID_OF[$name]=$!
    NAME_OF[$!]=$name
    log "started $name (pid $!, log $LOG_DIR/$name.log)"
}

wait_for_munge() {
    local i
    for ((i = 0; i < 300; i++)); do
        [ -S "$MUNGE_SOCKET" ] && return 0
        kill -0 "${PID_OF[munged]}" 2>/dev/null || break
        sleep 0.1
    done
    log "error: munged did not open $MUNGE_SOCKET (see $LOG_DIR/munged.log)"
    stop_all
    exit 1
}

stop_services() {  # stop_services NAME...: TERM, then KILL after STOP_TIMEOUT_S
    local name pids=() i
    for name in "$@"; do
        [ -z "${PID_OF[$name]:-}" ] || pids+=("${PID_OF[$name]}")
    done
    [ "${#pids[@]}" -gt 0 ] || return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT_S * 10; i++)); do
        kill -0 "${pids[@]}" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
}

stop_all() {
    trap - TERM INT
    # munged last: the Slurm daemons still talk to it while they stop.
    stop_services vllm slurm-exporter gpu-exporter log-server slurmd slurmctld
    stop_services munged
}

on_signal() {
    log "stopping (signal)"
    stop_all
    exit 0
}

on_exit() {  # on_exit NAME STATUS: what the death of a service means for the pod
    local name=$1 status=$2
    unset "PID_OF[$name]"
    case ${KIND_OF[$name]} in
        core)
            log "error: $name exited with status $status; stopping the pod (see $LOG_DIR/$name.log)"
            stop_all
            exit 1
            ;;
        restart)
            RESTARTS_OF[$name]=$((${RESTARTS_OF[$name]:-0} + 1))
            if [ "${RESTARTS_OF[$name]}" -gt "$MAX_RESTARTS" ]; then
                log "error: $name exited with status $status ${RESTARTS_OF[$name]} times; not restarted again"
                return 0
            fi
            log "$name exited with status $status; restarting it in ${RESTART_DELAY_S}s"
            sleep "$RESTART_DELAY_S"
            start_service "$name" restart "${LAUNCHER_OF[$name]}"
            ;;
        *) log "$name exited with status $status; left stopped, its log is still served" ;;
    esac
}

supervise() {
    local pid status
    while [ "${#PID_OF[@]}" -gt 0 ]; do
        pid=""
        if wait -n -p pid; then status=0; else status=$?; fi
        if [ -z "$pid" ] || [ -z "${NAME_OF[$pid]:-}" ]; then continue; fi
        on_exit "${NAME_OF[$pid]}" "$status"
        unset "NAME_OF[$pid]"
    done
}

# -- main ----------------------------------------------------------------------------------------

main() {
    check_env
    mkdir -p "$LOG_DIR" "$RUN_DIR"
    ROLE=$GPUWATCH_ROLE
    CLUSTER=${GPUWATCH_CLUSTER:-gpuwatch}
    CLUSTER=${CLUSTER,,}
    WORKERS=${GPUWATCH_WORKERS:-0}
    WORKERS=$((10#$WORKERS))
    NODE_NAME="head"
    [ "$ROLE" = head ] || NODE_NAME="worker-$((10#$GPUWATCH_WORKER_INDEX))"
    GPUS=$(gpu_count)
    GPUS=$((10#$GPUS))
    log "starting $NODE_NAME of cluster $CLUSTER ($WORKERS workers, $GPUS GPUs per node)"
    write_munge_key
    [ "$ROLE" != head ] || write_slurm_conf
    LOGS=(slurmd gpu-exporter munged start)
    [ "$ROLE" != head ] || LOGS+=(slurmctld slurm-exporter)
    [ "$ROLE" != head ] || [ -z "${MODEL_NAME:-}" ] || LOGS+=(vllm)
    local name
    for name in "${LOGS[@]}"; do touch "$LOG_DIR/$name.log"; done
    owned_by "$MUNGE_USER" "$LOG_DIR/munged.log"  # munged writes it itself
    trap on_signal TERM INT
    start_service log-server restart launch_log_server
    start_service munged core launch_munged
    wait_for_munge
    [ "$ROLE" != head ] || start_service slurmctld core launch_slurmctld
    start_service slurmd core launch_slurmd
    if [ "$GPUS" -gt 0 ]; then
        start_service gpu-exporter restart launch_gpu_exporter
    else
        log "no GPU on this pod: the GPU exporter is not started"
    fi
    [ "$ROLE" != head ] || start_service slurm-exporter restart launch_slurm_exporter
    [ "$ROLE" != head ] || [ -z "${MODEL_NAME:-}" ] || start_service vllm once launch_vllm
    log "pod ready: $NODE_NAME runs ${!PID_OF[*]}"
    supervise
}

main "$@"
