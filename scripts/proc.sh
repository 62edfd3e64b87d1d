# Process helpers shared by scripts/bench.sh and scripts/run.sh (sourced; needs log()).

# pid_alive PID: a live, non-zombie process. PID 1 here does not reap, so kill -0 alone would
# call an exited child alive.
pid_alive() {
	local state
	[[ -n $1 && -r /proc/$1/stat ]] || return 1
	state=$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ $state != Z ]]
}

# stop_pid PID NAME SECONDS: SIGTERM, wait, then SIGKILL. Returns the process's exit status.
stop_pid() {
	local pid=$1 name=$2 secs=$3 i rc=0
	if pid_alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < secs * 5; i++)); do
			pid_alive "$pid" || break
			sleep 0.2
		done
		if pid_alive "$pid"; then
			log "$name (pid $pid) still running $secs s after SIGTERM: killing"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || rc=$?
	return "$rc"
}
